"""Time partitions of a PostgreSQL prediction log: one per UTC day, made as ingest needs them,
dropped whole by retention.

Why: retention over an unpartitioned log is a DELETE of a day's rows every day, which rewrites
nothing but leaves dead tuples for vacuum and a primary-key index over random ids that never
shrinks; ingest slows as that index outgrows memory. A day partition is dropped as one catalog
change, and each day's rows have their own indexes, small and hot.

The rule a partitioned table imposes: a unique index on the parent must contain the partition
key (TimescaleDB's hypertables have the same rule), so the parent has none, and each day has a
unique index on ``prediction_id`` of its own, made with it. ``ON CONFLICT DO NOTHING`` takes the
unique indexes of the day a row goes to, so an id is unique within its UTC day at the cost of one
index probe, as before. A row within an hour of a midnight also looks for its id within an hour in
the neighbouring day (a retried batch without timestamps is stamped again at receipt, minutes
later, and may cross midnight). An id sent again more than an hour away on another day is a new
row. The idempotency check so costs one probe into one day's index for most rows and two for the
rest, whatever the log's length.

Tables made before partitioning stay as they are (retention deletes their old rows in batches)
until ``driftline db partition`` moves them (:func:`convert`). Partitions are made in a
transaction of their own, serialised across replicas by an advisory lock, so an ingest never
holds the parent's DDL lock while it writes.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import psycopg
import sqlalchemy as sa
from numpy.typing import NDArray

from monitor.storage.layout import identifier

__all__ = ["ACROSS_MIDNIGHT_US", "DAY_US", "DayRange", "Partitions", "convert", "days_of", "is_missing_partition",
           "partitioned_twin", "timestamp_of"]

#: One UTC day in microseconds: the span of a partition.
DAY_US = 86_400_000_000
#: How far into the neighbouring day a row near midnight looks for its id (retries come minutes later).
ACROSS_MIDNIGHT_US = 3_600_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_BOUND = re.compile(r"FROM \('([^']+)'\) TO \('([^']+)'\)")
#: Advisory-lock namespace of partition DDL ("Part"), one lock per table via hashtext.
_LOCK_SPACE = 0x50617274


@dataclass(frozen=True, slots=True)
class DayRange:
    name: str
    lo: int  # microseconds since the Unix epoch, inclusive
    hi: int  # exclusive


def partitioned_twin(table: sa.Table) -> sa.Table:
    """``table`` as a PostgreSQL table partitioned by range of ``ts``, with no key of its own
    (each day's partition gets its unique index on the id when :meth:`Partitions.ensure` makes it)."""
    columns = [sa.Column(c.name, c.type, nullable=c.name not in ("prediction_id", "ts")) for c in table.columns]
    indexes = [sa.Index(ix.name, *(c.name for c in ix.columns)) for ix in table.indexes]
    return sa.Table(table.name, sa.MetaData(), *columns, *indexes, postgresql_partition_by="RANGE (ts)")


def days_of(ts: Iterable[NDArray[np.int64]]) -> set[int]:
    """UTC days (since the Unix epoch) of timestamps in microseconds; one ``np.unique`` per array."""
    return {int(d) for arr in ts if len(arr) for d in np.unique(np.floor_divide(arr, DAY_US))}


def is_missing_partition(exc: BaseException) -> bool:
    """Whether ``exc`` is PostgreSQL refusing a row no partition takes (another replica dropped it)."""
    return isinstance(exc, psycopg.errors.CheckViolation) and "no partition" in str(exc)


def timestamp_of(us: int) -> datetime:
    """The UTC time ``us`` microseconds after the Unix epoch."""
    return _EPOCH + timedelta(microseconds=us)


def _us(text: str) -> int:
    return (datetime.fromisoformat(text) - _EPOCH) // timedelta(microseconds=1)


class Partitions:
    """Which prediction tables are partitioned, and their day partitions: a cache of the catalog.

    A cache may be stale only in one direction that matters: another replica dropped a partition
    this one still lists. An insert then fails with :func:`is_missing_partition`; the caller
    calls :meth:`forget` and tries once more.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self._engine = engine
        self._lock = threading.Lock()
        self._partitioned: dict[str, bool] = {}
        self._ranges: dict[str, list[DayRange]] = {}

    def partitioned(self, table: str) -> bool:
        """Whether ``table`` is a partitioned table (asked of the catalog once per table)."""
        with self._lock:
            known = self._partitioned.get(table)
        if known is None:
            with self._engine.connect() as conn:
                known = bool(conn.scalar(sa.text(
                    "SELECT EXISTS (SELECT 1 FROM pg_partitioned_table WHERE partrelid = to_regclass(quote_ident(:t)))"),
                    {"t": table}))
            with self._lock:
                self._partitioned[table] = known
        return known

    def forget(self, table: str) -> None:
        """Drop what is cached of ``table``; the next call reads the catalog."""
        with self._lock:
            self._partitioned.pop(table, None)
            self._ranges.pop(table, None)

    def ensure(self, table: str, days: Iterable[int]) -> None:
        """Make the partitions of ``days`` (and of the day after the last, so midnight finds its
        partition made) that ``table`` lacks."""
        wanted = set(days)
        if not wanted:
            return
        wanted.add(max(wanted) + 1)
        if not self._missing(table, wanted):
            return
        with self._engine.begin() as conn:
            self._serialise(conn, table)
            ranges = self.read(conn, table)
            ranges += [_create_day(conn, table, day) for day in sorted(self._uncovered(ranges, wanted))]
        with self._lock:
            self._ranges[table] = ranges

    def drop_before(self, table: str, cutoff: datetime) -> int:
        """Drop the partitions of ``table`` that end at or before ``cutoff``; return their rows.

        One transaction per partition: the parent's exclusive lock is held for one catalog
        change at a time, never while another partition is counted.
        """
        limit = (cutoff - _EPOCH) // timedelta(microseconds=1)
        dropped = 0
        with self._engine.connect() as conn:
            old = [r for r in self.read(conn, table) if r.hi <= limit]
            conn.rollback()
        for r in old:
            with self._engine.begin() as conn:
                self._serialise(conn, table)
                if not any(x.name == r.name for x in self.read(conn, table)):
                    continue  # another replica dropped it meanwhile
                dropped += int(conn.scalar(sa.text(f"SELECT count(*) FROM {_quote(r.name)}")) or 0)
                conn.execute(sa.text(f"DROP TABLE {_quote(r.name)}"))
        self.forget(table)
        return dropped

    def _missing(self, table: str, days: set[int]) -> bool:
        with self._lock:
            ranges = self._ranges.get(table)
        if ranges is None:
            with self._engine.connect() as conn:
                ranges = self.read(conn, table)
                conn.rollback()
            with self._lock:
                self._ranges[table] = ranges
        return bool(self._uncovered(ranges, days))

    @staticmethod
    def _uncovered(ranges: list[DayRange], days: set[int]) -> set[int]:
        return {d for d in days if not any(r.lo <= d * DAY_US and (d + 1) * DAY_US <= r.hi for r in ranges)}

    @staticmethod
    def _serialise(conn: sa.Connection, table: str) -> None:
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:space, hashtext(:t))"), {"space": _LOCK_SPACE, "t": table})

    @staticmethod
    def read(conn: sa.Connection, table: str) -> list[DayRange]:
        """The partitions of ``table`` with their bounds, from the catalog in ``conn``'s transaction
        (read in UTC: the bounds print in the session's time zone)."""
        conn.execute(sa.text("SET LOCAL TIME ZONE 'UTC'"))
        rows = conn.execute(sa.text(
            "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits AS i "
            "JOIN pg_class AS c ON c.oid = i.inhrelid WHERE i.inhparent = to_regclass(quote_ident(:t))"),
            {"t": table}).all()
        ranges = []
        for name, bound in rows:
            match = _BOUND.search(str(bound))
            if match:  # a DEFAULT or a list partition someone attached by hand is not ours to manage
                ranges.append(DayRange(str(name), _us(match[1]), _us(match[2])))
        return ranges


def _create_day(conn: sa.Connection, table: str, day: int) -> DayRange:
    """Make the partition of ``day`` with its unique index on the id, in ``conn``'s transaction."""
    stamp = f"{table}_p{timestamp_of(day * DAY_US):%Y%m%d}"
    name = identifier(stamp)
    conn.execute(sa.text(f"CREATE TABLE {_quote(name)} PARTITION OF {_quote(table)} "
                         f"FOR VALUES FROM ('{timestamp_of(day * DAY_US).isoformat()}') "
                         f"TO ('{timestamp_of((day + 1) * DAY_US).isoformat()}')"))
    conn.execute(sa.text(f"CREATE UNIQUE INDEX {_quote(identifier(stamp + '_id'))} ON {_quote(name)} (prediction_id)"))
    return DayRange(name, day * DAY_US, (day + 1) * DAY_US)


def convert(conn: sa.Connection, table: sa.Table) -> int:
    """Move the unpartitioned log ``table`` into a new partitioned one, in ``conn``'s transaction
    (all or nothing); return the rows moved.

    The old table and its indexes are renamed out of the way (index names are per schema), the
    partitioned table made, a partition made for every day the rows fall in, the rows copied and
    the old table dropped. The caller stops ingest first: the rename locks the old table until commit.
    """
    name = table.name
    old = identifier(f"{name}_unpartitioned")
    Partitions._serialise(conn, name)
    indexes = conn.execute(sa.text("SELECT c.relname FROM pg_index AS i JOIN pg_class AS c ON c.oid = i.indexrelid "
                                   "WHERE i.indrelid = to_regclass(quote_ident(:t))"), {"t": name}).scalars().all()
    conn.execute(sa.text(f"ALTER TABLE {_quote(name)} RENAME TO {_quote(old)}"))
    for index in indexes:
        conn.execute(sa.text(f"ALTER INDEX {_quote(index)} RENAME TO {_quote(identifier(f'{index}_unpartitioned'))}"))
    partitioned_twin(table).create(conn)
    days = conn.execute(sa.text(f"SELECT DISTINCT CAST(floor(extract(epoch FROM ts) / 86400) AS bigint) "
                                f"FROM {_quote(old)}")).scalars().all()
    for day in sorted(int(d) for d in days):
        _create_day(conn, name, day)
    columns = ", ".join(_quote(c.name) for c in table.columns)
    moved = conn.execute(sa.text(f"INSERT INTO {_quote(name)} ({columns}) SELECT {columns} FROM {_quote(old)}")).rowcount
    conn.execute(sa.text(f"DROP TABLE {_quote(old)}"))
    return int(moved)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
