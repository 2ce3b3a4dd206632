"""Window leases and outbox claims: how N ``serve`` replicas on one PostgreSQL share the work.

Plain functions over a :class:`~sqlalchemy.orm.Session` the store opens (one short transaction
each). Times are the database's (``now()``), so replicas on hosts with skewed clocks agree on
which lease has expired. ``FOR UPDATE SKIP LOCKED`` means a replica never waits on a row another
is taking: it moves on, and the row is that other replica's. See docs/scaling.md.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from monitor.domain import DeliveryStatus, OutboxMessage
from monitor.storage.tables import Base, OutboxRow, RunRow, WindowLeaseRow

__all__ = ["STALE_LIMIT", "claim_outbox", "claim_windows", "finish_window"]

_LEASES = Base.metadata.tables[WindowLeaseRow.__tablename__]
_OUTBOX = Base.metadata.tables[OutboxRow.__tablename__]
#: At most this many expired leases of one monitor are taken over per tick (a long outage's backlog drains).
STALE_LIMIT = 10


def _has_run(session: Session, monitor: str, end: datetime) -> bool:
    return session.scalar(sa.select(sa.literal(1)).where(RunRow.monitor == monitor, RunRow.window_end == end)) is not None


def _expired(monitor: str) -> sa.ColumnElement[bool]:
    return sa.and_(_LEASES.c.monitor == monitor, _LEASES.c.done.is_(False), _LEASES.c.expires_at < sa.func.now())


def claim_windows(session: Session, monitor: str, end: datetime, holder: str, ttl: timedelta) -> list[datetime]:
    """Claim the window ending at ``end`` and any expired lease of ``monitor``; the window ends this holder runs.

    The current window is claimed by inserting its lease (``ON CONFLICT DO NOTHING``: a live
    holder keeps it) or by taking it over once expired. An expired, unfinished lease of an
    earlier window is a replica that died mid-run: it is taken over too (oldest first). A window
    whose run is already stored is marked done instead of claimed.
    """
    expires = sa.func.now() + ttl
    stale = session.scalars(sa.select(_LEASES.c.window_end).where(_expired(monitor), _LEASES.c.window_end != end)
                            .order_by(_LEASES.c.window_end).limit(STALE_LIMIT).with_for_update(skip_locked=True)).all()
    inserted = session.execute(postgresql.insert(_LEASES).values(
        monitor=monitor, window_end=end, holder=holder, expires_at=expires, done=False)
        .on_conflict_do_nothing(index_elements=["monitor", "window_end"]).returning(_LEASES.c.window_end)).first()
    current = [end] if inserted is not None else list(session.scalars(
        sa.select(_LEASES.c.window_end).where(_expired(monitor), _LEASES.c.window_end == end)
        .with_for_update(skip_locked=True)))
    claimed: list[datetime] = []
    for window_end in [*stale, *current]:
        run = _has_run(session, monitor, window_end)
        session.execute(sa.update(_LEASES).where(_LEASES.c.monitor == monitor, _LEASES.c.window_end == window_end)
                        .values(holder=holder, expires_at=expires, done=run))
        if not run:
            claimed.append(window_end)
    return claimed


def finish_window(session: Session, monitor: str, end: datetime, holder: str) -> None:
    """Mark this holder's lease of the window done, and forget the monitor's older finished leases."""
    session.execute(sa.update(_LEASES).where(_LEASES.c.monitor == monitor, _LEASES.c.window_end == end,
                                             _LEASES.c.holder == holder).values(done=True))
    session.execute(sa.delete(_LEASES).where(_LEASES.c.monitor == monitor, _LEASES.c.done.is_(True),
                                             _LEASES.c.window_end < end))


def claim_outbox(session: Session, now: datetime, limit: int, claim: timedelta) -> list[OutboxMessage]:
    """Due messages, each claimed by this replica for ``claim`` (``FOR UPDATE SKIP LOCKED``).

    The claim is the message's next attempt moved to ``now + claim``: no other replica finds it
    due until then, and the deliverer's own update (delivered, or the next retry) replaces it. A
    replica that dies holding a claim leaves the message due again once the claim has passed.
    """
    rows = session.scalars(
        sa.select(OutboxRow).where(OutboxRow.status == DeliveryStatus.PENDING.value,
                                   sa.or_(OutboxRow.next_attempt_at.is_(None), OutboxRow.next_attempt_at <= now))
        .order_by(OutboxRow.created_at, OutboxRow.id).limit(limit).with_for_update(skip_locked=True)).all()
    messages = [row.to_domain() for row in rows]
    if rows:
        session.execute(sa.update(_OUTBOX).where(_OUTBOX.c.id.in_([r.id for r in rows]))
                        .values(next_attempt_at=now + claim))
    return messages
