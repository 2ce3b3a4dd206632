"""Estimated performance on /metrics: one family per metric and kind, the band beside it, the twin agrees."""

from __future__ import annotations

import dataclasses

from exporters.text import render_text
from monitor.stats.estimation.types import Estimate, EstimateMetric, EstimateStatus, EstimateWarning, WarningCode
from tests.exporters.test_collector import make_snapshot, render, samples

MM = (("model", "churn-v3"), ("monitor", "churn"))


def _estimate(metric: EstimateMetric, value: float | None, lower: float | None, upper: float | None,
              warnings: tuple[EstimateWarning, ...] = ()) -> Estimate:
    return Estimate(metric=metric, estimated=value, lower=lower, upper=upper, sampling_error=0.01, realized=None,
                    n_rows=100, n_estimated=100, n_labelled=40, coverage=0.4, status=EstimateStatus.PARTIAL,
                    warnings=warnings)


def _with_estimates() -> object:
    snap = make_snapshot()
    run = snap.monitors[0].verdict
    assert run is not None
    drift = EstimateWarning(code=WarningCode.CONCEPT_DRIFT, message="concept drift")
    estimates = (_estimate(EstimateMetric.ACCURACY, 0.74, 0.7, 0.78),
                 _estimate(EstimateMetric.ROC_AUC, 0.66, None, None, (drift,)),
                 _estimate(EstimateMetric.F1, None, None, None))
    run = dataclasses.replace(run, estimates=estimates)
    mon = dataclasses.replace(snap.monitors[0], latest=run, verdict=run)
    return dataclasses.replace(snap, monitors=(mon,))


def test_estimated_and_realized_share_a_family_with_a_kind_label() -> None:
    got = samples(render(_with_estimates()))  # type: ignore[arg-type]
    acc = (("kind", "estimated"), ("metric", "accuracy"), *MM)
    assert got[("driftline_model_performance", (("kind", "realized"), ("metric", "accuracy"), *MM))] == 0.81
    assert got[("driftline_model_performance", acc)] == 0.74
    assert (got[("driftline_model_performance_lower", acc)], got[("driftline_model_performance_upper", acc)]) == (0.7, 0.78)
    auc = (("kind", "estimated"), ("metric", "roc_auc"), *MM)
    assert got[("driftline_model_performance", auc)] == 0.66
    assert ("driftline_model_performance_lower", auc) not in got  # no band: not exported as one
    assert got[("driftline_model_performance_estimate_trusted", (("metric", "accuracy"), *MM))] == 1.0
    assert got[("driftline_model_performance_estimate_trusted", (("metric", "roc_auc"), *MM))] == 0.0
    assert not any(name == "driftline_model_performance" and ("metric", "f1") in labels
                   for name, labels in got)  # undefined estimate: no series


def test_the_text_twin_renders_the_same_estimated_samples() -> None:
    snap = _with_estimates()
    assert samples(render_text(snap).decode()) == samples(render(snap))  # type: ignore[arg-type]
