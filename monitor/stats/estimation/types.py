"""Closed sets and frozen results of estimated performance (CBPE, DLE).

An :class:`Estimate` is one metric of one window: the estimate from the model's outputs alone,
its band, and the realized value over whatever labels the window already has. As labels are
joined the status moves ``estimated`` -> ``partial`` -> ``realized`` (:func:`status_of`).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "BAND_SES",
    "CLASSIFICATION_METRICS",
    "REALIZED_COVERAGE",
    "REGRESSION_METRICS",
    "Estimate",
    "EstimateMetric",
    "EstimateStatus",
    "EstimateWarning",
    "WarningCode",
    "status_of",
    "warnings_of",
]

#: The band is the estimate plus or minus this many sampling errors (NannyML's ``SAMPLING_ERROR_RANGE``).
BAND_SES = 3.0
#: Label coverage from which a window's performance counts as realized (:func:`status_of`).
REALIZED_COVERAGE = 0.95


class EstimateMetric(StrEnum):
    """The metrics CBPE and DLE estimate; names shared with :class:`monitor.stats.types.Metric`
    where both have the metric (``specificity`` is estimated only)."""

    ACCURACY = "accuracy"
    PRECISION = "precision"
    RECALL = "recall"
    F1 = "f1"
    SPECIFICITY = "specificity"
    ROC_AUC = "roc_auc"
    MAE = "mae"
    RMSE = "rmse"


#: The classification metrics, in the order they are reported.
CLASSIFICATION_METRICS: tuple[EstimateMetric, ...] = (
    EstimateMetric.ACCURACY, EstimateMetric.PRECISION, EstimateMetric.RECALL, EstimateMetric.F1,
    EstimateMetric.SPECIFICITY, EstimateMetric.ROC_AUC,
)
#: The regression metrics, in the order they are reported.
REGRESSION_METRICS: tuple[EstimateMetric, ...] = (EstimateMetric.MAE, EstimateMetric.RMSE)


class EstimateStatus(StrEnum):
    """How much of a window's performance is known from labels."""

    #: No label yet: only the estimate.
    ESTIMATED = "estimated"
    #: Some labels: the realized value covers part of the window.
    PARTIAL = "partial"
    #: Label coverage at or above the threshold (default :data:`REALIZED_COVERAGE`).
    REALIZED = "realized"


def status_of(coverage: float, *, threshold: float = REALIZED_COVERAGE) -> EstimateStatus:
    """The status of a window whose labelled share is ``coverage``.

    Examples
    --------
    >>> [str(status_of(c)) for c in (0.0, 0.5, 0.95, 1.0)]
    ['estimated', 'partial', 'realized', 'realized']
    """
    if not 0.0 <= coverage <= 1.0:
        raise ValueError(f"coverage ({coverage}) must be in [0, 1]")
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold ({threshold}) must be in (0, 1]")
    if coverage >= threshold:
        return EstimateStatus.REALIZED
    return EstimateStatus.PARTIAL if coverage > 0.0 else EstimateStatus.ESTIMATED


class WarningCode(StrEnum):
    """Why an estimate may not be trustworthy (docs/statistics.md, "Estimated performance")."""

    #: Calibration did not lower the reference's expected calibration error: raw scores are used.
    CALIBRATION_NOT_APPLIED = "calibration_not_applied"
    #: Rows without probabilities (or none at all): they are left out of the estimate.
    PROBABILITIES_MISSING = "probabilities_missing"
    #: A predicted (or true) class the reference never had.
    UNSEEN_CLASS = "unseen_class"
    #: A categorical feature value the reference never had (DLE).
    UNSEEN_CATEGORY = "unseen_category"
    #: The caller detected concept drift: CBPE and DLE assume P(y | x) did not change.
    CONCEPT_DRIFT = "concept_drift"
    #: The labelled rows' realized value lies outside the estimate's band on the same rows.
    REALIZED_OUTSIDE_BAND = "realized_outside_band"
    #: The reference had too few chunks to measure the sampling error: no band.
    NO_BAND = "no_band"


@dataclass(frozen=True, slots=True, kw_only=True)
class EstimateWarning:
    """One honesty check that fired; ``metric`` is ``None`` when it concerns every metric."""

    code: WarningCode
    message: str
    metric: EstimateMetric | None = None

    def to_dict(self) -> dict[str, str | None]:
        return {"code": str(self.code), "metric": None if self.metric is None else str(self.metric),
                "message": self.message}


@dataclass(frozen=True, slots=True, kw_only=True)
class Estimate:
    """One metric of one window, estimated and (over its labelled rows) realized.

    ``estimated`` is computed from every row with a prediction and probabilities (``n_estimated``
    of ``n_rows``); ``lower``/``upper`` are ``estimated`` plus or minus :data:`BAND_SES` times
    ``sampling_error``, clipped to the metric's range ([0, 1] for classification, [0, inf) for
    errors). ``realized`` is the metric over the ``n_labelled`` labelled rows (``None`` without
    labels); ``coverage`` is ``n_labelled / n_rows`` and ``status`` its :func:`status_of`.
    ``reason`` says why ``estimated`` is ``None``; ``warnings`` lists the honesty checks that fired
    for this metric (the window-wide ones are repeated on every metric).
    """

    metric: EstimateMetric
    estimated: float | None
    lower: float | None
    upper: float | None
    sampling_error: float | None
    realized: float | None
    n_rows: int
    n_estimated: int
    n_labelled: int
    coverage: float
    status: EstimateStatus
    reason: str | None = None
    warnings: tuple[EstimateWarning, ...] = ()

    def to_dict(self) -> dict[str, object]:
        return {"metric": str(self.metric), "estimated": self.estimated, "lower": self.lower, "upper": self.upper,
                "sampling_error": self.sampling_error, "realized": self.realized, "n_rows": self.n_rows,
                "n_estimated": self.n_estimated, "n_labelled": self.n_labelled, "coverage": self.coverage,
                "status": str(self.status), "reason": self.reason}


def warnings_of(estimates: list[Estimate]) -> list[EstimateWarning]:
    """The distinct warnings of a window's estimates, in first-seen order."""
    seen: dict[EstimateWarning, None] = {}
    for est in estimates:
        for w in est.warnings:
            seen.setdefault(w, None)
    return list(seen)
