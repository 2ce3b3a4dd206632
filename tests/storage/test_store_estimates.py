"""Contract tests of a run's estimated performance (CBPE, DLE): stored, listed, replaced by late labels."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from monitor.domain import PerformanceRecord
from monitor.stats.estimation.types import Estimate, EstimateMetric, EstimateStatus, EstimateWarning, WarningCode
from monitor.storage import Store
from tests.storage.builders import T0, make_run

CALIBRATION = EstimateWarning(code=WarningCode.CALIBRATION_NOT_APPLIED, message="raw scores are used")
OUTSIDE = EstimateWarning(code=WarningCode.REALIZED_OUTSIDE_BAND, metric=EstimateMetric.ACCURACY,
                          message="accuracy: realized outside the band")


def _estimate(metric: EstimateMetric, estimated: float | None, *, realized: float | None = None, labelled: int = 0,
              warnings: tuple[EstimateWarning, ...] = ()) -> Estimate:
    n = 1200
    coverage = labelled / n
    status = (EstimateStatus.REALIZED if coverage >= 0.95 else EstimateStatus.PARTIAL if labelled
              else EstimateStatus.ESTIMATED)
    return Estimate(metric=metric, estimated=estimated, lower=None if estimated is None else estimated - 0.03,
                    upper=None if estimated is None else estimated + 0.03, sampling_error=0.01, realized=realized,
                    n_rows=n, n_estimated=n - 2, n_labelled=labelled, coverage=coverage, status=status,
                    reason=None if estimated is not None else "no probabilities", warnings=warnings)


ESTIMATES = (_estimate(EstimateMetric.ACCURACY, 0.81, warnings=(CALIBRATION,)),
             _estimate(EstimateMetric.ROC_AUC, None, warnings=(CALIBRATION,)))


def test_estimates_round_trip_with_their_warnings_in_order(store: Store) -> None:
    run = dataclasses.replace(make_run(), concept_drift=False, estimates=ESTIMATES)
    store.save_run(run)
    assert store.get_run(run.id) == run
    assert store.list_runs("churn") == [run]
    assert store.list_runs("churn", results=False)[0].estimates == ()
    assert store.latest_runs()["churn"].estimates == ESTIMATES
    assert store.latest_verdicts()["churn"].estimates == ESTIMATES


def test_a_run_with_concept_drift_stores_its_estimates_flagged(store: Store) -> None:
    run = dataclasses.replace(make_run(), concept_drift=True, estimates=ESTIMATES)
    store.save_run(run)
    stored = store.get_run(run.id)
    assert stored is not None
    assert [[w.code for w in e.warnings] for e in stored.estimates] == [
        [WarningCode.CALIBRATION_NOT_APPLIED, WarningCode.CONCEPT_DRIFT]] * 2
    assert [w["code"] for w in stored.estimate_warnings] == ["calibration_not_applied", "concept_drift"]


def test_late_labels_replace_the_estimates_and_none_keeps_them(store: Store) -> None:
    run = dataclasses.replace(make_run(), concept_drift=None, estimates=ESTIMATES)
    store.save_run(run)
    records = [PerformanceRecord(metric="accuracy", value=0.7)]
    store.update_performance(run.id, records, labelled_rows=600, label_coverage=0.5, concept_drift=None)
    kept = store.get_run(run.id)
    assert kept is not None and kept.estimates == ESTIMATES
    later = (_estimate(EstimateMetric.ACCURACY, 0.81, realized=0.7, labelled=1190, warnings=(CALIBRATION, OUTSIDE)),)
    store.update_performance(run.id, records, labelled_rows=1190, label_coverage=1190 / 1200, concept_drift=True,
                             estimates=later)
    updated = store.get_run(run.id)
    assert updated is not None
    (est,) = updated.estimates
    assert (est.realized, est.n_labelled, est.status) == (0.7, 1190, EstimateStatus.REALIZED)
    assert [w.code for w in est.warnings] == [WarningCode.CALIBRATION_NOT_APPLIED, WarningCode.REALIZED_OUTSIDE_BAND,
                                              WarningCode.CONCEPT_DRIFT]
    assert est.warnings[1].metric is EstimateMetric.ACCURACY


def test_deleting_old_runs_takes_their_estimates(store: Store) -> None:
    old = dataclasses.replace(make_run(window_end=T0), estimates=ESTIMATES)
    new = dataclasses.replace(make_run(window_end=T0 + timedelta(days=2)), estimates=ESTIMATES)
    store.save_run(old)
    store.save_run(new)
    assert store.delete_runs_before("churn", T0 + timedelta(days=1)) == 1
    assert store.get_run(old.id) is None
    assert store.get_run(new.id) == new
