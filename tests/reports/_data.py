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


#: The wide case: 200 columns, as a user with a big model would bring them to ``driftline report``.
WIDE_COLUMNS = 200
WIDE_SHIFTED = tuple(f"num_{i:03d}" for i in range(0, 180, 9))  # 20 numerical columns moved by 0.6 sd
WIDE_EMPTY = ("num_181", "num_182")  # no values in the current file: not tested
LONG_NAMES = tuple(f"{stem}-{i}" for i, stem in enumerate(["enterprise-annual-contract", "Mediumweight-Wholesale",
                                                            "basic", "pro"] * 6))


def wide_frames(*, seed: int = 7) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A reference and a current frame of :data:`WIDE_COLUMNS` columns.

    185 numerical columns (:data:`WIDE_SHIFTED` shifted, :data:`WIDE_EMPTY` empty in the current
    frame), 14 categorical ones (two with categories new to the current frame, one with 24 long
    names) and one constant category, whose chart's y-axis reaches 100%.
    """
    rng = np.random.default_rng(seed)
    n_ref, n_cur = 1500, 800
    ref: dict[str, object] = {}
    cur: dict[str, object] = {}
    for i in range(185):
        name = f"num_{i:03d}"
        ref[name] = rng.normal(0, 1, n_ref)
        values = rng.normal(0.6 if name in WIDE_SHIFTED else 0.0, 1, n_cur)
        cur[name] = np.full(n_cur, np.nan) if name in WIDE_EMPTY else values
    for i in range(14):
        name = f"cat_{i:02d}"
        if i == 13:
            ref[name], cur[name] = rng.choice(LONG_NAMES, n_ref), rng.choice(LONG_NAMES, n_cur)
            continue
        ref[name] = rng.choice(["a", "b", "c", "d"], n_ref, p=[0.4, 0.3, 0.2, 0.1])
        cur[name] = rng.choice(["a", "b", "c", "d", "new"] if i < 2 else ["a", "b", "c", "d"], n_cur,
                               p=[0.3, 0.25, 0.2, 0.1, 0.15] if i < 2 else [0.4, 0.3, 0.2, 0.1])
    ref["constant"], cur["constant"] = ["x"] * n_ref, ["x"] * n_cur
    return pd.DataFrame(ref), pd.DataFrame(cur)
