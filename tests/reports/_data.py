"""Data for the report tests: a monitor with a hostile column name, and a real evaluated run.

The run comes from ``monitor.run.evaluate`` (features, prediction and target drift, performance),
so the page is tested against what the service stores, not against hand-made results.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html.parser import HTMLParser

import numpy as np
import pandas as pd

from monitor.config import DriftlineConfig
from monitor.domain import Monitor, Run, RunStatus
from monitor.run import ReferenceBundle, conform, evaluate, fit_reference

EVIL = "<script>alert(1)</script>"
EVIL_CATEGORY = '<img src=x onerror="alert(2)">'
T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def make_config() -> DriftlineConfig:
    return DriftlineConfig.model_validate({"monitors": [{
        "name": "churn", "model": "churn-v3", "every": "15m", "window": {"last": "1h"}, "min_rows": 50,
        "schema": {"numerical": ["age", "income", EVIL], "categorical": ["plan"], "task": "classification",
                   "prediction": "prediction", "target": "label"},
        "performance": {"min_labels": 20, "bucket": "10m"},
    }]})


def make_frame(n: int, *, start: datetime, shift: float = 0.0, seed: int = 0, new_plans: bool = False,
               labels: bool = True) -> pd.DataFrame:
    """Prediction rows; ``shift`` moves ``age``, ``new_plans`` adds categories unseen in a reference."""
    rng = np.random.default_rng(seed)
    plans = ["basic", "pro", "team"] + (["enterprise", EVIL_CATEGORY] if new_plans else [])
    prediction = rng.choice(["stay", "churn"], n)
    age = rng.normal(40 + shift, 8, n)
    age[rng.random(n) < 0.05] = np.nan
    out = pd.DataFrame({
        "prediction_id": [f"p{seed}-{i}" for i in range(n)],
        "timestamp": pd.date_range(start, periods=n, freq="5s", tz="UTC"),
        "age": age,
        "income": rng.lognormal(8, 0.5, n),
        EVIL: rng.normal(0, 1, n),
        "plan": rng.choice(plans, n),
        "prediction": prediction,
    })
    out["label"] = np.where(rng.random(n) < 0.8, prediction, "churn") if labels else None
    return out


@dataclass(frozen=True, slots=True)
class Evaluated:
    monitor: Monitor
    bundle: ReferenceBundle
    current: pd.DataFrame
    run: Run


def evaluated(*, shift: float = 12.0, new_plans: bool = True) -> Evaluated:
    """A reference and a drifted window of monitor ``churn``, evaluated as the service does."""
    monitor = make_config().monitor("churn").to_domain()
    bundle = fit_reference(monitor, make_frame(1000, start=T0 - timedelta(days=2), seed=1))
    current = make_frame(600, start=T0 - timedelta(hours=1), shift=shift, seed=2, new_plans=new_plans)
    start = Run(id="run-1", monitor=monitor.name, model=monitor.model, status=RunStatus.OK,
                window_start=T0 - timedelta(hours=1), window_end=T0, rows=0, started_at=T0, finished_at=T0,
                reference_version=3)
    run = evaluate(monitor, bundle, current, start)
    return Evaluated(monitor=monitor, bundle=bundle, current=conform(monitor, current), run=run)


class Elements(HTMLParser):
    """Every start tag of a page with its attributes, and the text of ``<script>`` if any."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.feed(page)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))

    def with_class(self, name: str, tag: str | None = None) -> list[dict[str, str]]:
        """Attributes of the elements carrying class ``name`` (and of ``tag``, if given)."""
        return [a for t, a in self.tags if name in a.get("class", "").split() and (tag is None or t == tag)]

    def by_id(self, ident: str) -> dict[str, str]:
        (found,) = [a for _, a in self.tags if a.get("id") == ident]
        return found
