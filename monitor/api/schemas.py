"""HTTP response bodies: pydantic models built explicitly from domain objects (never ORM rows)."""

from __future__ import annotations

import enum
import typing
from datetime import datetime
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, create_model

from monitor.config import MonitorConfig
from monitor.domain import (
    DatasetSummary,
    FeatureResult,
    IngestResult,
    LabelResult,
    PerformanceRecord,
    ReferenceRecord,
    Run,
    RunStatus,
)
from monitor.stats.estimation.types import Estimate

__all__ = [
    "DatasetOut",
    "ErrorItem",
    "EstimateOut",
    "EstimateWarningOut",
    "ErrorMessage",
    "ReferenceRangeOut",
    "FeatureOut",
    "Health",
    "IngestResponse",
    "LabelResponse",
    "MonitorOut",
    "PerformanceOut",
    "Readiness",
    "ReferenceCreated",
    "ReferenceOut",
    "RunCreated",
    "RunDetail",
    "RunSummary",
    "ScheduleOut",
    "ValidationErrorBody",
    "WindowOut",
]


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


# --- errors -----------------------------------------------------------------------------------


class ErrorItem(_Out):
    """One problem: the 0-based row of the batch (null when not about a row) and the field."""

    row: int | None
    field: str | None
    message: str


class ValidationErrorBody(_Out):
    """A 422: every problem found (the first 100), and the first one as a single line."""

    detail: list[ErrorItem]
    message: str


class ErrorMessage(_Out):
    """Any other error: what is wrong, in one line."""

    detail: str


# --- health -----------------------------------------------------------------------------------


class Health(_Out):
    status: Literal["ok"] = "ok"


CheckResult = Literal["ok", "failed", "timeout", "stopped", "disabled"]


class Readiness(_Out):
    """``ready`` when every check is ``ok`` (or ``disabled``)."""

    status: Literal["ready", "unavailable"]
    checks: dict[str, CheckResult]


# --- ingest -----------------------------------------------------------------------------------


class IngestResponse(_Out):
    """Rows written, and rows skipped because their prediction id was already logged."""

    accepted: int
    duplicates: int

    @classmethod
    def from_domain(cls, result: IngestResult) -> IngestResponse:
        return cls(accepted=result.accepted, duplicates=result.duplicates)


class LabelResponse(_Out):
    """Predictions that got their label, and ids that matched no logged prediction."""

    updated: int
    unknown_ids: list[str]

    @classmethod
    def from_domain(cls, result: LabelResult) -> LabelResponse:
        return cls(updated=result.updated, unknown_ids=list(result.unknown_ids))


# --- runs -------------------------------------------------------------------------------------


class DatasetOut(_Out):
    drift_share: float
    drifted_features: int
    total_features: int
    dataset_drift: bool
    threshold: float

    @classmethod
    def from_domain(cls, d: DatasetSummary) -> DatasetOut:
        return cls(drift_share=d.drift_share, drifted_features=d.drifted_features, total_features=d.total_features,
                   dataset_drift=d.dataset_drift, threshold=d.threshold)


def _json_type(hint: Any) -> Any:
    """The JSON type of a result field: closed sets travel as their string values, tuples as lists."""
    args = [a for a in typing.get_args(hint) if a is not type(None)]
    optional = len(args) < len(typing.get_args(hint))
    inner = args[0] if optional and len(args) == 1 else hint
    if isinstance(inner, type) and issubclass(inner, enum.StrEnum):
        inner = str
    elif typing.get_origin(inner) is tuple:
        inner = list[typing.get_args(inner)[0]]  # type: ignore[misc]
    return inner | None if optional else inner


class _FeatureBase(_Out):
    @classmethod
    def from_domain(cls, f: FeatureResult) -> Self:
        return cls.model_validate(f.to_dict())


#: One tested column (a feature, the prediction or the target) of a run: the fields of the domain's
#: :class:`FeatureResult`, generated from it so the API cannot drift from what is stored.
FeatureOut = create_model(
    "FeatureOut", __base__=_FeatureBase, __doc__="One tested column (a feature, the prediction or the target) of a run.",
    **typing.cast(dict[str, Any], {name: (_json_type(hint), ...)
                                   for name, hint in typing.get_type_hints(FeatureResult).items()}),
)


class PerformanceOut(_Out):
    metric: str
    value: float | None
    reference_value: float | None
    p_value: float | None
    degraded: bool
    #: Bounds of ``value - reference_value`` (the degradation test's interval), on the tested metric.
    lower: float | None = None
    upper: float | None = None

    @classmethod
    def from_domain(cls, p: PerformanceRecord) -> PerformanceOut:
        return cls(metric=p.metric, value=p.value, reference_value=p.reference_value, p_value=p.p_value,
                   degraded=p.degraded, lower=p.lower, upper=p.upper)


class EstimateWarningOut(_Out):
    """An honesty check that fired: the estimate may not be trusted (``metric`` null: every metric)."""

    code: Literal["calibration_not_applied", "probabilities_missing", "unseen_class", "unseen_category",
                  "concept_drift", "realized_outside_band", "no_band"]
    metric: str | None
    message: str


class EstimateOut(_Out):
    """One metric estimated on the whole window (CBPE or DLE), and realized over its labelled rows.

    ``lower``/``upper`` bound the estimate (``estimated ± 3 SE``); ``status`` is ``estimated`` (no label
    yet), ``partial`` or ``realized`` (coverage at least 0.95); late labels update ``realized``,
    ``n_labelled``, ``coverage`` and ``status``.
    """

    metric: str
    estimated: float | None
    lower: float | None
    upper: float | None
    sampling_error: float | None
    realized: float | None
    n_rows: int
    n_estimated: int
    n_labelled: int
    coverage: float
    status: Literal["estimated", "partial", "realized"]
    reason: str | None
    trusted: bool = Field(description="false when an honesty check fired (see warnings)")
    warnings: list[EstimateWarningOut]

    @classmethod
    def from_domain(cls, e: Estimate) -> EstimateOut:
        return cls.model_validate({**e.to_dict(), "trusted": not e.warnings,
                                   "warnings": [w.to_dict() for w in e.warnings]})


class ReferenceRangeOut(_Out):
    """A time range ``[start, end)`` a dynamic reference (previous_window, rolling, same_period) was read from."""

    start: datetime
    end: datetime


class RunSummary(_Out):
    """A run without its per-column results."""

    id: str
    monitor: str
    model: str
    status: RunStatus
    window_start: datetime | None
    window_end: datetime
    rows: int
    started_at: datetime
    finished_at: datetime
    duration_seconds: float
    reference_version: int | None
    reference_ranges: list[ReferenceRangeOut]
    error: str | None
    dataset: DatasetOut | None
    labelled_rows: int
    label_coverage: float | None
    concept_drift: bool | None

    @classmethod
    def _fields(cls, run: Run) -> dict[str, object]:
        return dict(
            id=run.id, monitor=run.monitor, model=run.model, status=run.status, window_start=run.window_start,
            window_end=run.window_end, rows=run.rows, started_at=run.started_at, finished_at=run.finished_at,
            duration_seconds=run.duration_seconds, reference_version=run.reference_version, error=run.error,
            reference_ranges=[ReferenceRangeOut(start=r.start, end=r.end) for r in run.reference_ranges
                              if r.start is not None],
            dataset=DatasetOut.from_domain(run.dataset) if run.dataset else None, labelled_rows=run.labelled_rows,
            label_coverage=run.label_coverage, concept_drift=run.concept_drift,
        )

    @classmethod
    def from_domain(cls, run: Run) -> RunSummary:
        return cls.model_validate(cls._fields(run))


class RunDetail(RunSummary):
    """A run with every result: columns (features, prediction, target), performance, concept drift."""

    features: list[FeatureOut]
    performance: list[PerformanceOut]
    concept_change_points: list[datetime]
    estimates: list[EstimateOut] = Field(description="performance estimated before the labels arrive (CBPE, "
                                         "DLE), one per metric; empty when the monitor estimates none")
    estimate_warnings: list[EstimateWarningOut] = Field(description="the distinct honesty checks that fired on "
                                                        "the estimates")

    @classmethod
    def from_domain(cls, run: Run) -> RunDetail:
        return cls.model_validate({
            **cls._fields(run),
            "features": [FeatureOut.from_domain(f) for f in run.features],
            "performance": [PerformanceOut.from_domain(p) for p in run.performance],
            "concept_change_points": list(run.concept_change_points),
            "estimates": [EstimateOut.from_domain(e) for e in run.estimates],
            "estimate_warnings": run.estimate_warnings,
        })


class RunCreated(_Out):
    run_id: str
    status: RunStatus


# --- monitors and references ------------------------------------------------------------------


class ScheduleOut(_Out):
    """Exactly one of ``every`` (a duration such as ``15m``) and ``cron``."""

    every: str | None
    cron: str | None


class WindowOut(_Out):
    """Exactly one of ``last`` (a duration) and ``rows``."""

    last: str | None
    rows: int | None


class MonitorOut(_Out):
    name: str
    model: str
    schedule: ScheduleOut
    window: WindowOut
    status: RunStatus | Literal["never_run"] = Field(description="the latest run's status, or never_run")
    latest_run: RunSummary | None
    reference_version: int | None = Field(description="the active reference's version, or null")

    @classmethod
    def from_domain(cls, m: MonitorConfig, latest: Run | None, reference_version: int | None) -> MonitorOut:
        return cls(
            name=m.name, model=m.model, schedule=ScheduleOut(every=m.every, cron=m.cron),
            window=WindowOut(last=m.window.last, rows=m.window.rows),
            status=latest.status if latest else "never_run",
            latest_run=RunSummary.from_domain(latest) if latest else None,
            reference_version=reference_version,
        )


class ReferenceOut(_Out):
    """A stored reference version (the fitted profile itself is never sent)."""

    monitor: str
    version: int
    content_hash: str
    created_at: datetime
    source: str
    n_rows: int
    active: bool

    @classmethod
    def from_domain(cls, r: ReferenceRecord) -> Self:
        return cls(monitor=r.monitor, version=r.version, content_hash=r.content_hash, created_at=r.created_at,
                   source=r.source, n_rows=r.n_rows, active=r.active)


class ReferenceCreated(ReferenceOut):
    """The reference just registered."""
