"""Estimated performance as a monitor asks for it: the method, and the honesty flag a run adds.

The estimates themselves are the core's :class:`~monitor.stats.estimation.types.Estimate` (one
type from the core to the API, as :class:`~monitor.domain.results.FeatureResult` is for columns).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from enum import StrEnum

from monitor.stats.estimation.types import Estimate, EstimateWarning, WarningCode
from monitor.stats.performance import Task

__all__ = ["EstimateMethod", "estimate_method", "with_concept_flag"]


class EstimateMethod(StrEnum):
    """How a monitor estimates performance before the labels arrive (``performance.estimate``)."""

    CBPE = "cbpe"
    DLE = "dle"
    NONE = "none"


def estimate_method(task: Task, prediction_score: str | None, target: str | None,
                    configured: EstimateMethod | None) -> EstimateMethod:
    """The method a monitor uses: the configured one, else CBPE for a classifier that logs a score
    and has a target, else none (DLE is opt-in: it needs scikit-learn and fits two models).

    >>> str(estimate_method(Task.CLASSIFICATION, "score", "label", None))
    'cbpe'
    >>> str(estimate_method(Task.REGRESSION, None, "y", None))
    'none'
    """
    if configured is not None:
        return configured
    if task is Task.CLASSIFICATION and prediction_score and target:
        return EstimateMethod.CBPE
    return EstimateMethod.NONE


def with_concept_flag(estimates: Iterable[Estimate], concept_drift: bool | None) -> tuple[Estimate, ...]:
    """The estimates with the ``concept_drift`` warning on each exactly when the run detected concept
    drift (idempotent: a run's stored estimates always agree with its stored concept verdict)."""
    out = []
    for est in estimates:
        kept = tuple(w for w in est.warnings if w.code is not WarningCode.CONCEPT_DRIFT)
        flagged = (*kept, EstimateWarning(code=WarningCode.CONCEPT_DRIFT, message=_message(est))) if concept_drift \
            else kept
        out.append(est if flagged == est.warnings else replace(est, warnings=flagged))
    return tuple(out)


def _message(est: Estimate) -> str:
    method = "DLE" if est.metric in ("mae", "rmse") else "CBPE"
    return f"concept drift was detected: {method} assumes P(y | x) did not change, so the estimate may be wrong"
