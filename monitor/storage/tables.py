"""The static tables (runs, their results, reference versions, alerting) as SQLAlchemy 2.0 mapped classes.

Rows convert explicitly to and from the domain types (``RunRow.from_domain(run)``,
``row.to_domain()``), so an ORM object never leaves the storage package. The schema itself is
created by the Alembic migrations in ``migrations/``; a test checks they agree.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from monitor.domain import (
    DatasetSummary,
    DeliveryStatus,
    FeatureResult,
    JobStatus,
    MessageKind,
    OutboxMessage,
    Outcome,
    PerformanceRecord,
    ReferenceRecord,
    RetrainJob,
    Role,
    Run,
    RunStatus,
    SegmentSummary,
    WindowSpec,
    with_concept_flag,
)
from monitor.stats.check import Basis, Status
from monitor.stats.estimation.types import Estimate, EstimateMetric, EstimateStatus, EstimateWarning, WarningCode
from monitor.stats.multivariate.types import MultivariateResult
from monitor.stats.types import ColumnType, DriftMethod, Rule
from monitor.storage._types import UtcDateTime, to_utc

__all__ = ["FEATURE_FIELDS", "AlertmanagerNotificationRow", "Base", "EstimatedPerformanceRow", "FeatureResultRow",
           "DeliveryCounterRow", "IngestCounterRow", "OutboxRow", "RetrainCounterRow",
           "PerformanceResultRow", "ReferenceVersionRow", "RetrainJobRow", "RunCounterRow", "RunRow", "feature_result"]

#: Deterministic constraint names, so migrations can refer to them in every dialect.
NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

Name = sa.String(63)  # monitor and model names are at most 63 characters (see MonitorConfig)


class Base(DeclarativeBase):
    """Declarative base of the static tables."""

    metadata = sa.MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UtcDateTime(), float: sa.Double(), int: sa.BigInteger(), str: sa.Text()}


class ReferenceVersionRow(Base):
    """One fitted reference profile of a monitor; versions are kept, at most one is active."""

    __tablename__ = "reference_versions"
    __table_args__ = (
        # One active version per monitor, enforced by the database rather than by convention.
        sa.Index("uq_reference_versions_active", "monitor", unique=True,
                 postgresql_where=sa.text("active"), sqlite_where=sa.text("active")),
    )

    monitor: Mapped[str] = mapped_column(Name, primary_key=True)
    version: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    content_hash: Mapped[str]
    created_at: Mapped[datetime]
    source: Mapped[str]
    n_rows: Mapped[int]
    active: Mapped[bool]
    profile: Mapped[bytes] = mapped_column(sa.LargeBinary)
    #: Hash of the input the version was fitted from (a configured file reference), if known.
    input_hash: Mapped[str | None] = mapped_column(sa.String(), nullable=True)

    def to_domain(self) -> ReferenceRecord:
        return ReferenceRecord(monitor=self.monitor, version=self.version, content_hash=self.content_hash,
                               created_at=self.created_at, source=self.source, n_rows=self.n_rows,
                               active=self.active, profile=self.profile, input_hash=self.input_hash)


class IngestCounterRow(Base):
    """Predictions stored per model, counted in the ingest's own transaction (revision 0006), so a
    metrics scrape reads one row per model instead of counting a log of millions of rows."""

    __tablename__ = "ingest_counters"

    model: Mapped[str] = mapped_column(Name, primary_key=True)
    rows: Mapped[int]


class RunCounterRow(Base):
    """Runs per (monitor, status, duration bucket), counted in the run's own transaction (revision
    0006): the exporter's run counters and duration histogram without scanning ``runs``.

    ``bucket`` is the index of the first bound of ``aggregates.DURATION_BUCKETS`` the duration
    is at or below (their number for longer runs).
    """

    __tablename__ = "run_counters"

    monitor: Mapped[str] = mapped_column(Name, primary_key=True)
    status: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    bucket: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    runs: Mapped[int]
    duration_sum: Mapped[float]
    last_window_end: Mapped[datetime]


class DeliveryCounterRow(Base):
    """Webhook delivery attempts per (target, outcome), counted in the outbox write's own
    transaction (revision 0014): ``driftline_webhook_deliveries_total`` without a scan of ``outbox``."""

    __tablename__ = "delivery_counters"

    target: Mapped[str] = mapped_column(sa.Text(), primary_key=True)
    outcome: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    attempts: Mapped[int] = mapped_column(sa.BigInteger())


class RetrainCounterRow(Base):
    """Retraining triggers per (monitor, model, outcome), counted in the job insert's own
    transaction (revision 0014): ``driftline_retrain_triggers_total`` without a scan of ``retrain_jobs``."""

    __tablename__ = "retrain_counters"

    monitor: Mapped[str] = mapped_column(Name, primary_key=True)
    model: Mapped[str] = mapped_column(Name, primary_key=True)
    outcome: Mapped[str] = mapped_column(sa.String(32), primary_key=True)
    jobs: Mapped[int] = mapped_column(sa.BigInteger())


class RunRow(Base):
    """One run; ``(monitor, window_end)`` is unique so no window is recorded twice."""

    __tablename__ = "runs"
    __table_args__ = (sa.UniqueConstraint("monitor", "window_end"),)  # also serves list_runs' order

    id: Mapped[str] = mapped_column(primary_key=True)
    monitor: Mapped[str] = mapped_column(Name)
    model: Mapped[str] = mapped_column(Name)
    status: Mapped[str] = mapped_column(sa.String(32))
    window_start: Mapped[datetime | None]
    window_end: Mapped[datetime]
    rows: Mapped[int]
    started_at: Mapped[datetime]
    finished_at: Mapped[datetime]
    # finished_at - started_at, stored so run_stats() sums and buckets it without date arithmetic
    # (which differs per dialect); rows from before revision 0002 were filled in by it.
    duration_seconds: Mapped[float | None]
    reference_version: Mapped[int | None] = mapped_column(sa.Integer)
    # [[start, end], ...] in ISO 8601 of a dynamic reference (revision 0007); null for a stored one.
    reference_ranges: Mapped[list[list[str]] | None] = mapped_column(sa.JSON)
    error: Mapped[str | None]
    dataset_drift_share: Mapped[float | None]
    dataset_drifted_features: Mapped[int | None] = mapped_column(sa.Integer)
    dataset_total_features: Mapped[int | None] = mapped_column(sa.Integer)
    dataset_drift: Mapped[bool | None]
    dataset_threshold: Mapped[float | None]
    labelled_rows: Mapped[int]
    label_coverage: Mapped[float | None]
    concept_drift: Mapped[bool | None]
    concept_change_points: Mapped[list[str]] = mapped_column(sa.JSON)
    # One object per multivariate method (MultivariateResult.to_dict, revision 0011); null: none ran.
    multivariate: Mapped[list[dict[str, Any]] | None] = mapped_column(sa.JSON)
    # The segment verdicts (revision 0010): SegmentSummary.to_dict(), bounded by segment_top_k.
    segments: Mapped[dict[str, Any] | None] = mapped_column(sa.JSON)

    features: Mapped[list[FeatureResultRow]] = relationship(
        order_by="FeatureResultRow.position", cascade="all, delete-orphan", passive_deletes=True)
    performance: Mapped[list[PerformanceResultRow]] = relationship(
        order_by="PerformanceResultRow.position", cascade="all, delete-orphan", passive_deletes=True)
    estimates: Mapped[list[EstimatedPerformanceRow]] = relationship(
        order_by="EstimatedPerformanceRow.position", cascade="all, delete-orphan", passive_deletes=True)

    @classmethod
    def from_domain(cls, run: Run) -> RunRow:
        d = run.dataset
        return cls(
            id=run.id, monitor=run.monitor, model=run.model, status=str(run.status),
            window_start=run.window_start, window_end=run.window_end, rows=run.rows,
            started_at=run.started_at, finished_at=run.finished_at, duration_seconds=run.duration_seconds,
            reference_version=run.reference_version, error=run.error,
            reference_ranges=[[to_utc(r.start).isoformat() if r.start else "", to_utc(r.end).isoformat()]
                              for r in run.reference_ranges] or None,
            dataset_drift_share=d.drift_share if d else None,
            dataset_drifted_features=d.drifted_features if d else None,
            dataset_total_features=d.total_features if d else None,
            dataset_drift=d.dataset_drift if d else None,
            dataset_threshold=d.threshold if d else None,
            labelled_rows=run.labelled_rows, label_coverage=run.label_coverage,
            concept_drift=run.concept_drift,
            concept_change_points=[to_utc(t).isoformat() for t in run.concept_change_points],
            multivariate=[m.to_dict() for m in run.multivariate] or None,
            segments=None if run.segments is None else run.segments.to_dict(),
            features=[FeatureResultRow.from_domain(i, f) for i, f in enumerate(run.features)],
            performance=[PerformanceResultRow.from_domain(i, p) for i, p in enumerate(run.performance)],
            estimates=[EstimatedPerformanceRow.from_domain(i, e)
                       for i, e in enumerate(with_concept_flag(run.estimates, run.concept_drift))],
        )

    def to_domain(self, *, features: tuple[FeatureResult, ...] | None = None,
                  performance: tuple[PerformanceRecord, ...] | None = None,
                  estimates: tuple[Estimate, ...] | None = None) -> Run:
        """The run; ``features``, ``performance`` or ``estimates`` given (read apart, see ``_latest``,
        or not at all for a listing) leaves that relationship unloaded."""
        dataset = None
        if self.dataset_drift_share is not None:
            dataset = DatasetSummary(drift_share=self.dataset_drift_share,
                                     drifted_features=_int(self.dataset_drifted_features),
                                     total_features=_int(self.dataset_total_features),
                                     dataset_drift=bool(self.dataset_drift),
                                     threshold=_float(self.dataset_threshold))
        return Run(
            id=self.id, monitor=self.monitor, model=self.model, status=RunStatus(self.status),
            window_start=self.window_start, window_end=self.window_end, rows=self.rows,
            started_at=self.started_at, finished_at=self.finished_at,
            reference_version=self.reference_version, error=self.error, dataset=dataset,
            reference_ranges=tuple(WindowSpec(start=datetime.fromisoformat(a), end=datetime.fromisoformat(b))
                                   for a, b in self.reference_ranges or ()),
            features=tuple(f.to_domain() for f in self.features) if features is None else features,
            performance=tuple(p.to_domain() for p in self.performance) if performance is None else performance,
            estimates=tuple(e.to_domain() for e in self.estimates) if estimates is None else estimates,
            labelled_rows=self.labelled_rows, label_coverage=self.label_coverage,
            concept_drift=self.concept_drift,
            concept_change_points=tuple(datetime.fromisoformat(t) for t in self.concept_change_points),
            multivariate=tuple(MultivariateResult.from_dict(m) for m in self.multivariate or ()),
            segments=None if self.segments is None else SegmentSummary.from_dict(self.segments),
        )


class FeatureResultRow(Base):
    """One column's result in a run, kept in the run's order by ``position``."""

    __tablename__ = "feature_results"

    run_id: Mapped[str] = mapped_column(sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    column: Mapped[str]
    role: Mapped[str] = mapped_column(sa.String(16))
    type: Mapped[str | None] = mapped_column(sa.String(32))
    method: Mapped[str | None] = mapped_column(sa.String(32))
    reason: Mapped[str]
    statistic: Mapped[float | None]
    p_value: Mapped[float | None]
    adjusted_p_value: Mapped[float | None]
    threshold: Mapped[float | None]
    drifted: Mapped[bool]
    status: Mapped[str] = mapped_column(sa.String(32))
    n_reference: Mapped[int]
    n_current: Mapped[int]
    missing_reference: Mapped[int]
    missing_current: Mapped[int]
    missing_p_value: Mapped[float | None]
    missing_drifted: Mapped[bool]
    new_categories: Mapped[list[str]] = mapped_column(sa.JSON)
    out_of_range_current: Mapped[int | None]
    effect: Mapped[float | None]
    effect_floor: Mapped[float | None]
    null_threshold: Mapped[float | None]
    alpha: Mapped[float | None]
    rule: Mapped[str | None] = mapped_column(sa.String(32))
    # What the statistic was computed from, and its bound (pushdown, revision 0012); null: the rows.
    statistic_error_bound: Mapped[float | None]
    basis: Mapped[str | None] = mapped_column(sa.String(16))

    @classmethod
    def from_domain(cls, position: int, f: FeatureResult) -> FeatureResultRow:
        """The row of one result: every field of :class:`FeatureResult` is a column of the same name."""
        values = {name: getattr(f, name) for name in FEATURE_FIELDS}
        values["new_categories"] = list(f.new_categories or ())
        return cls(position=position, **values)

    def to_domain(self) -> FeatureResult:
        return feature_result({name: getattr(self, name) for name in FEATURE_FIELDS})


#: FeatureResult's fields are the table's columns, by name; a field without a column fails at import.
FEATURE_FIELDS = tuple(f.name for f in dataclasses.fields(FeatureResult))
_ENUMS: dict[str, Callable[[str], object]] = {"role": Role, "type": ColumnType, "method": DriftMethod,
                                                "status": Status, "rule": Rule, "basis": Basis}
assert set(FEATURE_FIELDS) <= set(FeatureResultRow.__table__.c.keys()), "a FeatureResult field has no column"


def feature_result(values: dict[str, Any]) -> FeatureResult:
    """A stored result row (column name -> value) as the domain's result, closed sets as enums."""
    for name, enum in _ENUMS.items():
        if values[name] is not None:
            values[name] = enum(values[name])
    values["new_categories"] = tuple(values["new_categories"] or ())
    return FeatureResult(**values)


class PerformanceResultRow(Base):
    """One performance metric of a run; replaced as a whole when late labels arrive."""

    __tablename__ = "performance_results"

    run_id: Mapped[str] = mapped_column(sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    metric: Mapped[str] = mapped_column(sa.String(64))
    value: Mapped[float | None]
    reference_value: Mapped[float | None]
    p_value: Mapped[float | None]
    degraded: Mapped[bool]
    lower: Mapped[float | None]
    upper: Mapped[float | None]

    @classmethod
    def from_domain(cls, position: int, p: PerformanceRecord) -> PerformanceResultRow:
        return cls(position=position, metric=p.metric, value=p.value, reference_value=p.reference_value,
                   p_value=p.p_value, degraded=p.degraded, lower=p.lower, upper=p.upper)

    def to_domain(self) -> PerformanceRecord:
        return PerformanceRecord(metric=self.metric, value=self.value, reference_value=self.reference_value,
                                 p_value=self.p_value, degraded=self.degraded, lower=self.lower, upper=self.upper)


class EstimatedPerformanceRow(Base):
    """One estimated metric of a run (CBPE, DLE); replaced as a whole when late labels arrive."""

    __tablename__ = "estimated_performance"

    run_id: Mapped[str] = mapped_column(sa.ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(sa.Integer, primary_key=True)
    metric: Mapped[str] = mapped_column(sa.String(64))
    estimated: Mapped[float | None]
    est_lower: Mapped[float | None]
    est_upper: Mapped[float | None]
    sampling_error: Mapped[float | None]
    realized: Mapped[float | None]
    n_rows: Mapped[int]
    n_estimated: Mapped[int]
    n_labelled: Mapped[int]
    coverage: Mapped[float]
    status: Mapped[str] = mapped_column(sa.String(16))
    reason: Mapped[str | None]
    # [{"code", "metric", "message"}, ...]: the honesty checks that fired on this metric.
    warnings: Mapped[list[dict[str, str | None]]] = mapped_column(sa.JSON)

    @classmethod
    def from_domain(cls, position: int, e: Estimate) -> EstimatedPerformanceRow:
        return cls(position=position, metric=str(e.metric), estimated=e.estimated, est_lower=e.lower,
                   est_upper=e.upper, sampling_error=e.sampling_error, realized=e.realized, n_rows=e.n_rows,
                   n_estimated=e.n_estimated, n_labelled=e.n_labelled, coverage=e.coverage, status=str(e.status),
                   reason=e.reason, warnings=[w.to_dict() for w in e.warnings])

    def to_domain(self) -> Estimate:
        warnings = tuple(EstimateWarning(code=WarningCode(str(w["code"])), message=str(w["message"]),
                                         metric=None if w.get("metric") is None else EstimateMetric(str(w["metric"])))
                         for w in self.warnings or ())
        return Estimate(metric=EstimateMetric(self.metric), estimated=self.estimated, lower=self.est_lower,
                        upper=self.est_upper, sampling_error=self.sampling_error, realized=self.realized,
                        n_rows=self.n_rows, n_estimated=self.n_estimated, n_labelled=self.n_labelled,
                        coverage=self.coverage, status=EstimateStatus(self.status), reason=self.reason,
                        warnings=warnings)


class OutboxRow(Base):
    """One webhook delivery waiting, done or given up; written in the transaction of its run."""

    __tablename__ = "outbox"
    __table_args__ = (
        sa.UniqueConstraint("target", "idempotency_key"),
        sa.Index("ix_outbox_status_next_attempt_at", "status", "next_attempt_at"),  # the deliverer's "what is due"
    )

    # BIGINT is not an alias of SQLite's rowid, so it would not count up there; INTEGER is.
    id: Mapped[int] = mapped_column(sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True,
                                    autoincrement=True)
    target: Mapped[str]
    idempotency_key: Mapped[str]
    kind: Mapped[str] = mapped_column(sa.String(32))
    payload: Mapped[str]
    status: Mapped[str] = mapped_column(sa.String(32))
    attempts: Mapped[int] = mapped_column(sa.Integer)
    next_attempt_at: Mapped[datetime | None]
    last_error: Mapped[str | None]
    created_at: Mapped[datetime]
    delivered_at: Mapped[datetime | None]

    def to_domain(self) -> OutboxMessage:
        return OutboxMessage(id=self.id, target=self.target, idempotency_key=self.idempotency_key, kind=MessageKind(self.kind),
                             payload=self.payload, status=DeliveryStatus(self.status), attempts=self.attempts,
                             next_attempt_at=self.next_attempt_at, last_error=self.last_error,
                             created_at=self.created_at, delivered_at=self.delivered_at)


class AlertmanagerNotificationRow(Base):
    """One firing episode of one Alertmanager alert: ``(fingerprint, starts_at)``, seen once."""

    __tablename__ = "alertmanager_notifications"

    fingerprint: Mapped[str] = mapped_column(primary_key=True)
    starts_at: Mapped[datetime] = mapped_column(primary_key=True)
    alertname: Mapped[str]
    monitor: Mapped[str | None]
    status: Mapped[str] = mapped_column(sa.String(32))
    labels: Mapped[str]  # JSON object, keys sorted
    received_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None]


class RetrainJobRow(Base):
    """One retraining job, or a trigger a guard held back; at most one per trigger key."""

    __tablename__ = "retrain_jobs"
    __table_args__ = (
        sa.UniqueConstraint("trigger_key"),
        sa.Index("ix_retrain_jobs_monitor_created_at", "monitor", "created_at"),  # recent jobs, for the guards
    )

    id: Mapped[str] = mapped_column(primary_key=True)
    monitor: Mapped[str] = mapped_column(Name)
    model: Mapped[str] = mapped_column(Name)
    trigger_key: Mapped[str]
    reason: Mapped[str]
    status: Mapped[str] = mapped_column(sa.String(32))
    outcome: Mapped[str] = mapped_column(sa.String(32))
    dry_run: Mapped[bool]
    created_at: Mapped[datetime]
    triggered_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    detail: Mapped[str | None]
    reference_version: Mapped[int | None] = mapped_column(sa.Integer)

    @classmethod
    def from_domain(cls, job: RetrainJob) -> RetrainJobRow:
        return cls(id=job.id, monitor=job.monitor, model=job.model, trigger_key=job.trigger_key, reason=job.reason,
                   status=str(job.status), outcome=str(job.outcome), dry_run=job.dry_run, created_at=job.created_at,
                   triggered_at=job.triggered_at, completed_at=job.completed_at, detail=job.detail,
                   reference_version=job.reference_version)

    def to_domain(self) -> RetrainJob:
        return RetrainJob(id=self.id, monitor=self.monitor, model=self.model, trigger_key=self.trigger_key,
                          reason=self.reason, status=JobStatus(self.status), outcome=Outcome(self.outcome),
                          dry_run=self.dry_run, created_at=self.created_at, triggered_at=self.triggered_at,
                          completed_at=self.completed_at, detail=self.detail,
                          reference_version=self.reference_version)


class WindowLeaseRow(Base):
    """Which replica runs (or ran) one window: claimed before the run, done once it is saved (revision 0013).

    PostgreSQL only in practice: N ``serve`` replicas claim each due window here, so one runs it;
    a lease whose holder died expires and another replica takes it over (docs/scaling.md).
    """

    __tablename__ = "window_leases"

    monitor: Mapped[str] = mapped_column(Name, primary_key=True)
    window_end: Mapped[datetime] = mapped_column(primary_key=True)
    holder: Mapped[str]
    expires_at: Mapped[datetime]
    done: Mapped[bool]


def _int(value: int | None) -> int:
    return 0 if value is None else value


def _float(value: float | None) -> float:
    return float("nan") if value is None else value
