"""Segment series stay bounded: a segment of 1,000 values exports top_k + 1 series per family."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from exporters import DriftCollector, MonitorSnapshot, RunStats, Snapshot
from exporters.text import render_text
from monitor.config import DriftlineConfig
from monitor.domain import Run, RunStatus
from monitor.run import evaluate, fit_reference

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
FAMILIES = ("driftline_segment_drift_share", "driftline_segment_drift_detected")


def frame(values: int, per_value: int, rng: np.random.Generator, *, shift: set[str] = frozenset()) -> pd.DataFrame:
    n = values * per_value
    country = np.repeat([f"v{i:04d}" for i in range(values)], per_value)
    out = pd.DataFrame({"prediction_id": [f"p{i}" for i in range(n)],
                        "timestamp": pd.date_range(T0 - timedelta(hours=1), periods=n, freq="1s", tz="UTC"),
                        "x": rng.normal(0, 1, n), "country": country, "prediction": rng.choice(["a", "b"], n)})
    out.loc[out["country"].isin(shift), "x"] += 3.0
    return out


def samples(text: str) -> dict[str, set[tuple[tuple[str, str], ...]]]:
    out: dict[str, set[tuple[tuple[str, str], ...]]] = {f: set() for f in FAMILIES}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            if s.name in out:
                out[s.name].add(tuple(sorted(s.labels.items())) + (("=", repr(s.value)),))
    return out


def test_a_thousand_segment_values_export_at_most_the_documented_bound() -> None:
    top_k = 5
    m = DriftlineConfig.model_validate({"monitors": [{
        "name": "shop", "model": "m1", "every": "1h", "min_rows": 30,
        "schema": {"numerical": ["x"], "categorical": ["country"], "target": None},
        "segments": ["country"], "segment_min_rows": 20, "segment_top_k": top_k}]}).to_domain().monitors[0]
    rng = np.random.default_rng(0)
    bundle = fit_reference(m, frame(1000, 40, rng))
    drifting = {f"v{i:04d}" for i in range(0, 1000, 125)}  # 8 values drift: more than top_k
    run = evaluate(m, bundle, frame(1000, 30, rng, shift=drifting), Run(
        id="r", monitor="shop", model="m1", status=RunStatus.OK, window_start=None, window_end=T0, rows=0,
        started_at=T0, finished_at=T0))
    assert run.segments is not None and run.segments.counts[0].tested == 1000
    assert run.segments.counts[0].drifted >= len(drifting)
    snap = Snapshot(monitors=(MonitorSnapshot(name="shop", model="m1", schedule_period_seconds=3600.0, latest=run,
                                              verdict=run, stats=RunStats()),))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DriftCollector(snap))
    reference, fast = samples(generate_latest(registry).decode()), samples(render_text(snap).decode())
    assert fast == reference  # the fast renderer and the collector export the same samples
    bound = len(m.segments) * (top_k + 1)
    for family in FAMILIES:
        values = [dict(labels)["value"] for labels in reference[family]]
        assert len(values) == bound, (family, len(values))
        assert "other" in values and len(set(values)) == len(values)
    detected = {dict(labels)["value"]: dict(labels)["="] for labels in reference["driftline_segment_drift_detected"]}
    assert detected["other"] == "1.0"  # more values drifted than the top K: the aggregate says so
    assert sum(v == "1.0" for v in detected.values()) == top_k + 1
    assert {v for v in detected if v != "other"} <= {r.value for r in run.segments.results}


def test_metrics_md_states_the_bound_of_the_segment_series() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "metrics.md").read_text(encoding="utf-8")
    for family in FAMILIES:
        assert re.search(rf"^\| `{family}` \| gauge \| monitor, model, segment, value \|", doc, flags=re.MULTILINE)
    assert "segment_top_k + 1" in doc
