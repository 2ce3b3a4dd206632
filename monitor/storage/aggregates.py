"""Counters that survive restarts, computed by the database: run aggregates and ingested rows.

The exporter's counters (runs by status, the run-duration histogram, rows ingested) are read
from what is stored rather than counted in memory, so a restart or a second replica never resets
or double-counts them. One grouped query serves every monitor.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from monitor.domain import RunStatus
from monitor.storage.tables import RunRow

__all__ = ["DURATION_BUCKETS", "RunAggregates", "row_counts", "run_aggregates"]

#: Upper bounds (seconds) of the run-duration histogram; the same as ``exporters.snapshot.DURATION_BUCKETS``
#: (storage does not import the exporter; a test keeps the two equal).
DURATION_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

_SUCCESSFUL = (RunStatus.OK.value, RunStatus.DRIFT.value)

# A run written by a Driftline older than revision 0002 while this one runs (a rolling upgrade)
# has no duration_seconds; its duration then comes from its times, as the migration computed it.
_SQLITE_DURATION = ("((strftime('%s', substr(runs.finished_at, 1, 19))"
                    " - strftime('%s', substr(runs.started_at, 1, 19))) * 1000000"
                    " + CAST(substr(runs.finished_at, 21, 6) AS INTEGER)"
                    " - CAST(substr(runs.started_at, 21, 6) AS INTEGER)) / 1000000.0")


@dataclass(frozen=True, slots=True, kw_only=True)
class RunAggregates:
    """Aggregates over every stored run of one monitor; the fields of ``exporters.snapshot.RunStats``."""

    by_status: Mapping[str, int] = field(default_factory=dict)
    last_by_status: Mapping[str, datetime] = field(default_factory=dict)
    last_successful: datetime | None = None
    duration_buckets: tuple[int, ...] = ()  # cumulative counts, one per bucket bound (``le``)
    duration_count: int = 0
    duration_sum: float = 0.0


def _duration(dialect: str) -> sa.ColumnElement[float]:
    if dialect == "sqlite":
        fallback: sa.ColumnElement[float] = sa.literal_column(_SQLITE_DURATION, sa.Double())
    else:
        fallback = sa.cast(sa.extract("epoch", RunRow.finished_at - RunRow.started_at), sa.Double())
    return sa.func.coalesce(RunRow.duration_seconds, fallback)


def run_aggregates(session: Session, monitors: Sequence[str],
                   buckets: Sequence[float] = DURATION_BUCKETS) -> dict[str, RunAggregates]:
    """Per monitor of ``monitors`` with runs: counts and newest window end by status, duration histogram.

    One query grouped by (monitor, status); the per-status groups are merged here. A run's
    window end is its timestamp (``last_by_status``, ``last_successful``: runs with a verdict).
    """
    duration = _duration(session.get_bind().dialect.name)
    query = (sa.select(RunRow.monitor, RunRow.status, sa.func.count(), sa.func.max(RunRow.window_end),
                       sa.func.sum(duration),
                       *(sa.func.sum(sa.case((duration <= bound, 1), else_=0)) for bound in buckets))
             .where(RunRow.monitor.in_(list(monitors)))
             .group_by(RunRow.monitor, RunRow.status))
    groups: dict[str, list[tuple[str, int, datetime, float, list[int]]]] = {}
    for monitor, status, n, last, total, *cumulative in session.execute(query):
        groups.setdefault(monitor, []).append((status, int(n), last, float(total or 0.0), [int(c) for c in cumulative]))
    return {monitor: _merge(parts, len(buckets)) for monitor, parts in groups.items()}


def _merge(parts: list[tuple[str, int, datetime, float, list[int]]], n_buckets: int) -> RunAggregates:
    by_status = {status: n for status, n, _, _, _ in parts}
    last_by_status = {status: last for status, _, last, _, _ in parts}
    successful = [last_by_status[s] for s in _SUCCESSFUL if s in last_by_status]
    cumulative = [sum(c[i] for *_, c in parts) for i in range(n_buckets)]
    return RunAggregates(by_status=by_status, last_by_status=last_by_status,
                         last_successful=max(successful) if successful else None,
                         duration_buckets=tuple(cumulative), duration_count=sum(by_status.values()),
                         duration_sum=sum(total for _, _, _, total, _ in parts))


def row_counts(session: Session, tables: Mapping[str, sa.Table]) -> dict[str, int]:
    """Key -> rows in its table, for every table in one statement (``SELECT count(*) ... UNION ALL ...``)."""
    if not tables:
        return {}
    counts = [sa.select(sa.literal(key, sa.Text()).label("key"), sa.func.count().label("n")).select_from(table)
              for key, table in tables.items()]
    return {key: int(n) for key, n in session.execute(sa.union_all(*counts))}
