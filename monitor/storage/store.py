"""The Store: Driftline's own database (prediction logs, references, runs, alerting) behind one small API.

Synchronous SQLAlchemy 2.0 on PostgreSQL (psycopg 3) or SQLite. One instance per process; it is
thread-safe because every call takes its own pooled connection and transaction. Every call is
all or nothing, and every database failure surfaces as :class:`StorageError`. The alerting
statements live in :mod:`monitor.storage.alerting`, the aggregates in :mod:`monitor.storage.aggregates`;
the store opens their transactions.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any, Protocol

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import Session, defer, raiseload, selectinload

from monitor.domain import (
    Catalog,
    DeliveryStatus,
    DescribesCatalog,
    IngestResult,
    JobStatus,
    LabelResult,
    Monitor,
    OutboxMessage,
    PerformanceRecord,
    ReferenceRecord,
    RetrainJob,
    Run,
    WindowSpec,
    catalog_of,
    with_concept_flag,
)
from monitor.domain.concept import ConceptStateRecord
from monitor.errors import DuplicateRun, InputError, UnknownReference, UnknownRetrainJob, UnknownRun
from monitor.stats.estimation.types import Estimate
from monitor.storage import _migrate, _postgres, _sqlite, alerting, concept, counters, leases
from monitor.storage._engine import WRITE, check_dialect, create_engine, translate_errors
from monitor.storage._frames import Batch, prepare_labels, prepare_predictions, to_frame
from monitor.storage._group_commit import GroupCommit, counts_by_batch, merge_batches, unavailable
from monitor.storage._latest import LatestRuns
from monitor.storage._types import to_utc
from monitor.storage.aggregates import DURATION_BUCKETS, RunAggregates, run_aggregates
from monitor.storage.layout import Kind, ModelLayout, build_layouts
from monitor.storage.partitions import Partitions, convert, days_of, is_missing_partition
from monitor.storage.tables import (
    AlertmanagerNotificationRow,
    EstimatedPerformanceRow,
    FeatureResultRow,
    PerformanceResultRow,
    ReferenceVersionRow,
    RunRow,
)

__all__ = ["NewReference", "Store"]

_WITH_RESULTS = (selectinload(RunRow.features), selectinload(RunRow.performance), selectinload(RunRow.estimates))
#: A run listed without its per-column results (a listing that returns summaries never reads them).
_WITHOUT_RESULTS = (raiseload(RunRow.features), raiseload(RunRow.performance), raiseload(RunRow.estimates))
#: A reference listed without its profile blob (megabytes each; only :meth:`Store.reference` reads it).
_WITHOUT_PROFILE = defer(ReferenceVersionRow.profile)


class NewReference(Protocol):
    """A fitted reference to store: its serialised profile, content hash, source and row count.

    A protocol, so the API hands over its own small value without importing the storage layer.
    """

    @property
    def profile(self) -> bytes: ...

    @property
    def content_hash(self) -> str: ...

    @property
    def source(self) -> str: ...

    @property
    def n_rows(self) -> int: ...


class Store:
    """Synchronous SQLAlchemy 2.0 store; one instance per process, thread-safe (engine pool)."""

    def __init__(self, engine: sa.Engine, config: Catalog | DescribesCatalog) -> None:
        check_dialect(engine)
        self._engine = engine
        self._config = config = catalog_of(config)
        self._postgres = engine.dialect.name == "postgresql"
        self._bulk: ModuleType = _postgres if self._postgres else _sqlite
        self._writer = engine.execution_options(**{WRITE: True})
        self._metadata = sa.MetaData()
        self._layouts = build_layouts(config, self._metadata)
        #: PostgreSQL's day partitions of the prediction logs, made as ingest needs them.
        self._partitions = Partitions(self._writer) if self._postgres else None
        self._latest = LatestRuns()
        self._verdicts = LatestRuns(verdict=True)
        self._both = LatestRuns()
        #: How long an outbox message claimed by this replica stays invisible to others (PostgreSQL).
        self.outbox_claim_for = timedelta(minutes=2)
        self._group: GroupCommit[Batch] = GroupCommit(self._write_predictions, alone_on=lambda e: not unavailable(e))

    @classmethod
    def from_url(cls, url: str, config: Catalog | DescribesCatalog) -> Store:
        """A store on a new engine for ``url`` (SQLite: WAL, foreign keys on, busy timeout)."""
        return cls(create_engine(url), config)

    @property
    def engine(self) -> sa.Engine:
        """The engine, for health checks and tests (e.g. ``engine.pool.checkedout()``)."""
        return self._engine

    def upgrade(self) -> None:
        """Migrate the static tables to head and create or extend the prediction tables; idempotent."""
        with self._errors("upgrade the database"), self._writer.begin() as conn:
            _migrate.upgrade(conn, list(self._layouts.values()))
        if self._partitions is not None:
            self._partitions = Partitions(self._writer)  # tables may have been made: ask the catalog again

    def partition_logs(self) -> dict[str, int | None]:
        """Move every unpartitioned PostgreSQL prediction log into day partitions, one transaction
        per model; model -> rows moved (``None``: already partitioned). SQLite has none: ``{}``.

        For a log made before partitioning; run with ingest stopped (``driftline db partition``).
        """
        if self._partitions is None:
            return {}
        moved: dict[str, int | None] = {}
        for model, layout in self._layouts.items():
            if self._partitions.partitioned(layout.table.name):
                moved[model] = None
                continue
            with self._errors(f"partition the prediction log of model {model!r}"), self._writer.begin() as conn:
                moved[model] = convert(conn, layout.table)
            self._partitions.forget(layout.table.name)
        return moved

    def ping(self) -> None:
        """Raise :class:`StorageError` when the database is unreachable."""
        with self._errors("reach the database"), self._engine.connect() as conn:
            conn.exec_driver_sql("SELECT 1")

    def write_probe(self) -> None:
        """Raise :class:`StorageError` when the database answers but refuses writes.

        A read-only database (a read-only file, ``default_transaction_read_only``, a replica) or
        a full disk passes :meth:`ping` while every ingest fails. The probe commits one real write:
        a row inserted and deleted in the same transaction (in ``alertmanager_notifications``,
        under a fingerprint no Alertmanager sends), so the commit writes the journal or WAL while
        no reader ever sees the row and nothing is left behind.
        """
        table = AlertmanagerNotificationRow.__table__
        assert isinstance(table, sa.Table)
        now = datetime.now(UTC)
        key = f"driftline-write-probe-{uuid.uuid4().hex}"  # replicas probing at once never collide
        with self._errors("write to the database"), self._writer.begin() as conn:
            conn.execute(table.insert().values(fingerprint=key, starts_at=now, alertname="", status="probe",
                                               labels="{}", received_at=now))
            conn.execute(table.delete().where(table.c.fingerprint == key))

    def dispose(self) -> None:
        """Close every pooled connection."""
        self._engine.dispose()

    # -- prediction log ---------------------------------------------------------------------

    def ingest_predictions(self, model: str, frame: pd.DataFrame) -> IngestResult:
        """Append predictions; ids already stored or repeated in the batch (first wins) are duplicates."""
        layout = self._layout(model)
        batch = prepare_predictions(layout, frame)
        if not len(batch):
            return IngestResult(accepted=0, duplicates=len(frame))
        # Returns once the transaction holding the batch (and those of concurrent requests) committed.
        inserted = self._group.submit(model, batch, len(batch))
        return IngestResult(accepted=inserted, duplicates=len(frame) - inserted)

    def _write_predictions(self, model: str, batches: Sequence[Batch]) -> list[int]:
        """Write batches of ``model`` in one transaction (a group commit); rows inserted per batch.

        A partitioned log gets the partitions of the batches' days first, in a transaction of its
        own; if another replica dropped one of them meanwhile, the write is tried once more.
        """
        layout = self._layout(model)
        name = layout.table.name
        with self._errors(f"ingest predictions of model {model!r}"):
            partitioned = self._partitions is not None and self._partitions.partitioned(name)
            for attempt in (1, 2):
                if partitioned:
                    assert self._partitions is not None
                    self._partitions.ensure(name, days_of(b.ts for b in batches))
                try:
                    return self._insert_predictions(layout, batches, partitioned)
                except Exception as exc:
                    if attempt == 2 or not partitioned or not is_missing_partition(exc):
                        raise
                    assert self._partitions is not None
                    self._partitions.forget(name)
        raise AssertionError("unreachable")

    def _insert_predictions(self, layout: ModelLayout, batches: Sequence[Batch], partitioned: bool) -> list[int]:
        with self._writer.begin() as conn:
            raw = self._raw(conn)
            if self._postgres and len(batches) > 1:  # one COPY for the group; RETURNING splits the count
                merged, owner = merge_batches(batches)
                inserted = _postgres.insert_predictions_returning(raw, layout, merged, partitioned)
                counts = counts_by_batch(merged, owner, inserted, len(batches))
            elif self._postgres:
                counts = [int(_postgres.insert_predictions(raw, layout, batches[0], partitioned))]
            else:  # SQLite is in-process: one statement per batch costs no round trip
                counts = [int(_sqlite.insert_predictions(raw, layout, b)) for b in batches]
            counters.add_ingested(conn, layout.model, sum(counts))  # same transaction: counted iff stored
        return counts

    def ingest_labels(self, model: str, frame: pd.DataFrame) -> LabelResult:
        """Join late labels to their predictions by id; ids that match nothing are reported, not fatal."""
        layout = self._layout(model)
        batch = prepare_labels(layout, frame)
        if not len(batch):
            return LabelResult(updated=0, unknown_ids=())
        with self._errors(f"ingest labels of model {model!r}"), self._writer.begin() as conn:
            if self._partitions is not None and self._partitions.partitioned(layout.table.name):
                # The days as the catalog has them now (another replica may have made one this one never saw).
                days = [r.name for r in sorted(Partitions.read(conn, layout.table.name), key=lambda r: -r.lo)]
                updated, unknown = _postgres.update_labels(self._raw(conn), layout, batch, days)
            else:
                updated, unknown = self._bulk.update_labels(self._raw(conn), layout, batch)
        return LabelResult(updated=int(updated), unknown_ids=tuple(unknown))

    def delete_predictions_before(self, model: str, cutoff: datetime, *, batch: int = 10_000) -> int:
        """Delete ``model``'s predictions with a timestamp before ``cutoff``, ``batch`` rows per
        transaction (so a long backlog never holds one huge lock or transaction); return how many.

        A partitioned log drops the day partitions wholly before ``cutoff`` first (one catalog
        change each, however many rows), then deletes the rest of the day the cutoff falls in.
        The ingest counters are totals of what was ever accepted: retention does not lower them.
        """
        layout = self._layout(model)
        table, cutoff = layout.table, to_utc(cutoff)
        deleted = 0
        if self._partitions is not None and self._partitions.partitioned(table.name):
            with self._errors(f"drop old partitions of model {model!r}"):
                deleted += self._partitions.drop_before(table.name, cutoff)
        old = table.c.ts < cutoff
        ids = sa.select(table.c.prediction_id).where(old).limit(batch).scalar_subquery()
        while True:
            with self._errors(f"delete old predictions of model {model!r}"), self._writer.begin() as conn:
                # ``old`` on the outer statement too: an id is unique only with its time on a partitioned log.
                n = int(conn.execute(sa.delete(table).where(old, table.c.prediction_id.in_(ids))).rowcount)
            deleted += n
            if n < batch:
                return deleted

    def delete_runs_before(self, monitor: str, cutoff: datetime, *, batch: int = 1_000) -> int:
        """Delete ``monitor``'s runs whose window ended before ``cutoff``, with their results, in
        batches; return how many. Run counters (totals ever run) are not lowered."""
        cutoff = to_utc(cutoff)
        ids = (sa.select(RunRow.id).where(RunRow.monitor == monitor, RunRow.window_end < cutoff)
               .limit(batch).scalar_subquery())
        deleted = 0
        while True:
            with self._session(f"delete old runs of monitor {monitor!r}") as session:
                # Results first: SQLite enforces ON DELETE CASCADE only with its foreign-key pragma on.
                for child in (FeatureResultRow, PerformanceResultRow, EstimatedPerformanceRow):
                    session.execute(sa.delete(child).where(child.run_id.in_(ids)))
                n = int(session.execute(sa.delete(RunRow).where(RunRow.id.in_(ids))).rowcount)  # type: ignore[attr-defined]
            deleted += n
            if n < batch:
                return deleted

    def read_window(self, monitor: Monitor, window: WindowSpec) -> pd.DataFrame:
        """The monitor's rows with ``start <= ts < end`` (or the last ``rows`` before ``end``), oldest first.

        Columns, named as in the monitor's schema: id, timestamp (UTC), features, prediction, score
        (if declared), target (``label`` if none is declared), and ``label_ts``. Numbers are float64
        with NaN for missing; text columns are strings with missing as NA.
        """
        self._config.monitor(monitor.name)  # UnknownMonitor for a monitor this store does not serve
        layout = self._layout(monitor.model)
        s = monitor.schema
        names = {"prediction_id": s.prediction_id, "ts": s.timestamp, **{f: f for f in s.features},
                 "prediction": s.prediction, **({"score": s.prediction_score} if s.prediction_score else {}),
                 "label": s.target or "label", "label_ts": "label_ts"}
        values = [c for c in names if c not in ("prediction_id", "ts", "label_ts")]
        numbers = [c for c in values if layout.kind(c) is Kind.NUMBER]
        texts = [c for c in values if layout.kind(c) is Kind.TEXT]
        binaries = [c for c in values if layout.kind(c) is Kind.EMBEDDING]
        if window.rows is not None and window.rows < 1:
            raise InputError(f"window.rows ({window.rows}) must be at least 1", field="rows")
        spec = WindowSpec(end=to_utc(window.end), start=to_utc(window.start) if window.start else None,
                          rows=window.rows)
        with self._errors(f"read the window of monitor {monitor.name!r}"), self._engine.begin() as conn:
            cols = self._bulk.read_columns(self._raw(conn), layout, numbers, texts, spec, binaries)
        return to_frame(names, cols)

    def count_predictions(self, model: str) -> int:
        """How many predictions of ``model`` are stored."""
        table = self._layout(model).table
        with self._errors(f"count predictions of model {model!r}"), self._engine.connect() as conn:
            return int(conn.scalar(sa.select(sa.func.count()).select_from(table)) or 0)

    # -- references -------------------------------------------------------------------------

    def add_reference(self, monitor: str, profile: bytes, content_hash: str, source: str, n_rows: int,
                      *, activate: bool = True, input_hash: str | None = None) -> ReferenceRecord:
        """Store a new reference version (previous max + 1); older versions are kept."""
        self._config.monitor(monitor)
        with self._session(f"add a reference of monitor {monitor!r}") as session:
            return self._insert_reference(session, monitor, profile, content_hash, source, n_rows,
                                          activate=activate, input_hash=input_hash)

    def active_reference(self, monitor: str) -> ReferenceRecord | None:
        """The active reference version of ``monitor``, if it has one, without its profile (read
        a version's profile with :meth:`reference`)."""
        self._config.monitor(monitor)
        with self._session(f"read the reference of monitor {monitor!r}", write=False) as session:
            row = session.scalar(sa.select(ReferenceVersionRow).where(ReferenceVersionRow.monitor == monitor,
                                                                       ReferenceVersionRow.active)
                                 .options(_WITHOUT_PROFILE))
            return _listed(row) if row else None

    def active_reference_version(self, monitor: str) -> int | None:
        """The active reference version of ``monitor`` (without its profile: a run whose fit is
        cached needs only the number)."""
        self._config.monitor(monitor)
        with self._session(f"read the reference of monitor {monitor!r}", write=False) as session:
            return session.scalar(sa.select(ReferenceVersionRow.version).where(
                ReferenceVersionRow.monitor == monitor, ReferenceVersionRow.active))

    def active_reference_versions(self) -> dict[str, tuple[int, str]]:
        """Monitor -> (version, content hash) of its active reference, in one query and without
        the profiles (what a metrics scrape needs: ``driftline_reference_info``)."""
        names = self._monitor_names()
        with self._session("read the active reference versions", write=False) as session:
            rows = session.execute(
                sa.select(ReferenceVersionRow.monitor, ReferenceVersionRow.version, ReferenceVersionRow.content_hash)
                .where(ReferenceVersionRow.active, ReferenceVersionRow.monitor.in_(names)))
            return {monitor: (version, content_hash) for monitor, version, content_hash in rows}

    def references(self, monitor: str) -> list[ReferenceRecord]:
        """Every reference version of ``monitor``, oldest first, without their profiles (read one
        version's profile with :meth:`reference`)."""
        self._config.monitor(monitor)
        with self._session(f"list the references of monitor {monitor!r}", write=False) as session:
            rows = session.scalars(sa.select(ReferenceVersionRow).where(ReferenceVersionRow.monitor == monitor)
                                   .order_by(ReferenceVersionRow.version).options(_WITHOUT_PROFILE))
            return [_listed(r) for r in rows]

    def reference(self, monitor: str, version: int) -> ReferenceRecord | None:
        """One reference version of ``monitor`` with its profile, if it is stored."""
        self._config.monitor(monitor)
        with self._session(f"read reference {version} of monitor {monitor!r}", write=False) as session:
            row = session.get(ReferenceVersionRow, (monitor, version))
            return row.to_domain() if row else None

    def has_reference_hash(self, monitor: str, content_hash: str) -> bool:
        """Whether any version of ``monitor`` has this content hash (without reading profiles)."""
        self._config.monitor(monitor)
        with self._session(f"look up the references of monitor {monitor!r}", write=False) as session:
            found = session.scalar(sa.select(ReferenceVersionRow.version).where(
                ReferenceVersionRow.monitor == monitor, ReferenceVersionRow.content_hash == content_hash).limit(1))
            return found is not None

    def has_reference_input(self, monitor: str, input_hash: str) -> bool:
        """Whether a version of ``monitor`` was fitted from this input (without reading profiles)."""
        self._config.monitor(monitor)
        with self._session(f"look up the references of monitor {monitor!r}", write=False) as session:
            found = session.scalar(sa.select(ReferenceVersionRow.version).where(
                ReferenceVersionRow.monitor == monitor, ReferenceVersionRow.input_hash == input_hash).limit(1))
            return found is not None

    def remember_reference_input(self, monitor: str, content_hash: str, input_hash: str) -> None:
        """Record that the versions with ``content_hash`` were (also) fitted from ``input_hash``."""
        self._config.monitor(monitor)
        with self._session(f"update the references of monitor {monitor!r}") as session:
            session.execute(sa.update(ReferenceVersionRow).where(
                ReferenceVersionRow.monitor == monitor, ReferenceVersionRow.content_hash == content_hash)
                .values(input_hash=input_hash))

    def activate_reference(self, monitor: str, version: int) -> ReferenceRecord:
        """Make ``version`` the active reference; :class:`UnknownReference` if it does not exist."""
        self._config.monitor(monitor)
        with self._session(f"activate reference {version} of monitor {monitor!r}") as session:
            row = session.get(ReferenceVersionRow, (monitor, version))
            if row is None:
                raise UnknownReference(monitor, version)
            self._deactivate(session, monitor)
            row.active = True
            session.flush()
            return row.to_domain()

    # -- runs -------------------------------------------------------------------------------

    def save_run(self, run: Run, events: Sequence[OutboxMessage] = (), *,
                 concept_state: ConceptStateRecord | None = None) -> None:
        """Write the run, all its results, its outbox ``events`` and its monitor's advanced
        ``concept_state`` in one transaction.

        An event whose (target, idempotency_key) is stored already is skipped; a concept state
        whose revision another run advanced meanwhile is not written (see ``storage.concept``).
        Raises :class:`DuplicateRun` when ``(monitor, window_end)`` (or the run id) is stored already.
        """
        with self._errors(f"save run {run.id!r} of monitor {run.monitor!r}"):
            try:
                with Session(self._writer) as session, session.begin():
                    row = RunRow.from_domain(run)
                    session.add(row)
                    session.flush()  # the run first: a second run of the window fails here, as DuplicateRun
                    counters.add_run(session, row)
                    alerting.insert_messages(session, events)
                    if concept_state is not None:
                        concept.write_state(session, concept_state)
            except sa.exc.IntegrityError as exc:
                if not _unique_violation(exc):
                    raise
                raise DuplicateRun(f"monitor {run.monitor!r} already has a run for the window ending "
                                   f"{run.window_end.isoformat()} (or run id {run.id!r} exists)",
                                   monitor=run.monitor, window_end=run.window_end) from exc

    def concept_state(self, monitor: str) -> ConceptStateRecord | None:
        """The stored concept-drift detector state of ``monitor``, or None."""
        with self._session(f"read the concept state of monitor {monitor!r}", write=False) as session:
            return concept.read_state(session, monitor)

    def update_performance(self, run_id: str, performance: Sequence[PerformanceRecord], labelled_rows: int,
                           label_coverage: float | None, concept_drift: bool | None, *,
                           estimates: Sequence[Estimate] | None = None) -> None:
        """Replace a run's performance results (and, given, its estimates) once late labels have
        arrived; :class:`UnknownRun` if no such run."""
        with self._session(f"update the performance of run {run_id!r}") as session:
            found = session.execute(sa.update(RunRow).where(RunRow.id == run_id).values(
                labelled_rows=labelled_rows, label_coverage=label_coverage, concept_drift=concept_drift))
            if not found.rowcount:  # type: ignore[attr-defined]
                raise UnknownRun(run_id)
            session.execute(sa.delete(PerformanceResultRow).where(PerformanceResultRow.run_id == run_id))
            for i, record in enumerate(performance):
                row = PerformanceResultRow.from_domain(i, record)
                row.run_id = run_id
                session.add(row)
            if estimates is not None:
                session.execute(sa.delete(EstimatedPerformanceRow).where(EstimatedPerformanceRow.run_id == run_id))
                for i, est in enumerate(with_concept_flag(estimates, concept_drift)):
                    estimate_row = EstimatedPerformanceRow.from_domain(i, est)
                    estimate_row.run_id = run_id
                    session.add(estimate_row)

    def get_run(self, run_id: str) -> Run | None:
        """The run with all its results, or None."""
        with self._session(f"read run {run_id!r}", write=False) as session:
            row = session.get(RunRow, run_id, options=_WITH_RESULTS)
            return row.to_domain() if row else None

    def list_runs(self, monitor: str, start: datetime | None = None, end: datetime | None = None,
                  limit: int = 100, *, results: bool = True) -> list[Run]:
        """Runs of ``monitor`` with ``start <= window_end < end``, newest first.

        With ``results=False`` the runs come without their per-column and performance results
        (empty tuples), which are then never read. Paging is by key: pass the last run's
        ``window_end`` as the next page's ``end``.
        """
        query = sa.select(RunRow).where(RunRow.monitor == monitor)
        if start is not None:
            query = query.where(RunRow.window_end >= start)
        if end is not None:
            query = query.where(RunRow.window_end < end)
        query = query.order_by(RunRow.window_end.desc()).limit(limit).options(
            *(_WITH_RESULTS if results else _WITHOUT_RESULTS))
        with self._session(f"list the runs of monitor {monitor!r}", write=False) as session:
            if not results:
                return [r.to_domain(features=(), performance=(), estimates=()) for r in session.scalars(query)]
            return [r.to_domain() for r in session.scalars(query)]

    def latest_runs(self) -> dict[str, Run]:
        """Latest run (by window end, any status) of every monitor in the configuration that has one."""
        with self._session("read the latest runs", write=False) as session:
            return self._latest.read(session, self._monitor_names())

    def latest_verdicts(self) -> dict[str, Run]:
        """Latest run with a verdict (``ok`` or ``drift``) of every configured monitor that has one."""
        with self._session("read the latest verdicts", write=False) as session:
            return self._verdicts.read(session, self._monitor_names())

    def latest_and_verdicts(self) -> tuple[dict[str, Run], dict[str, Run]]:
        """:meth:`latest_runs` and :meth:`latest_verdicts` in one read (what a scrape needs)."""
        with self._session("read the latest runs", write=False) as session:
            return self._both.read_both(session, self._monitor_names())

    def run_stats(self, buckets: Sequence[float] = DURATION_BUCKETS) -> dict[str, RunAggregates]:
        """Aggregates over all stored runs of every configured monitor that has runs, from the
        counters each run write keeps (:mod:`monitor.storage.counters`; no scan of ``runs``).

        ``buckets`` are the duration histogram's upper bounds, the exporter's by default.
        """
        with self._session("aggregate the runs", write=False) as session:
            if tuple(buckets) == DURATION_BUCKETS:
                return counters.run_totals(session, self._monitor_names())
            return run_aggregates(session, self._monitor_names(), buckets)  # other bounds: one scan

    def ingested_counts(self) -> dict[str, int]:
        """Model -> predictions stored, from the counters the ingest keeps (one indexed read, no scan)."""
        with self._session("count the ingested predictions", write=False) as session:
            return counters.ingested(session, list(self._layouts))

    # -- outbox -----------------------------------------------------------------------------

    def enqueue(self, messages: Sequence[OutboxMessage]) -> int:
        """Add messages outside a run (retraining triggers); return how many were new, not duplicates."""
        with self._session("enqueue outbox messages") as session:
            return alerting.insert_messages(session, messages)

    def outbox_due(self, now: datetime, limit: int) -> list[OutboxMessage]:
        """Pending messages due at ``now`` (next attempt unset or not after ``now``), oldest first."""
        with self._session("read the due outbox messages", write=False) as session:
            return alerting.outbox_due(session, now, limit)

    def outbox_claim(self, now: datetime, limit: int) -> list[OutboxMessage]:
        """The due messages this replica is to send now (what the deliverer asks for).

        On PostgreSQL they are claimed for :attr:`outbox_claim_for` (``FOR UPDATE SKIP LOCKED``),
        so two replicas never send one message; SQLite has one process: :meth:`outbox_due`.
        """
        if not self._postgres:
            return self.outbox_due(now, limit)
        with self._session("claim the due outbox messages") as session:
            return leases.claim_outbox(session, now, limit, self.outbox_claim_for)

    def outbox_update(self, message: OutboxMessage) -> None:
        """Store an attempt's result on the message with ``message.id``; :class:`UnknownOutboxMessage` if none."""
        with self._session(f"update outbox message {message.id}") as session:
            alerting.outbox_update(session, message)

    def outbox_messages(self, status: DeliveryStatus | None = None, limit: int = 100) -> list[OutboxMessage]:
        """Messages (of one status, if given), newest first."""
        with self._session("list the outbox", write=False) as session:
            return alerting.outbox_messages(session, status, limit)

    def outbox_counts(self) -> dict[tuple[str, str], int]:
        """(target, outcome) -> delivery attempts: ``delivered``, ``failed``, ``dead_letter``."""
        with self._session("count the outbox", write=False) as session:
            return alerting.outbox_counts(session)

    def dead_letters(self) -> dict[str, int]:
        """Target -> dead-lettered messages, for every target with a message (zeros included)."""
        return {target: n for (target, outcome), n in self.outbox_counts().items() if outcome == "dead_letter"}

    # -- Alertmanager and retraining --------------------------------------------------------

    def record_alertmanager(self, *, fingerprint: str, starts_at: datetime, alertname: str, monitor: str | None,
                            status: str, labels: Mapping[str, str], now: datetime) -> bool:
        """Record one received alert; True only for the first delivery of a firing ``(fingerprint, starts_at)``."""
        with self._session(f"record alert {alertname!r}") as session:
            return alerting.record_alertmanager(session, fingerprint=fingerprint, starts_at=starts_at,
                                                alertname=alertname, monitor=monitor, status=status,
                                                labels=labels, now=now)

    def alertmanager_notifications(self, limit: int = 100) -> list[dict[str, object]]:
        """Recorded alert episodes, most recently received first."""
        with self._session("list the Alertmanager notifications", write=False) as session:
            return alerting.alertmanager_notifications(session, limit)

    def create_retrain_job(self, job: RetrainJob) -> tuple[RetrainJob, bool]:
        """Store ``job`` unless its trigger key is known: (the stored job, created?)."""
        with self._session(f"create retrain job for monitor {job.monitor!r}") as session:
            return alerting.create_retrain_job(session, job)

    def create_retrain_job_checked(self, monitor: str,
                                   decide: Callable[[list[RetrainJob]], RetrainJob | None]) -> tuple[RetrainJob, bool] | None:
        """Check the cooldown and daily budget and record the job in one transaction: (job, created?) or None.

        ``decide`` gets the monitor's recent jobs and returns the job to store (triggered or
        skipped) or None (no policy). On PostgreSQL a transaction-scoped advisory lock per monitor
        makes the check and the insert one step, so two replicas cannot both pass a cooldown.
        """
        with self._session(f"create retrain job for monitor {monitor!r}") as session:
            if self._postgres:
                session.execute(sa.select(sa.func.pg_advisory_xact_lock(
                    sa.func.hashtextextended(f"driftline.retrain:{monitor}", 0))))
            job = decide(alerting.retrain_jobs(session, monitor, None, 100))
            return None if job is None else alerting.create_retrain_job(session, job)

    def update_retrain_job(self, job_id: str, *, status: JobStatus, detail: str | None = None,
                           triggered_at: datetime | None = None, completed_at: datetime | None = None,
                           reference_version: int | None = None) -> RetrainJob:
        """Set the status and the given fields of a job; :class:`UnknownRetrainJob` if there is no such job."""
        with self._session(f"update retrain job {job_id!r}") as session:
            return alerting.update_retrain_job(session, job_id, status=status, detail=detail,
                                               triggered_at=triggered_at, completed_at=completed_at,
                                               reference_version=reference_version)

    def complete_retrain_job(self, job_id: str, *, status: JobStatus, detail: str | None, completed_at: datetime,
                             reference: NewReference | None = None) -> RetrainJob:
        """End a job and, with ``reference``, promote it as the monitor's active reference: one transaction.

        Either the job is updated and its reference is active, or nothing is written: a refused
        update (a text the database does not take, a lost connection) must not leave a promoted
        reference behind a job that still looks unfinished. A reference with the content of the
        active one is not stored again; the job records the active version.
        :class:`UnknownRetrainJob` if there is no such job.
        """
        with self._session(f"complete retrain job {job_id!r}") as session:
            job = alerting.lock_retrain_job(session, job_id)
            if job is None:
                raise UnknownRetrainJob(job_id)
            version = None
            if reference is not None:
                self._config.monitor(job.monitor)
                active = session.scalar(sa.select(ReferenceVersionRow).where(
                    ReferenceVersionRow.monitor == job.monitor, ReferenceVersionRow.active))
                if active is not None and active.content_hash == reference.content_hash:
                    version = active.version
                else:
                    version = self._insert_reference(session, job.monitor, reference.profile, reference.content_hash,
                                                     reference.source, reference.n_rows, activate=True).version
            return alerting.update_retrain_job(session, job_id, status=status, detail=detail,
                                               triggered_at=None, completed_at=completed_at,
                                               reference_version=version)

    def get_retrain_job(self, job_id: str) -> RetrainJob | None:
        """The job, or None."""
        with self._session(f"read retrain job {job_id!r}", write=False) as session:
            return alerting.get_retrain_job(session, job_id)

    def retrain_jobs(self, monitor: str | None = None, since: datetime | None = None,
                     limit: int = 100) -> list[RetrainJob]:
        """Jobs (of ``monitor``, created at or after ``since``), newest first."""
        with self._session("list the retrain jobs", write=False) as session:
            return alerting.retrain_jobs(session, monitor, since, limit)

    def retrain_counts(self) -> dict[tuple[str, str, str], int]:
        """(monitor, model, outcome) -> triggers."""
        with self._session("count the retrain jobs", write=False) as session:
            return alerting.retrain_counts(session)

    # -- helpers ----------------------------------------------------------------------------

    @property
    def leases(self) -> bool:
        """Whether scheduled windows are claimed before they run (PostgreSQL: replicas share the work)."""
        return self._postgres

    def claim_windows(self, monitor: str, end: datetime, holder: str, ttl: timedelta) -> list[datetime]:
        """Claim the window ending at ``end`` and ``monitor``'s expired leases; the window ends to run (PostgreSQL)."""
        with self._session(f"claim a window of monitor {monitor!r}") as session:
            return leases.claim_windows(session, monitor, to_utc(end), holder, ttl)

    def finish_window(self, monitor: str, end: datetime, holder: str) -> None:
        """Mark this holder's lease of a window done (PostgreSQL)."""
        with self._session(f"finish a window of monitor {monitor!r}") as session:
            leases.finish_window(session, monitor, to_utc(end), holder)

    def _monitor_names(self) -> list[str]:
        return [m.name for m in self._config.monitors]

    def _layout(self, model: str) -> ModelLayout:
        try:
            return self._layouts[model]
        except KeyError:
            raise InputError(f"no monitor in the configuration watches model {model!r}", field="model") from None

    def _errors(self, action: str) -> AbstractContextManager[None]:
        return translate_errors(self._engine, action)

    @staticmethod
    def _raw(conn: sa.Connection) -> Any:
        return conn.connection.driver_connection

    @contextmanager
    def _session(self, action: str, *, write: bool = True) -> Iterator[Session]:
        """A session in one transaction (``write``: SQLite takes the write lock at BEGIN)."""
        with self._errors(action), Session(self._writer if write else self._engine) as session, session.begin():
            yield session

    def _insert_reference(self, session: Session, monitor: str, profile: bytes, content_hash: str, source: str,
                          n_rows: int, *, activate: bool, input_hash: str | None = None) -> ReferenceRecord:
        """A new reference version (previous max + 1) in ``session``'s transaction."""
        if self._postgres:  # serialise version numbering per monitor across processes
            key = sa.func.hashtext(f"driftline.reference:{monitor}")
            session.execute(sa.select(sa.func.pg_advisory_xact_lock(key)))
        latest = session.scalar(sa.select(sa.func.max(ReferenceVersionRow.version))
                                .where(ReferenceVersionRow.monitor == monitor))
        if activate:
            self._deactivate(session, monitor)
        row = ReferenceVersionRow(monitor=monitor, version=(latest or 0) + 1, content_hash=content_hash,
                                  created_at=datetime.now(UTC), source=source, n_rows=n_rows,
                                  active=activate, profile=profile, input_hash=input_hash)
        session.add(row)
        session.flush()
        return row.to_domain()

    @staticmethod
    def _deactivate(session: Session, monitor: str) -> None:
        session.execute(sa.update(ReferenceVersionRow).where(ReferenceVersionRow.monitor == monitor,
                                                              ReferenceVersionRow.active).values(active=False))


def _listed(row: ReferenceVersionRow) -> ReferenceRecord:
    """A reference row read without its (deferred) profile, as a record with an empty profile."""
    return ReferenceRecord(monitor=row.monitor, version=row.version, content_hash=row.content_hash,
                           created_at=row.created_at, source=row.source, n_rows=row.n_rows, active=row.active,
                           input_hash=row.input_hash)


def _unique_violation(exc: sa.exc.IntegrityError) -> bool:
    orig = exc.orig
    if getattr(orig, "sqlstate", None) == "23505":  # PostgreSQL unique_violation
        return True
    return getattr(orig, "sqlite_errorname", "") in ("SQLITE_CONSTRAINT_UNIQUE", "SQLITE_CONSTRAINT_PRIMARYKEY")
