"""Counters kept at write time, in the writer's transaction: what a scrape reads instead of scanning.

Why: ``/metrics`` must cost the same with a thousand stored runs and predictions as with tens of
millions. Counting the prediction log on every scrape took 0.6-0.7 s at 10M rows, and
aggregating every run grew with history. The ingest adds its accepted rows to
``ingest_counters`` and a run write adds one to its (monitor, status, duration bucket) row of
``run_counters``, each in the same transaction as the write, so a rolled-back write counts
nothing and a restart or a second replica neither resets nor double-counts.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from monitor.storage.aggregates import DURATION_BUCKETS, RunAggregates
from monitor.storage.layout import ModelLayout
from monitor.storage.tables import IngestCounterRow, RunCounterRow, RunRow

__all__ = ["add_ingested", "add_run", "backfill_ingested", "ingested", "run_totals"]

_SUCCESSFUL = ("ok", "drift")


def _insert(dialect: str, table: sa.Table) -> Any:
    return postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)


def add_ingested(conn: sa.Connection, model: str, rows: int) -> None:
    """Add ``rows`` accepted predictions to ``model``'s counter (in ``conn``'s transaction)."""
    if rows <= 0:
        return
    table = IngestCounterRow.__table__
    stmt = _insert(conn.dialect.name, table).values(model=model, rows=rows)  # type: ignore[arg-type]
    conn.execute(stmt.on_conflict_do_update(index_elements=["model"], set_={"rows": table.c.rows + stmt.excluded.rows}))


def bucket_of(duration: float, buckets: Sequence[float] = DURATION_BUCKETS) -> int:
    """Index of the first bound at or above ``duration`` (``len(buckets)``: above every bound)."""
    return bisect.bisect_left(buckets, duration)


def add_run(session: Session, row: RunRow) -> None:
    """Count one stored run (in ``session``'s transaction)."""
    table = RunCounterRow.__table__
    duration = float(row.duration_seconds or 0.0)
    dialect = session.get_bind().dialect.name
    stmt = _insert(dialect, table).values(  # type: ignore[arg-type]
        monitor=row.monitor, status=row.status, bucket=bucket_of(duration), runs=1, duration_sum=duration,
        last_window_end=row.window_end)
    newer = stmt.excluded.last_window_end > table.c.last_window_end
    session.execute(stmt.on_conflict_do_update(
        index_elements=["monitor", "status", "bucket"],
        set_={"runs": table.c.runs + 1, "duration_sum": table.c.duration_sum + stmt.excluded.duration_sum,
              "last_window_end": sa.case((newer, stmt.excluded.last_window_end), else_=table.c.last_window_end)}))


def ingested(session: Session, models: Sequence[str]) -> dict[str, int]:
    """Model -> predictions stored, for every model in ``models`` (0 for one never written)."""
    rows = session.execute(sa.select(IngestCounterRow.model, IngestCounterRow.rows)
                           .where(IngestCounterRow.model.in_(list(models))))
    counts = {model: 0 for model in models}
    counts.update({model: int(n) for model, n in rows})
    return counts


def run_totals(session: Session, monitors: Sequence[str]) -> dict[str, RunAggregates]:
    """Per monitor with runs: the :class:`RunAggregates` the exporter needs (for
    :data:`DURATION_BUCKETS`), from the counter rows."""
    buckets = DURATION_BUCKETS
    query = (sa.select(RunCounterRow.monitor, RunCounterRow.status, RunCounterRow.bucket, RunCounterRow.runs,
                       RunCounterRow.duration_sum, RunCounterRow.last_window_end)
             .where(RunCounterRow.monitor.in_(list(monitors))))
    parts: dict[str, list[tuple[str, int, int, float, datetime]]] = {}
    for monitor, status, bucket, runs, total, last in session.execute(query):
        parts.setdefault(monitor, []).append((status, int(bucket), int(runs), float(total), last))
    return {monitor: _aggregate(rows, len(buckets)) for monitor, rows in parts.items()}


def _aggregate(rows: list[tuple[str, int, int, float, datetime]], n_buckets: int) -> RunAggregates:
    by_status: dict[str, int] = {}
    last_by_status: dict[str, datetime] = {}
    per_bucket = [0] * (n_buckets + 1)
    for status, bucket, runs, _, last in rows:
        by_status[status] = by_status.get(status, 0) + runs
        if status not in last_by_status or last > last_by_status[status]:
            last_by_status[status] = last
        per_bucket[min(bucket, n_buckets)] += runs
    cumulative, running = [], 0
    for count in per_bucket[:n_buckets]:
        running += count
        cumulative.append(running)
    successful = [last_by_status[s] for s in _SUCCESSFUL if s in last_by_status]
    return RunAggregates(by_status=by_status, last_by_status=last_by_status,
                         last_successful=max(successful) if successful else None,
                         duration_buckets=tuple(cumulative), duration_count=sum(by_status.values()),
                         duration_sum=sum(total for *_, total, _ in rows))


def backfill_ingested(conn: sa.Connection, layouts: Sequence[ModelLayout]) -> None:
    """Give every model without a counter row one, counted from its table once (at upgrade).

    A model's table that exists from before revision 0006 (or was just created) is counted here,
    under the upgrade's lock; from then on only writes move the counter.
    """
    known = set(conn.execute(sa.select(IngestCounterRow.model)).scalars())
    for layout in layouts:
        if layout.model in known:
            continue
        n = conn.execute(sa.select(sa.func.count()).select_from(layout.table)).scalar_one()
        conn.execute(sa.insert(IngestCounterRow).values(model=layout.model, rows=int(n)))
