"""What a run produces: its status, one result per tested column, the dataset verdict, performance.

There is one column-result type: the statistical core's :class:`~monitor.stats.check.ColumnResult`.
:class:`FeatureResult` is that same type plus the column's role, so storage, the API and the
exporter read the core's fields without re-listing them.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from datetime import datetime
from enum import StrEnum
from typing import Any, Self

from monitor.domain.segments import SegmentSummary
from monitor.stats.check import ColumnResult, DatasetResult
from monitor.stats.estimation.types import Estimate, warnings_of
from monitor.stats.multivariate.types import MultivariateResult

__all__ = [
    "DatasetSummary",
    "FeatureResult",
    "IngestResult",
    "LabelResult",
    "PerformanceRecord",
    "Role",
    "Run",
    "RunStatus",
    "WindowSpec",
]


class RunStatus(StrEnum):
    """How a run ended. ``insufficient_data`` never carries a drift verdict."""

    OK = "ok"
    DRIFT = "drift"
    INSUFFICIENT_DATA = "insufficient_data"
    ERROR = "error"

    @property
    def has_verdict(self) -> bool:
        """Whether runs with this status tested the window (``ok`` or ``drift``)."""
        return self in (RunStatus.OK, RunStatus.DRIFT)


class Role(StrEnum):
    """What a tested column is to the model."""

    FEATURE = "feature"
    PREDICTION = "prediction"
    TARGET = "target"


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowSpec:
    """The window a run reads: ``[start, end)`` in time, or the last ``rows`` rows before ``end``."""

    end: datetime
    start: datetime | None = None
    rows: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FeatureResult(ColumnResult):
    """One column's drift result in a run: the core's :class:`ColumnResult` and the column's role."""

    role: Role
    #: Always a tuple here (empty for numerical columns): stored and served as a list, never null.
    new_categories: tuple[str, ...] | None = ()

    @classmethod
    def of(cls, result: ColumnResult, role: Role) -> Self:
        """The core's result of one column, with its role in the model."""
        values = {f.name: getattr(result, f.name) for f in fields(ColumnResult)}
        values["new_categories"] = tuple(result.new_categories or ())  # stored and served as a list, never null
        return cls(role=role, **values)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form used by the API: the core's fields, the role, and every quality field."""
        return {**ColumnResult.to_dict(self), "role": str(self.role),
                "new_categories": list(self.new_categories or ()),
                "out_of_range_current": self.out_of_range_current}


@dataclass(frozen=True, slots=True, kw_only=True)
class DatasetSummary:
    """The dataset verdict of a run, as the core's ``check()`` computed it over the features."""

    drift_share: float
    drifted_features: int
    total_features: int
    dataset_drift: bool
    threshold: float

    @classmethod
    def of(cls, result: DatasetResult) -> Self:
        """The verdict of a check whose counted columns are the monitor's features."""
        return cls(drift_share=result.drift_share, drifted_features=result.drifted_columns,
                   total_features=result.total_columns, dataset_drift=result.dataset_drift,
                   threshold=result.threshold)

    def to_dict(self) -> dict[str, Any]:
        """The JSON form used by the API."""
        return asdict(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class PerformanceRecord:
    """One performance metric of a window, with the reference's value and the degradation test.

    ``lower``/``upper`` bound ``value - reference_value`` (the block bootstrap's ``1 - 2 alpha``
    interval); they, ``p_value`` and ``degraded`` are set on the tested metric only.
    """

    metric: str
    value: float | None
    reference_value: float | None = None
    p_value: float | None = None
    degraded: bool = False
    lower: float | None = None
    upper: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    """One run of a monitor, start to finish, with all its results."""

    id: str
    monitor: str
    model: str
    status: RunStatus
    window_start: datetime | None
    window_end: datetime
    rows: int
    started_at: datetime
    finished_at: datetime
    reference_version: int | None = None
    #: The time ranges a dynamic reference (previous_window, rolling, same_period) was read from;
    #: empty for a stored reference (``reference_version`` names it).
    reference_ranges: tuple[WindowSpec, ...] = ()
    error: str | None = None
    dataset: DatasetSummary | None = None
    features: tuple[FeatureResult, ...] = ()
    performance: tuple[PerformanceRecord, ...] = ()
    labelled_rows: int = 0
    label_coverage: float | None = None
    concept_drift: bool | None = None
    concept_change_points: tuple[datetime, ...] = ()
    #: One result per multivariate method of the monitor (``multivariate:``), in its order; empty without.
    multivariate: tuple[MultivariateResult, ...] = ()
    #: Per-segment verdicts (the monitor's ``segments:``); ``None`` when it declares none.
    segments: SegmentSummary | None = None
    #: Performance estimated on the whole window (CBPE or DLE), one per metric, with the realized
    #: value over its labelled rows, the coverage and the status; empty when the monitor estimates none.
    estimates: tuple[Estimate, ...] = ()

    @property
    def estimate(self) -> dict[str, Estimate]:
        """The estimates by metric name."""
        return {str(e.metric): e for e in self.estimates}

    @property
    def estimate_warnings(self) -> list[dict[str, str | None]]:
        """The distinct honesty checks that fired on the estimates (JSON form), in first-seen order."""
        return [w.to_dict() for w in warnings_of(list(self.estimates))]

    @property
    def duration_seconds(self) -> float:
        """Wall time of the run."""
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def window(self) -> WindowSpec:
        """The window this run tested (time bounds; a row-count window has no start)."""
        return WindowSpec(start=self.window_start, end=self.window_end)


@dataclass(frozen=True, slots=True, kw_only=True)
class IngestResult:
    """What an ingest call wrote: new rows, and rows skipped as already-seen prediction ids."""

    accepted: int
    duplicates: int


@dataclass(frozen=True, slots=True, kw_only=True)
class LabelResult:
    """Labels joined to logged predictions, and ids that matched no prediction."""

    updated: int
    unknown_ids: tuple[str, ...]
