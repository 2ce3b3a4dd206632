"""The alerting tables' SQL: outbox, Alertmanager notifications, retraining jobs.

Plain functions over a :class:`~sqlalchemy.orm.Session` the :class:`~monitor.storage.store.Store`
opens, so the store keeps the transactions (a run and its outbox rows commit together) and the
error translation, and this module keeps the statements. "Skip if already there" is always
``INSERT ... ON CONFLICT (<that key>) DO NOTHING`` in both dialects: unlike SQLite's ``INSERT OR
IGNORE``, it still fails on any other constraint, so a broken row is an error, not a lost row.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from monitor.domain import DeliveryStatus, JobStatus, OutboxMessage, RetrainJob
from monitor.errors import UnknownOutboxMessage, UnknownRetrainJob
from monitor.storage._types import to_utc
from monitor.storage.tables import (
    AlertmanagerNotificationRow,
    Base,
    DeliveryCounterRow,
    OutboxRow,
    RetrainCounterRow,
    RetrainJobRow,
)

__all__ = [
    "alertmanager_notifications",
    "create_retrain_job",
    "get_retrain_job",
    "insert_messages",
    "lock_retrain_job",
    "outbox_counts",
    "outbox_due",
    "outbox_messages",
    "outbox_update",
    "record_alertmanager",
    "retrain_counts",
    "retrain_jobs",
    "update_retrain_job",
]

_OUTBOX = Base.metadata.tables[OutboxRow.__tablename__]
_NOTIFICATIONS = Base.metadata.tables[AlertmanagerNotificationRow.__tablename__]
_JOBS = Base.metadata.tables[RetrainJobRow.__tablename__]
_DELIVERIES = Base.metadata.tables[DeliveryCounterRow.__tablename__]
_TRIGGERS = Base.metadata.tables[RetrainCounterRow.__tablename__]
_DELIVERED, _DEAD = DeliveryStatus.DELIVERED.value, DeliveryStatus.DEAD_LETTER.value
#: The outcomes of a delivery attempt (the exporter's ``_OUTCOMES``).
_OUTCOMES = ("delivered", "failed", "dead_letter")


def _insert(session: Session, table: sa.Table) -> Any:
    """The dialect's INSERT, which has ``on_conflict_do_nothing`` / ``on_conflict_do_update``."""
    postgres = session.get_bind().dialect.name == "postgresql"
    return postgresql.insert(table) if postgres else sqlite.insert(table)


# -- outbox ---------------------------------------------------------------------------------


def insert_messages(session: Session, messages: Sequence[OutboxMessage]) -> int:
    """Insert ``messages`` unless their (target, idempotency_key) is stored; return how many were new."""
    if not messages:
        return 0
    now = datetime.now(UTC)
    rows = [{"target": m.target, "idempotency_key": m.idempotency_key, "kind": m.kind, "payload": m.payload,
             "status": DeliveryStatus(m.status).value, "attempts": m.attempts, "next_attempt_at": m.next_attempt_at,
             "last_error": m.last_error, "created_at": m.created_at or now, "delivered_at": m.delivered_at}
            for m in messages]
    statement = (_insert(session, _OUTBOX).on_conflict_do_nothing(index_elements=["target", "idempotency_key"])
                 .returning(_OUTBOX.c.target, _OUTBOX.c.status, _OUTBOX.c.attempts))
    inserted = session.execute(statement, rows).all()  # RETURNING yields only the rows inserted
    deltas: dict[tuple[str, str], int] = {}
    for target, status, attempts in inserted:
        for outcome, n in _attempts(status, attempts).items():
            deltas[(target, outcome)] = deltas.get((target, outcome), 0) + n
    _count_deliveries(session, deltas)
    return len(inserted)


def _attempts(status: str, attempts: int) -> dict[str, int]:
    """What one message contributes to each outcome: its last attempt is the outcome if delivered
    or dead-lettered, and every other attempt failed (the reconstruction revision 0014 backfilled)."""
    final = status in (_DELIVERED, _DEAD)
    return {"delivered": int(status == _DELIVERED), "dead_letter": int(status == _DEAD),
            "failed": 0 if attempts < 1 else attempts - 1 if final else attempts}


def _count_deliveries(session: Session, deltas: Mapping[tuple[str, str], int]) -> None:
    """Add ``deltas`` to the delivery counters in ``session``'s transaction; a target's first
    message creates all three outcome rows, so its series exist at zero."""
    targets = sorted({target for target, _ in deltas})
    if not targets:
        return
    table = _DELIVERIES
    values = [{"target": t, "outcome": o, "attempts": deltas.get((t, o), 0)} for t in targets for o in _OUTCOMES]
    stmt = _insert(session, table)
    session.execute(stmt.on_conflict_do_update(index_elements=["target", "outcome"],
                                               set_={"attempts": table.c.attempts + stmt.excluded.attempts}), values)


def outbox_due(session: Session, now: datetime, limit: int) -> list[OutboxMessage]:
    """Pending messages whose next attempt is due (or never scheduled), oldest first."""
    query = (sa.select(OutboxRow)
             .where(OutboxRow.status == DeliveryStatus.PENDING.value,
                    sa.or_(OutboxRow.next_attempt_at.is_(None), OutboxRow.next_attempt_at <= now))
             .order_by(OutboxRow.created_at, OutboxRow.id).limit(limit))
    return [row.to_domain() for row in session.scalars(query)]


def outbox_update(session: Session, message: OutboxMessage) -> None:
    """Store a delivery attempt's result: status, attempts, next attempt, last error, delivery time."""
    if message.id is None:
        raise ValueError(f"outbox message {message.idempotency_key!r} to {message.target!r} has no id; "
                         "only messages read from the outbox can be updated")
    # The row as it was (locked on PostgreSQL until the commit), so the counters move by exactly
    # what this write changes: the attempt it records, whatever the caller did before.
    old = session.execute(sa.select(_OUTBOX.c.target, _OUTBOX.c.status, _OUTBOX.c.attempts)
                          .where(_OUTBOX.c.id == message.id).with_for_update()).first()
    if old is None:
        raise UnknownOutboxMessage(message.id)
    status = DeliveryStatus(message.status).value
    session.execute(sa.update(_OUTBOX).where(_OUTBOX.c.id == message.id).values(
        status=status, attempts=message.attempts,
        next_attempt_at=message.next_attempt_at, last_error=message.last_error, delivered_at=message.delivered_at))
    before, after = _attempts(old.status, old.attempts), _attempts(status, message.attempts)
    _count_deliveries(session, {(old.target, o): after[o] - before[o] for o in _OUTCOMES})


def outbox_messages(session: Session, status: DeliveryStatus | None, limit: int) -> list[OutboxMessage]:
    """Messages (of one status, if given), newest first."""
    query = sa.select(OutboxRow).order_by(OutboxRow.created_at.desc(), OutboxRow.id.desc()).limit(limit)
    if status is not None:
        query = query.where(OutboxRow.status == DeliveryStatus(status).value)
    return [row.to_domain() for row in session.scalars(query)]


def outbox_counts(session: Session) -> dict[tuple[str, str], int]:
    """(target, outcome) -> delivery attempts by outcome, from the counters each outbox write keeps.

    Every target with a message has all three outcomes, zeros included. One indexed read of a
    few rows per target, however long the outbox (revision 0014).
    """
    table = _DELIVERIES
    return {(target, outcome): int(n) for target, outcome, n in
            session.execute(sa.select(table.c.target, table.c.outcome, table.c.attempts))}


# -- Alertmanager notifications -------------------------------------------------------------


def record_alertmanager(session: Session, *, fingerprint: str, starts_at: datetime, alertname: str,
                        monitor: str | None, status: str, labels: Mapping[str, str], now: datetime) -> bool:
    """Record one alert of a notification; True only the first time a firing episode is seen.

    A resolution marks the episode resolved (recording it if its firing never arrived); the first
    resolution time is kept when Alertmanager repeats the notification.
    """
    if status not in ("firing", "resolved"):
        raise ValueError(f"alert status {status!r} must be 'firing' or 'resolved'")
    values = {"fingerprint": fingerprint, "starts_at": starts_at, "alertname": alertname, "monitor": monitor,
              "status": status, "labels": json.dumps(dict(labels), sort_keys=True), "received_at": now,
              "resolved_at": now if status == "resolved" else None}
    key = ["fingerprint", "starts_at"]
    insert = _insert(session, _NOTIFICATIONS).values(**values)
    if status == "firing":
        return session.execute(insert.on_conflict_do_nothing(index_elements=key)
                               .returning(_NOTIFICATIONS.c.fingerprint)).first() is not None
    resolved_at = sa.func.coalesce(_NOTIFICATIONS.c.resolved_at, insert.excluded.resolved_at)
    session.execute(insert.on_conflict_do_update(index_elements=key,
                                                 set_={"status": status, "resolved_at": resolved_at}))
    return False


def alertmanager_notifications(session: Session, limit: int) -> list[dict[str, object]]:
    """Recorded alert episodes, most recently received first, labels as a dict."""
    query = (sa.select(AlertmanagerNotificationRow)
             .order_by(AlertmanagerNotificationRow.received_at.desc(), AlertmanagerNotificationRow.starts_at.desc())
             .limit(limit))
    return [{"fingerprint": r.fingerprint, "starts_at": r.starts_at, "alertname": r.alertname, "monitor": r.monitor,
             "status": r.status, "labels": json.loads(r.labels), "received_at": r.received_at,
             "resolved_at": r.resolved_at} for r in session.scalars(query)]


# -- retraining jobs ------------------------------------------------------------------------


def create_retrain_job(session: Session, job: RetrainJob) -> tuple[RetrainJob, bool]:
    """Insert ``job`` unless its trigger key is stored; (the stored job, whether it was inserted)."""
    row = RetrainJobRow.from_domain(job)
    values = {c.name: getattr(row, c.key) for c in _JOBS.columns}
    statement = (_insert(session, _JOBS).values(**values).on_conflict_do_nothing(index_elements=["trigger_key"])
                 .returning(_JOBS.c.id))
    created = session.execute(statement).first() is not None
    if created:
        counters = _TRIGGERS
        count = _insert(session, counters).values(monitor=job.monitor, model=job.model, outcome=str(job.outcome), jobs=1)
        session.execute(count.on_conflict_do_update(index_elements=["monitor", "model", "outcome"],
                                                    set_={"jobs": counters.c.jobs + 1}))
    stored = session.scalars(sa.select(RetrainJobRow).where(RetrainJobRow.trigger_key == job.trigger_key)).one()
    return stored.to_domain(), created


def update_retrain_job(session: Session, job_id: str, *, status: JobStatus, detail: str | None,
                       triggered_at: datetime | None, completed_at: datetime | None,
                       reference_version: int | None) -> RetrainJob:
    """Set a job's status and the fields given (None leaves a field as it is); :class:`UnknownRetrainJob`
    if unknown."""
    row = session.get(RetrainJobRow, job_id, with_for_update=True)
    if row is None:
        raise UnknownRetrainJob(job_id)
    row.status = JobStatus(status).value
    if detail is not None:
        row.detail = detail
    if triggered_at is not None:
        row.triggered_at = to_utc(triggered_at)
    if completed_at is not None:
        row.completed_at = to_utc(completed_at)
    if reference_version is not None:
        row.reference_version = reference_version
    session.flush()
    return row.to_domain()


def lock_retrain_job(session: Session, job_id: str) -> RetrainJob | None:
    """The job, locked until ``session``'s transaction ends (``FOR UPDATE`` on PostgreSQL), or None.

    Completing a job reads it, may promote a reference and updates it; the lock keeps two
    completions of one job from interleaving.
    """
    row = session.get(RetrainJobRow, job_id, with_for_update=True)
    return row.to_domain() if row else None


def get_retrain_job(session: Session, job_id: str) -> RetrainJob | None:
    """The job, or None."""
    row = session.get(RetrainJobRow, job_id)
    return row.to_domain() if row else None


def retrain_jobs(session: Session, monitor: str | None, since: datetime | None, limit: int) -> list[RetrainJob]:
    """Jobs (of one monitor, created at or after ``since``, if given), newest first."""
    query = sa.select(RetrainJobRow).order_by(RetrainJobRow.created_at.desc(), RetrainJobRow.id.desc()).limit(limit)
    if monitor is not None:
        query = query.where(RetrainJobRow.monitor == monitor)
    if since is not None:
        query = query.where(RetrainJobRow.created_at >= since)
    return [row.to_domain() for row in session.scalars(query)]


def retrain_counts(session: Session) -> dict[tuple[str, str, str], int]:
    """(monitor, model, outcome) -> how many triggers had that outcome, from the counters each job
    insert keeps (revision 0014; no scan of the job log)."""
    table = _TRIGGERS
    return {(monitor, model, outcome): int(n) for monitor, model, outcome, n in
            session.execute(sa.select(table.c.monitor, table.c.model, table.c.outcome, table.c.jobs))}
