"""Late labels: recompute the performance of recent runs once their windows' labels arrive."""

from __future__ import annotations

from monitor.domain import Clock, Monitor, PredictionSource, RunStore
from monitor.run.estimation import estimate_window
from monitor.run.evaluate import conform, evaluate_performance
from monitor.run.registry import ReferenceRegistry

__all__ = ["recompute_performance"]


def recompute_performance(monitor: Monitor, *, store: RunStore, source: PredictionSource,
                          references: ReferenceRegistry, clock: Clock) -> int:
    """Re-evaluate performance of the monitor's runs within its label lookback; how many were updated.

    Drift results never change once written, nor does concept drift (the monitor's detector reports
    each change point once, when its run consumes the rows); only performance and label coverage
    are recomputed, against the reference version (or dynamic reference ranges) each run used.
    """
    since = clock.now() - monitor.performance.label_lookback
    updated = 0
    for run in store.list_runs(monitor.name, start=since):
        if not run.status.has_verdict:
            continue
        bundle = references.of_run(monitor, run.reference_version, run.reference_ranges, source)
        if bundle is None:
            continue
        frame = source.read(monitor, monitor.window_of(run))
        outcome = evaluate_performance(monitor, bundle, frame)
        # The estimate again over the whole window: realized, coverage and status move with the labels.
        estimates = estimate_window(monitor, bundle, conform(monitor, frame), concept_drift=run.concept_drift)
        store.update_performance(run.id, outcome.records, outcome.labelled_rows, outcome.label_coverage,
                                 run.concept_drift,  # the stored detector reported it once; kept
                                 estimates=estimates)
        updated += 1
    return updated
