"""Pushdown: a window's aggregates computed by the source's own SQL engine, in one round trip.

The query is built with SQLAlchemy Core from a :class:`~monitor.stats.binned.SummaryPlan`, so the
same code compiles for every dialect (PostgreSQL, DuckDB, Trino, BigQuery, Snowflake, Spark SQL:
tests/sources/test_pushdown_compile.py compiles it for each). It is one
``UNION ALL`` of one small ``GROUP BY`` per column, each returning

    ``col`` (the column's position in the plan), ``cell``, ``v``, ``label``, ``n``, ``s``

- numerical column: ``cell`` = the grid cell (the number of grid points ``<= x``), ``-1`` for a
  missing value (NULL, NaN, ±inf: the rows' check counts the same as missing); ``n`` the count,
  ``s`` the sum of the cell's values (Wasserstein's bound uses it);
- few-distinct numerical column, a second branch: ``cell = -2`` and ``v`` each distinct finite value;
- categorical column: ``label`` the value as text (``NULL``: missing).

The cell is PostgreSQL's ``width_bucket(x, thresholds)`` (a binary search in C) where the dialect
has it; in DuckDB, which runs in this process, a vectorised NumPy binary search registered as a
function on the connection; elsewhere a balanced ``CASE`` tree of depth ``log2(grid)``: portable
SQL, ~11 comparisons a row. A value is finite iff it is between ``±DBL_MAX``: NULL compares as unknown and NaN sorts
above every number in PostgreSQL and DuckDB and compares false elsewhere, so neither passes.

Why one ``GROUP BY`` per column and not ``GROUPING SETS``: every grouping set computes every
aggregate, so per-cell sums of 20 columns would cost 20 x 20 sums a row; per-column branches
aggregate only their own column, and a columnar engine (DuckDB) reads only that column.

Rows that must still be read (a method with no bounded form, a bound across the threshold) are
read column by column with :func:`read_rows`, all of them up to ``max_rows`` and above that a
uniform sample of ``max_rows`` (the rows with the smallest keys of a seeded ``Generator``, over
the window in time order: the same window and seed give the same sample).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from numpy.typing import NDArray
from sqlalchemy.dialects import postgresql

from monitor.domain import WindowSpec
from monitor.stats.binned import (
    CategoricalSummary,
    ColumnSummary,
    NumericalSummary,
    SummaryPlan,
    WindowSummary,
)

__all__ = ["read_rows", "read_summary", "summary_query", "window_selectable"]

_DBL_MAX = float(np.finfo(np.float64).max)
_MISSING, _VALUE = -1, -2
#: Rows fetched per chunk while sampling (bounded memory whatever the window's size).
_CHUNK = 50_000


def window_selectable(table: sa.TableClause, columns: Mapping[str, str], timestamp: str,
                      window: WindowSpec) -> sa.Subquery:
    """The window's rows as a subquery whose columns carry our names (``columns``: ours -> theirs)."""
    ts = table.c[columns[timestamp]]
    query = sa.select(*(table.c[theirs].label(ours) for ours, theirs in columns.items())).where(
        ts < window.end.astimezone(UTC))
    if window.start is not None:
        query = query.where(ts >= window.start.astimezone(UTC))
    if window.rows:
        query = query.order_by(ts.desc()).limit(window.rows)
    return query.subquery("w")


def _tree(x: sa.ColumnElement[Any], grid: NDArray[np.float64], lo: int, hi: int) -> sa.ColumnElement[Any]:
    """The number of grid points ``<= x``, known to lie in ``[lo, hi]``: a balanced CASE tree."""
    if lo == hi:
        return sa.literal(lo, sa.Integer)
    mid = (lo + hi + 1) // 2
    return sa.case((x >= sa.literal(float(grid[mid - 1]), sa.Double), _tree(x, grid, mid, hi)),
                   else_=_tree(x, grid, lo, mid - 1))


def _cell(x: sa.ColumnElement[Any], grid: NDArray[np.float64], dialect: str, index: int) -> sa.ColumnElement[Any]:
    if dialect == "postgresql" and grid.size:
        thresholds = sa.literal([float(g) for g in grid], postgresql.ARRAY(postgresql.DOUBLE_PRECISION))
        return sa.func.width_bucket(sa.cast(x, postgresql.DOUBLE_PRECISION), thresholds)
    if dialect == "duckdb":  # the function read_summary registers on the connection (in-process engine)
        return sa.func.driftline_cell(sa.cast(x, sa.Double), sa.literal(index, sa.Integer))
    return _tree(x, grid, 0, int(grid.size))


def _register_cells(conn: sa.Connection, plan: SummaryPlan) -> None:
    """DuckDB runs in this process: its cell function is NumPy's ``searchsorted`` on Arrow batches.

    Why: DuckDB evaluates the nested ``CASE`` tree at 0.45 s per column of 1M rows; this
    vectorised binary search does the same cells in 0.10 s (docs/benchmarks.md). The cell is the
    same: the number of grid points ``<= x`` (``side="right"``).
    """
    import pyarrow as pa
    from duckdb.sqltypes import DOUBLE, INTEGER

    grids = [p.grid for p in plan.numerical]

    def cell(values: Any, columns: Any) -> Any:
        x = values.to_numpy(zero_copy_only=False)
        index = columns[0].as_py() if len(columns) else 0
        return pa.array(np.searchsorted(grids[index], x, side="right").astype(np.int32))

    raw = conn.connection.driver_connection
    try:
        raw.remove_function("driftline_cell")  # type: ignore[union-attr]
    except Exception:
        pass
    raw.create_function("driftline_cell", cell, [DOUBLE, INTEGER], INTEGER, type="arrow")  # type: ignore[union-attr]


def _finite(x: sa.ColumnElement[Any]) -> sa.ColumnElement[bool]:
    return sa.cast(x, sa.Double).between(sa.literal(-_DBL_MAX, sa.Double), sa.literal(_DBL_MAX, sa.Double))


def _branch(col: int, cell: sa.ColumnElement[Any], value: sa.ColumnElement[Any] | None,
            label: sa.ColumnElement[Any] | None, total: sa.ColumnElement[Any] | None, source: sa.FromClause,
            where: sa.ColumnElement[bool] | None = None) -> sa.Select[Any]:
    """One column's ``GROUP BY``, shaped as every other branch (col, cell, v, label, n, s)."""
    inner_cols: list[sa.ColumnElement[Any]] = [cell.label("cell")]
    if value is not None:
        inner_cols.append(value.label("v"))
    if label is not None:
        inner_cols.append(label.label("label"))
    if total is not None:
        inner_cols.append(total.label("x"))
    inner = sa.select(*inner_cols).select_from(source)
    if where is not None:
        inner = inner.where(where)
    sub = inner.subquery(f"c{col}_{'v' if value is not None else 'b'}")
    keys = [sub.c.cell] + ([sub.c.v] if value is not None else []) + ([sub.c.label] if label is not None else [])
    return sa.select(
        sa.literal(col, sa.Integer).label("col"), sub.c.cell,
        (sub.c.v if value is not None else sa.cast(sa.null(), sa.Double)).label("v"),
        (sub.c.label if label is not None else sa.cast(sa.null(), sa.String)).label("label"),
        sa.func.count().label("n"),
        (sa.func.sum(sub.c.x) if total is not None else sa.cast(sa.null(), sa.Double)).label("s"),
    ).group_by(*keys)


def summary_query(window: sa.FromClause, plan: SummaryPlan, dialect: str) -> sa.CompoundSelect[Any]:
    """The one query of a plan over ``window`` (a selectable with our column names)."""
    branches: list[sa.Select[Any]] = []
    for i, p in enumerate(plan.numerical):
        x = window.c[p.column]
        finite = _finite(x)
        cell = sa.case((finite, _cell(x, p.grid, dialect, i)), else_=sa.literal(_MISSING, sa.Integer))
        branches.append(_branch(i, cell, None, None, sa.case((finite, sa.cast(x, sa.Double))), window))
        if p.values:
            branches.append(_branch(i, sa.literal(_VALUE, sa.Integer), sa.cast(x, sa.Double), None, None, window,
                                    where=finite))
    offset = len(plan.numerical)
    for j, c in enumerate(plan.categorical):
        x = window.c[c.column]
        cell = sa.case((x.is_(None), sa.literal(_MISSING, sa.Integer)), else_=sa.literal(0, sa.Integer))
        branches.append(_branch(offset + j, cell, None, sa.cast(x, sa.String), None, window))
    if not branches:
        raise ValueError("a summary plan with no column has no query")
    return sa.union_all(*branches)


def _summaries(plan: SummaryPlan, rows: pd.DataFrame, n_rows: int) -> dict[str, ColumnSummary]:
    """The engine's rows (col, cell, v, label, n, s) as each column's summary."""
    out: dict[str, ColumnSummary] = {}
    for i, p in enumerate(plan.numerical):
        mine = rows[rows["col"] == i]
        cells = mine[mine["cell"] >= 0]
        idx = cells["cell"].to_numpy(dtype=np.int64)
        counts = np.zeros(p.grid.size + 1, dtype=np.int64)
        sums = np.zeros(p.grid.size + 1, dtype=np.float64)
        np.add.at(counts, idx, cells["n"].to_numpy(dtype=np.int64))
        np.add.at(sums, idx, cells["s"].to_numpy(dtype=np.float64, na_value=0.0))
        missing = int(mine.loc[mine["cell"] == _MISSING, "n"].sum())
        values = None
        if p.values:
            vals = mine[mine["cell"] == _VALUE].sort_values("v")
            values = (vals["v"].to_numpy(dtype=np.float64), vals["n"].to_numpy(dtype=np.int64))
        out[p.column] = NumericalSummary(column=p.column, n_rows=n_rows, n_missing=missing, counts=counts,
                                         sums=sums, values=values)
    offset = len(plan.numerical)
    for j, c in enumerate(plan.categorical):
        mine = rows[rows["col"] == offset + j]
        present = mine[mine["cell"] == 0]
        out[c.column] = CategoricalSummary(
            column=c.column, n_rows=n_rows, n_missing=int(mine.loc[mine["cell"] == _MISSING, "n"].sum()),
            labels=tuple(str(v) for v in present["label"]), counts=present["n"].to_numpy(dtype=np.int64))
    return out


def read_summary(conn: sa.Connection, window: sa.FromClause, plan: SummaryPlan) -> WindowSummary:
    """Run the plan's query on ``conn`` (one round trip) and return the window's summary."""
    query = summary_query(window, plan, conn.dialect.name)
    if conn.dialect.name == "duckdb" and plan.numerical:
        _register_cells(conn, plan)
    result = conn.execute(query)
    rows = pd.DataFrame(result.fetchall(), columns=["col", "cell", "v", "label", "n", "s"])
    rows["col"] = rows["col"].astype(np.int64)
    rows["cell"] = rows["cell"].astype(np.int64)
    first = rows[rows["col"] == 0]
    n_rows = int(first.loc[first["cell"] != _VALUE, "n"].sum()) if len(rows) else 0
    return WindowSummary(n_rows=n_rows, columns=_summaries(plan, rows, n_rows))


def read_rows(conn: sa.Connection, window: sa.FromClause, columns: Sequence[str], order_by: str | None, *,
              max_rows: int, seed: int, n_rows: int) -> tuple[pd.DataFrame, bool]:
    """The window's rows of ``columns``: all of them up to ``max_rows``, else a seeded uniform sample.

    Returns the frame and whether it is a sample. Above ``max_rows`` the rows stream in chunks
    and each gets a key from ``numpy.random.default_rng(seed)``; the ``max_rows`` smallest keys
    are kept (a uniform sample without replacement), so memory stays at ``max_rows`` rows plus a
    chunk.
    """
    query = sa.select(*(window.c[c] for c in columns))
    if order_by is not None:  # a window's time order; a file checked whole has the file's order
        query = query.order_by(window.c[order_by])
    if n_rows <= max_rows:
        return pd.DataFrame(conn.execute(query).fetchall(), columns=list(columns)), False
    rng = np.random.default_rng(seed)
    kept: pd.DataFrame | None = None
    keys = np.empty(0)
    result = conn.execution_options(stream_results=True, yield_per=_CHUNK).execute(query)
    for chunk in result.partitions(_CHUNK):
        frame = pd.DataFrame(chunk, columns=list(columns))
        chunk_keys = rng.random(len(frame))
        frame = frame if kept is None else pd.concat([kept, frame], ignore_index=True)
        keys = np.concatenate([keys, chunk_keys])
        if len(frame) > max_rows:
            keep = np.sort(np.argpartition(keys, max_rows - 1)[:max_rows])
            frame, keys = frame.iloc[keep].reset_index(drop=True), keys[keep]
        kept = frame
    return (kept if kept is not None else pd.DataFrame(columns=list(columns))), True
