"""The collector renders the stored latest results; per-feature series are capped; promtool agrees."""

from __future__ import annotations

import os
import shutil
import subprocess
from datetime import UTC, datetime, timedelta

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from exporters import (
    DURATION_BUCKETS,
    DriftCollector,
    MonitorSnapshot,
    RunStats,
    Snapshot,
)
from monitor.domain import (
    DatasetSummary,
    FeatureResult,
    PerformanceRecord,
    Role,
    Run,
    RunStatus,
)
from monitor.stats.check import Status
from monitor.stats.types import ColumnType, DriftMethod

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def feature(name: str, *, drifted: bool, role: Role = Role.FEATURE, stat: float = 0.2) -> FeatureResult:
    return FeatureResult(
        column=name, role=role, type=ColumnType.NUMERICAL, method=DriftMethod.WASSERSTEIN, reason="auto", statistic=stat,
        p_value=None, adjusted_p_value=None, threshold=0.1, drifted=drifted, status=Status.OK, n_reference=1000,
        n_current=90, missing_reference=0, missing_current=10, missing_p_value=0.5, missing_drifted=False,
    )


def make_snapshot(n_features: int = 5, max_features: int = 50) -> Snapshot:
    feats = tuple(feature(f"f{i:03d}", drifted=i % 2 == 0) for i in range(n_features))
    run = Run(
        id="r1", monitor="churn", model="churn-v3", status=RunStatus.DRIFT, window_start=T0 - timedelta(hours=1),
        window_end=T0, rows=100, started_at=T0, finished_at=T0 + timedelta(seconds=2), reference_version=3,
        dataset=DatasetSummary(drift_share=0.6, drifted_features=3, total_features=5, dataset_drift=True,
                               threshold=0.5),
        features=(*feats, feature("prediction", drifted=True, role=Role.PREDICTION, stat=0.4)),
        performance=(PerformanceRecord(metric="accuracy", value=0.81, reference_value=0.9, p_value=0.01,
                                       degraded=True),),
        labelled_rows=40, label_coverage=0.4, concept_drift=False,
    )
    stats = RunStats(by_status={"ok": 7, "drift": 2, "error": 1}, last_by_status={"drift": T0},
                     last_successful=T0, duration_buckets=tuple(min(10, i + 5) for i in range(len(DURATION_BUCKETS))),
                     duration_count=10, duration_sum=4.2)
    mon = MonitorSnapshot(name="churn", model="churn-v3", schedule_period_seconds=900.0, latest=run, verdict=run,
                          stats=stats, reference_version=3, reference_hash="abc123")
    return Snapshot(monitors=(mon,), ingested={"churn-v3": 12345}, deliveries={("retrain", "delivered"): 2},
                    dead_letters={"retrain": 0}, retrain_triggers={("churn", "churn-v3", "triggered"): 1},
                    max_features=max_features, version="0.1.0")


def render(snapshot: Snapshot) -> str:
    registry = CollectorRegistry()
    registry.register(DriftCollector(snapshot))
    return generate_latest(registry).decode()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def test_values_come_from_the_latest_run() -> None:
    got = samples(render(make_snapshot()))
    mm = (("model", "churn-v3"), ("monitor", "churn"))
    assert got[("driftline_dataset_drift_share", mm)] == 0.6
    assert got[("driftline_dataset_drift_detected", mm)] == 1.0
    f0 = tuple(sorted({"monitor": "churn", "model": "churn-v3", "feature": "f000", "method": "wasserstein"}.items()))
    assert got[("driftline_feature_drift_score", f0)] == 0.2
    assert got[("driftline_feature_drift_threshold", f0)] == 0.1
    assert got[("driftline_feature_missing_ratio", tuple(sorted({"monitor": "churn", "model": "churn-v3",
                                                                 "feature": "f000"}.items())))] == 0.1
    assert got[("driftline_prediction_drift_score", (("method", "wasserstein"), *mm))] == 0.4
    assert got[("driftline_model_performance", (("kind", "realized"), ("metric", "accuracy"), *mm))] == 0.81
    assert got[("driftline_runs_total", (*mm, ("status", "error")))] == 1.0
    assert got[("driftline_run_duration_seconds_count", mm)] == 10.0
    assert got[("driftline_predictions_ingested_total", (("model", "churn-v3"),))] == 12345.0
    assert got[("driftline_reference_info", (("content_hash", "abc123"), *mm, ("version", "3")))] == 1.0


def test_per_feature_series_are_capped_drifted_first() -> None:
    text = render(make_snapshot(n_features=200, max_features=20))
    features = {s.labels["feature"] for fam in text_string_to_metric_families(text)
                if fam.name == "driftline_feature_drift_detected" for s in fam.samples}
    assert len(features) == 20
    assert all(int(f[1:]) % 2 == 0 for f in features), "drifted features must come first"


def test_promtool_accepts_a_real_scrape() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is missing in CI; scripts/install-monitoring.sh installs it")
        pytest.skip("promtool is not installed (scripts/install-monitoring.sh installs it)")
    proc = subprocess.run([promtool, "check", "metrics"], input=render(make_snapshot()), capture_output=True,
                          text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_fast_text_renderer_gives_exactly_the_collectors_samples() -> None:
    from exporters.text import render_text

    for snap in (make_snapshot(), make_snapshot(n_features=120, max_features=30)):
        assert samples(render_text(snap).decode()) == samples(render(snap))
    weird = make_snapshot()
    mon = weird.monitors[0]
    run = mon.latest
    assert run is not None
    odd = feature('we"ird\\name\nx', drifted=True)
    from dataclasses import replace

    odd_run = replace(run, features=(odd,))
    weird = replace(weird, monitors=(replace(mon, latest=odd_run, verdict=odd_run),))
    assert samples(render_text(weird).decode()) == samples(render(weird))


def test_the_formatter_writes_generate_latests_text_byte_for_byte() -> None:
    """exposition() skips generate_latest's name checks; its text must not differ by a byte."""
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, InfoMetricFamily

    from exporters.text import _WithoutFeatures, exposition

    snap = make_snapshot()
    families = list(_WithoutFeatures(snap).collect())
    odd = GaugeMetricFamily("driftline_odd", 'help with \\ and\na "quote"', labels=["b", "a"])
    odd.add_metric(['v"1\\x\ny', "z"], 1e300)
    odd.add_metric(["1", "2"], float("nan"), timestamp=1764547200.5)
    hist = HistogramMetricFamily("driftline_h", "h", labels=["m"])
    hist.add_metric(["x"], buckets=[("0.5", 1.0), ("+Inf", 3.0)], sum_value=2.5)
    created = CounterMetricFamily("driftline_c", "c", labels=["m"], created=1764547200.0)
    created.add_metric(["x"], 5.0, created=1764547200.0)
    info = InfoMetricFamily("driftline_i", "i")
    info.add_metric([], {"version": "1"})
    families += [odd, hist, created, info]

    class Fixed:
        def collect(self):  # type: ignore[no-untyped-def]
            return iter(families)

    registry = CollectorRegistry(auto_describe=False)
    registry.register(Fixed())  # type: ignore[arg-type]
    assert exposition(families) == generate_latest(registry).decode()


def test_cached_feature_lines_follow_the_run_they_were_rendered_from() -> None:
    """A second scrape of the same run reuses its lines; a new run (even under the old id) is rendered afresh."""
    from dataclasses import replace

    from exporters.text import render_text

    snap = make_snapshot()
    first = render_text(snap)
    assert render_text(snap) == first
    mon = snap.monitors[0]
    run = mon.verdict
    assert run is not None
    moved = replace(run, features=tuple(replace(f, statistic=0.75) for f in run.features))
    snap2 = replace(snap, monitors=(replace(mon, latest=moved, verdict=moved),))
    again = samples(render_text(snap2).decode())
    assert again == samples(render(snap2))
    assert again[("driftline_feature_drift_score", (("feature", "f000"), ("method", "wasserstein"), ("model", "churn-v3"),
                                                     ("monitor", "churn")))] == 0.75
    assert samples(render_text(replace(snap, max_features=2)).decode()) == samples(render(replace(snap, max_features=2)))


def test_series_with_known_labels_exist_at_zero_before_the_first_event() -> None:
    from dataclasses import replace

    from exporters import DELIVERY_OUTCOMES
    from exporters.text import render_text
    from monitor.domain import Outcome

    snap = replace(make_snapshot(), targets=("retrain", "slack"), deliveries={("retrain", "delivered"): 2},
                   dead_letters={}, retrain_triggers={("churn", "churn-v3", "triggered"): 1})
    for got in (samples(render(snap)), samples(render_text(snap).decode())):
        deliveries = {(dict(labels)["target"], dict(labels)["outcome"]): v for (name, labels), v in got.items()
                      if name == "driftline_webhook_deliveries_total"}
        assert deliveries == {("retrain", "delivered"): 2.0, ("retrain", "failed"): 0.0, ("retrain", "dead_letter"): 0.0,
                              ("slack", "delivered"): 0.0, ("slack", "failed"): 0.0, ("slack", "dead_letter"): 0.0}
        assert {o for _, o in deliveries} == set(DELIVERY_OUTCOMES)
        dead = {dict(labels)["target"]: v for (name, labels), v in got.items() if name == "driftline_webhook_dead_letters"}
        assert dead == {"retrain": 0.0, "slack": 0.0}
        retrain = {dict(labels)["outcome"]: v for (name, labels), v in got.items()
                   if name == "driftline_retrain_triggers_total" and dict(labels)["monitor"] == "churn"}
        assert retrain == {o.value: (1.0 if o is Outcome.TRIGGERED else 0.0) for o in Outcome}


def test_a_target_gone_from_the_configuration_keeps_its_stored_counts() -> None:
    from dataclasses import replace

    snap = replace(make_snapshot(), targets=(), deliveries={("old", "failed"): 3}, dead_letters={"old": 1})
    got = samples(render(snap))
    assert got[("driftline_webhook_deliveries_total", (("outcome", "failed"), ("target", "old")))] == 3.0
    assert got[("driftline_webhook_dead_letters", (("target", "old"),))] == 1.0


def test_the_public_url_is_exported_once_without_a_trailing_slash() -> None:
    from dataclasses import replace

    got = samples(render(replace(make_snapshot(), public_url="https://driftline.example.org/")))
    assert [(labels, v) for (name, labels), v in got.items() if name == "driftline_public_url_info"] == [
        ((("url", "https://driftline.example.org"),), 1.0)]
    assert not [k for k in samples(render(make_snapshot())) if k[0] == "driftline_public_url_info"]


def test_every_exported_family_is_in_the_metrics_reference() -> None:
    import re
    from dataclasses import replace
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "metrics.md").read_text(encoding="utf-8")
    documented = set(re.findall(r"^\| `(driftline_\w+)` \|", doc, flags=re.MULTILINE))
    snap = replace(make_snapshot(), targets=("retrain",), public_url="https://driftline.example.org")
    exported = {fam.name + ("_total" if fam.type == "counter" else "")
                for fam in text_string_to_metric_families(render(snap))}
    assert exported - documented == set()
