"""In-service alert rules: evaluated after every run, for users without Alertmanager.

A rule's condition is checked on each of the monitor's recent runs; the rule *fires* when the
condition held in at least ``runs`` of the last ``of`` runs (persistence, against flapping).
An event is produced only when the rule starts firing (it did not fire after the previous run),
so a drift that lasts a day produces one event, not one per run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from monitor.domain import AlertEvent, AlertRule, Condition, Monitor, Role, Run
from monitor.domain.localisation import localise
from monitor.stats.check import Status
from monitor.stats.estimation.types import EstimateStatus

__all__ = ["AlertEvent", "condition_holds", "evaluate_rules", "firing"]


def condition_holds(rule: AlertRule, run: Run) -> bool:
    """Whether the rule's condition holds for one run (runs without a verdict never hold)."""
    if not run.status.has_verdict:
        return False
    if rule.when is Condition.DATASET_DRIFT:
        return run.dataset is not None and run.dataset.dataset_drift
    if rule.when is Condition.FEATURE_DRIFT:
        wanted = set(rule.features)
        return any(f.drifted and f.role is Role.FEATURE and (not wanted or f.column in wanted) for f in run.features)
    if rule.when is Condition.CONCEPT_DRIFT:
        return bool(run.concept_drift)
    if rule.when is Condition.PERFORMANCE_ESTIMATED_BELOW:
        # Before the labels are in: once realized, performance_below/drop and the degradation test judge.
        est = run.estimate.get(rule.metric or "")
        return (est is not None and est.estimated is not None and rule.floor is not None
                and est.status is not EstimateStatus.REALIZED and est.estimated < rule.floor)
    if rule.when is Condition.MULTIVARIATE_DRIFT:
        return any(m.drifted for m in run.multivariate)
    if rule.when is Condition.SEGMENT_DRIFT:
        return run.segments is not None and run.segments.any_drift
    perf = {p.metric: p for p in run.performance}
    record = perf.get(rule.metric or "")
    if record is None or record.value is None:
        return False
    if rule.when is Condition.PERFORMANCE_BELOW:
        return rule.floor is not None and record.value < rule.floor
    return (rule.max_drop is not None and record.reference_value is not None
            and record.reference_value - record.value > rule.max_drop)


def firing(rule: AlertRule, runs_newest_first: Sequence[Run]) -> bool:
    """Whether the rule fires after the newest of these runs (``runs`` of the last ``of``)."""
    recent = runs_newest_first[: rule.of]
    return sum(condition_holds(rule, r) for r in recent) >= rule.runs


def _payload(monitor: Monitor, rule: AlertRule, run: Run, public_url: str) -> dict[str, Any]:
    drifted = sorted((f for f in run.features if f.role is Role.FEATURE and f.status is Status.OK),
                     key=lambda f: (not f.drifted, -(f.statistic or 0.0) if f.p_value is None else (f.p_value or 0.0)))
    return {
        "type": "driftline.alert",
        "monitor": monitor.name,
        "model": monitor.model,
        "rule": rule.name,
        "condition": str(rule.when),
        "run_id": run.id,
        "status": str(run.status),
        "window": {"start": run.window_start.isoformat() if run.window_start else None,
                   "end": run.window_end.isoformat()},
        "dataset_drift_share": run.dataset.drift_share if run.dataset else None,
        "features": [{"feature": f.column, "method": f.method, "statistic": f.statistic, "p_value": f.p_value,
                      "threshold": f.threshold, "drifted": f.drifted} for f in drifted[:10]],
        "performance": [{"metric": p.metric, "value": p.value, "reference_value": p.reference_value,
                         "degraded": p.degraded} for p in run.performance],
        "estimated_performance": [{"metric": str(e.metric), "estimated": e.estimated, "lower": e.lower,
                                   "upper": e.upper, "realized": e.realized, "coverage": e.coverage,
                                   "status": str(e.status), "trusted": not e.warnings} for e in run.estimates],
        "estimate_warnings": run.estimate_warnings,
        # the joint-distribution verdicts, each with the features that drove it (the classifier's importances)
        "multivariate": [{"method": str(m.method), "statistic": m.statistic, "threshold": m.threshold,
                          "p_value": m.p_value, "drifted": m.drifted,
                          "top_features": [f.to_dict() for f in m.top_features]} for m in run.multivariate],
        # What drove the verdict: features by effect size, drifted segments, multivariate top features.
        "localisation": localise(run).to_dict(),
        "segments": _segments(run),
        "report_url": f"{public_url.rstrip('/')}/v1/runs/{run.id}/report",
        "idempotency_key": f"{monitor.name}:{rule.name}:{run.id}",
    }


def _segments(run: Run) -> dict[str, Any] | None:
    """The segment values new in the window or gone from it, and the counts per segment (None: no segments)."""
    s = run.segments
    if s is None:
        return None
    return {"new": [{"segment": a, "value": b} for a, b in s.new], "gone": [{"segment": a, "value": b} for a, b in s.gone],
            "counts": [c.to_dict() for c in s.counts], "tests": s.tests, "note": s.note}


def evaluate_rules(monitor: Monitor, run: Run, previous_newest_first: Sequence[Run],
                   public_url: str) -> list[AlertEvent]:
    """Events for the rules that start firing with ``run`` (given the runs before it)."""
    events = []
    for rule in monitor.alerts:
        now = firing(rule, [run, *previous_newest_first])
        before = bool(previous_newest_first) and firing(rule, previous_newest_first)
        if now and not before:
            payload = _payload(monitor, rule, run, public_url)
            events.append(AlertEvent(monitor=monitor.name, rule=rule.name, run_id=run.id,
                                     idempotency_key=payload["idempotency_key"], webhooks=rule.webhooks,
                                     payload=payload))
    return events
