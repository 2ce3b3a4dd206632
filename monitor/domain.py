"""The nouns of the service (runs and their results) and the ports the run layer uses.

Results are frozen dataclasses built from the statistical core's results; storage converts them
to rows at its edge, the API to JSON at its edge.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, Protocol

import pandas as pd

__all__ = [
    "Clock",
    "DatasetSummary",
    "FeatureResult",
    "IngestResult",
    "LabelResult",
    "PerformanceRecord",
    "ReferenceRecord",
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
class FeatureResult:
    """One column's drift result in a run (the core's ColumnResult plus its role)."""

    column: str
    role: Role
    type: str | None
    method: str | None
    reason: str
    statistic: float | None
    p_value: float | None
    adjusted_p_value: float | None
    threshold: float | None
    drifted: bool
    status: str
    n_reference: int
    n_current: int
    missing_reference: int
    missing_current: int
    missing_p_value: float | None
    missing_drifted: bool
    new_categories: tuple[str, ...] = ()
    out_of_range_current: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form used by the API."""
        return {
            "column": self.column, "role": str(self.role), "type": self.type, "method": self.method,
            "reason": self.reason, "statistic": self.statistic, "p_value": self.p_value,
            "adjusted_p_value": self.adjusted_p_value, "threshold": self.threshold,
            "drifted": self.drifted, "status": self.status, "n_reference": self.n_reference,
            "n_current": self.n_current, "missing_reference": self.missing_reference,
            "missing_current": self.missing_current, "missing_p_value": self.missing_p_value,
            "missing_drifted": self.missing_drifted, "new_categories": list(self.new_categories),
            "out_of_range_current": self.out_of_range_current,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class DatasetSummary:
    """The dataset verdict of a run (features only; prediction and target are reported apart)."""

    drift_share: float
    drifted_features: int
    total_features: int
    dataset_drift: bool
    threshold: float


@dataclass(frozen=True, slots=True, kw_only=True)
class PerformanceRecord:
    """One performance metric of a window, with the reference's value and the degradation test."""

    metric: str
    value: float | None
    reference_value: float | None = None
    p_value: float | None = None
    degraded: bool = False


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
    error: str | None = None
    dataset: DatasetSummary | None = None
    features: tuple[FeatureResult, ...] = ()
    performance: tuple[PerformanceRecord, ...] = ()
    labelled_rows: int = 0
    label_coverage: float | None = None
    concept_drift: bool | None = None
    concept_change_points: tuple[datetime, ...] = ()

    @property
    def duration_seconds(self) -> float:
        """Wall time of the run."""
        return (self.finished_at - self.started_at).total_seconds()


@dataclass(frozen=True, slots=True, kw_only=True)
class ReferenceRecord:
    """A stored reference version of a monitor (the fitted profile as ``.npz`` bytes)."""

    monitor: str
    version: int
    content_hash: str
    created_at: datetime
    source: str
    n_rows: int
    active: bool
    profile: bytes = field(repr=False)


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


class Clock(Protocol):
    """Where runs get the time (tests pass a fixed clock)."""

    def now(self) -> datetime: ...


