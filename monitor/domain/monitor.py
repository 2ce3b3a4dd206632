"""The monitor as a run sees it: built once from ``driftline.yaml`` by ``MonitorConfig.to_domain()``.

Durations are ``timedelta`` (parsed once, at load), closed sets are enums, and per-column drift
options are the core's own :class:`~monitor.stats.check.ColumnOptions`, so nothing below the
configuration layer re-parses or re-validates text.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from monitor.domain.alerting import AlertRule, RetrainPolicy, WebhookTarget
from monitor.domain.estimation import EstimateMethod
from monitor.domain.results import Run, WindowSpec
from monitor.errors import UnknownMonitor
from monitor.stats.check import CheckOptions, ColumnOptions
from monitor.stats.concept import Detector
from monitor.stats.concept_state import RowBucket
from monitor.stats.correction import Correction
from monitor.stats.multivariate.types import MultivariateMethod
from monitor.stats.performance import Task
from monitor.stats.types import ColumnType, Compat

__all__ = [
    "Catalog",
    "DescribesCatalog",
    "DynamicReferenceSpec",
    "catalog_of",
    "FileReferenceSpec",
    "FileSourceSpec",
    "PushdownSpec",
    "Monitor",
    "PerformanceSpec",
    "PreviousWindowReferenceSpec",
    "ReferenceSpec",
    "RollingReferenceSpec",
    "SamePeriodReferenceSpec",
    "Schedule",
    "Schema",
    "SourceSpec",
    "SqlSourceSpec",
    "StoreReferenceSpec",
    "StoreSourceSpec",
    "UploadReferenceSpec",
    "WindowDef",
]

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True, kw_only=True)
class Schema:
    """Which columns of the prediction log play which role."""

    prediction_id: str = "prediction_id"
    timestamp: str = "timestamp"
    prediction: str = "prediction"
    prediction_score: str | None = None
    target: str | None = "label"
    numerical: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    task: Task = Task.CLASSIFICATION
    #: Free-text features (monitor.stats.text).
    text: tuple[str, ...] = ()
    #: Embedding features and their vector length (monitor.stats.embedding).
    embedding: tuple[tuple[str, int], ...] = ()

    @property
    def features(self) -> tuple[str, ...]:
        """Feature columns in declaration order: numerical, categorical, text, embedding."""
        return (*self.numerical, *self.categorical, *self.text, *(name for name, _ in self.embedding))

    @property
    def dims(self) -> dict[str, int]:
        """The vector length of each embedding feature."""
        return dict(self.embedding)

    @property
    def prediction_type(self) -> ColumnType:
        """How the prediction (and the target) is tested: categorical for classification."""
        return ColumnType.CATEGORICAL if self.task is Task.CLASSIFICATION else ColumnType.NUMERICAL

    def types(self) -> dict[str, ColumnType]:
        """Column types of the features and the prediction."""
        types = {c: ColumnType.NUMERICAL for c in self.numerical} | {c: ColumnType.CATEGORICAL for c in self.categorical}
        types |= {c: ColumnType.TEXT for c in self.text} | {c: ColumnType.EMBEDDING for c, _ in self.embedding}
        types[self.prediction] = self.prediction_type
        return types


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreSourceSpec:
    """Predictions posted to Driftline's own ingest API."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PushdownSpec:
    """The window's drift statistics computed by the source's engine (docs/scaling.md).

    ``grid``: cells per numerical column; ``max_rows``: rows read back for the columns the
    aggregates cannot decide (a seeded uniform sample above it).
    """

    grid: int = 1024
    max_rows: int = 200_000


@dataclass(frozen=True, slots=True, kw_only=True)
class SqlSourceSpec:
    """A table in any SQLAlchemy database; ``columns`` maps our column names to theirs."""

    url: str = field(repr=False)
    table: str
    columns: Mapping[str, str] = field(default_factory=dict)
    pushdown: PushdownSpec | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class FileSourceSpec:
    """Parquet or CSV files matching a glob (aggregated by DuckDB with ``pushdown``)."""

    path: str
    pushdown: PushdownSpec | None = None


SourceSpec = StoreSourceSpec | SqlSourceSpec | FileSourceSpec


@dataclass(frozen=True, slots=True, kw_only=True)
class FileReferenceSpec:
    """A reference read from a Parquet or CSV file at start-up."""

    path: str


@dataclass(frozen=True, slots=True, kw_only=True)
class StoreReferenceSpec:
    """A time range ``[start, end)`` of the monitor's own prediction log."""

    start: datetime
    end: datetime
    label: str  # how the range was written, for the reference's ``source``


@dataclass(frozen=True, slots=True, kw_only=True)
class UploadReferenceSpec:
    """A reference uploaded later through the API."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PreviousWindowReferenceSpec:
    """The window just before the current one, as long, read from the monitor's source each run."""

    def ranges(self, window: WindowSpec) -> tuple[WindowSpec, ...]:
        """``[start - length, start)`` of a time window ``[start, end)``."""
        start = _start(window)
        return (WindowSpec(start=start - (window.end - start), end=start),)


@dataclass(frozen=True, slots=True, kw_only=True)
class RollingReferenceSpec:
    """The ``last`` period before the window, read from the monitor's source.

    ``refit`` floors the reference's end to a multiple of it since the epoch, so the reference
    changes (and is read and fitted) at most once per ``refit``; ``None``: it ends at the window's start.
    """

    last: timedelta
    refit: timedelta | None = None

    def ranges(self, window: WindowSpec) -> tuple[WindowSpec, ...]:
        """``[anchor - last, anchor)``, the anchor being the window's start (floored to ``refit``)."""
        anchor = _start(window)
        if self.refit is not None:
            anchor = _EPOCH + ((anchor - _EPOCH) // self.refit) * self.refit
        return (WindowSpec(start=anchor - self.last, end=anchor),)


@dataclass(frozen=True, slots=True, kw_only=True)
class SamePeriodReferenceSpec:
    """The same window ``k * every`` earlier for ``k = 1 .. periods`` (e.g. this hour of the week in
    the last 4 weeks), read from the monitor's source and taken together."""

    every: timedelta
    periods: int

    def ranges(self, window: WindowSpec) -> tuple[WindowSpec, ...]:
        """The window shifted back by each multiple of ``every``, oldest first."""
        start = _start(window)
        return tuple(WindowSpec(start=start - k * self.every, end=window.end - k * self.every)
                     for k in range(self.periods, 0, -1))


def _start(window: WindowSpec) -> datetime:
    if window.start is None:
        raise ValueError("a reference read from the monitor's source needs a time window (window: {last: ...})")
    return window.start


#: References re-read from the monitor's own source for every run (no stored version).
DynamicReferenceSpec = PreviousWindowReferenceSpec | RollingReferenceSpec | SamePeriodReferenceSpec
ReferenceSpec = (FileReferenceSpec | StoreReferenceSpec | UploadReferenceSpec | PreviousWindowReferenceSpec
                 | RollingReferenceSpec | SamePeriodReferenceSpec)


@dataclass(frozen=True, slots=True, kw_only=True)
class Schedule:
    """When a monitor runs: every fixed period, or on a crontab expression."""

    every: timedelta | None = None
    cron: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowDef:
    """The current window: the last period of time or the last N rows."""

    last: timedelta | None = None
    rows: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class PerformanceSpec:
    """Performance and concept drift on rows whose labels have arrived."""

    alpha: float = 0.05
    bucket: timedelta | RowBucket = timedelta(hours=1)
    detector: Detector = Detector.CUSUM
    label_lookback: timedelta = timedelta(hours=24)
    min_labels: int = 30
    #: Performance estimated before the labels arrive; None: CBPE for a classifier with a score, else
    #: none (``monitor.domain.estimation.estimate_method``).
    estimate: EstimateMethod | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Retention:
    """How long a monitor's data is kept (``None``: forever).

    ``predictions``: rows of the model's prediction log older than this (by timestamp) are
    deleted; several monitors on one model keep the longest. ``runs``: runs whose window ended
    longer ago are deleted with their results.
    """

    predictions: timedelta | None = None
    runs: timedelta | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Monitor:
    """One monitor: a model's prediction log compared with its reference on a schedule."""

    name: str
    model: str
    schema: Schema
    source: SourceSpec = StoreSourceSpec()
    reference: ReferenceSpec = UploadReferenceSpec()
    schedule: Schedule = Schedule(every=timedelta(hours=1))
    window: WindowDef = WindowDef(last=timedelta(hours=1))
    min_rows: int = 100
    drift_share: float = 0.5
    correction: Correction = Correction.NONE
    compat: Compat = Compat.CALIBRATED
    fdr: bool = False
    min_features: int = 1
    columns: Mapping[str, ColumnOptions] = field(default_factory=dict)
    performance: PerformanceSpec = PerformanceSpec()
    alerts: tuple[AlertRule, ...] = ()
    retrain: RetrainPolicy | None = None
    retention: Retention = Retention()
    #: Tests of the features' joint distribution run beside the per-column ones (monitor.stats.multivariate).
    multivariate: tuple[MultivariateMethod, ...] = ()
    #: Segments tested apart (each one categorical feature or a combination), see monitor.domain.segments.
    segments: tuple[tuple[str, ...], ...] = ()
    segment_min_rows: int = 200
    segment_top_k: int = 5

    def window_ending(self, end: datetime) -> WindowSpec:
        """The window a run ending at ``end`` reads: ``[end - last, end)`` or the last N rows."""
        if self.window.last is not None:
            return WindowSpec(start=end - self.window.last, end=end)
        return WindowSpec(end=end, rows=self.window.rows)

    def window_of(self, run: Run) -> WindowSpec:
        """The window a stored run tested, to read it again (late labels, reports)."""
        return WindowSpec(start=run.window_start, end=run.window_end,
                          rows=None if run.window_start else self.window.rows)

    def aligned_end(self, now: datetime) -> datetime:
        """The window end of a scheduled run: ``now`` floored to the schedule period (or minute).

        Scheduled windows end on multiples of the period since a fixed epoch, so a restarted
        service computes the same window ends and the store refuses a duplicate.
        """
        step = self.schedule.every or timedelta(minutes=1)
        return _EPOCH + ((now - _EPOCH) // step) * step

    def check_options(self) -> CheckOptions:
        """How the core tests this monitor's columns (the dataset verdict counts features only)."""
        return CheckOptions(columns=self.columns, drift_share=self.drift_share, correction=self.correction,
                            compat=self.compat, fdr=self.fdr, min_features=self.min_features,
                            dataset_columns=frozenset(self.schema.features))

    def reference_ranges(self, window: WindowSpec) -> tuple[WindowSpec, ...]:
        """The time ranges a dynamic reference reads for ``window`` (empty for a stored reference)."""
        ref = self.reference
        if isinstance(ref, PreviousWindowReferenceSpec | RollingReferenceSpec | SamePeriodReferenceSpec):
            return ref.ranges(window)
        return ()


class DescribesCatalog(Protocol):
    """Anything that translates into a :class:`Catalog` (the validated ``driftline.yaml``)."""

    def to_domain(self) -> Catalog: ...


def catalog_of(source: Catalog | DescribesCatalog) -> Catalog:
    """``source`` itself if it is a catalog, else its translation (adapters accept either)."""
    return source if isinstance(source, Catalog) else source.to_domain()


@dataclass(frozen=True, slots=True, kw_only=True)
class Catalog:
    """Every monitor of a deployment and the webhook targets their alerts use."""

    monitors: tuple[Monitor, ...]
    webhooks: tuple[WebhookTarget, ...] = ()

    def monitor(self, name: str) -> Monitor:
        """The monitor called ``name``; :class:`UnknownMonitor` if there is none."""
        for m in self.monitors:
            if m.name == name:
                return m
        raise UnknownMonitor(name)

    def webhook(self, name: str) -> WebhookTarget | None:
        """The webhook target called ``name``, if declared."""
        return next((w for w in self.webhooks if w.name == name), None)
