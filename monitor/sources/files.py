"""Parquet or CSV files matching a glob, as a prediction-log source; aggregated by DuckDB with pushdown.

Without pushdown every matching file is read into pandas and the window's rows are kept. With
``pushdown`` the files are a DuckDB view (``read_parquet``/``read_csv`` over the glob, read again
each run so new files count) and the window's aggregates are computed by DuckDB out of core,
within :data:`MEMORY_LIMIT`, by the same SQLAlchemy Core query as a SQL source's
(:mod:`monitor.sources.pushdown`).
"""

from __future__ import annotations

import glob
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import pandas as pd
import sqlalchemy as sa

from monitor.domain import FileSourceSpec, Monitor, WindowSpec
from monitor.errors import InputError, MissingExtra
from monitor.frames import read_frame
from monitor.sources.pushdown import read_rows, read_summary, window_selectable
from monitor.sources.window import select_window
from monitor.stats.binned import SummaryPlan, WindowSummary

__all__ = ["MEMORY_LIMIT", "VIEW", "FileSource", "duckdb_files"]

#: DuckDB's memory limit for one aggregation: it spills to a temporary directory beyond it, so a
#: file of any size is aggregated in bounded memory (docs/scaling.md has the measured peak).
MEMORY_LIMIT = "512MB"
#: The relation of the files in :func:`duckdb_files`.
VIEW = "driftline_files"


def _reader(path: str) -> str:
    lower = path.lower()
    if lower.endswith((".parquet", ".pq")):
        return "read_parquet"
    if lower.endswith(".csv"):
        return "read_csv"
    raise InputError(f"{path}: pushdown reads .parquet, .pq or .csv files", field="source.path")


@contextmanager
def duckdb_files(path: str, timestamp: str | None) -> Iterator[sa.Connection]:
    """A DuckDB connection with ``driftline_files`` over the files matching ``path`` (:data:`VIEW`).

    ``timestamp`` (if given) is cast to ``TIMESTAMPTZ`` in the view, naive times read as UTC,
    so a window's bounds compare as instants whatever type the file gave the column.
    """
    try:
        import duckdb_engine  # noqa: F401
    except ImportError:
        raise MissingExtra("pushdown over files", "duckdb") from None
    if not glob.glob(path):
        raise InputError(f"no file matches {path!r}", field="source.path")
    reader = _reader(path)
    with tempfile.TemporaryDirectory(prefix="driftline-duckdb-") as scratch:
        # CSV is parsed once into a table of an on-disk database (a scan per column of a CSV
        # would parse it once per column); Parquet is columnar already and stays a view.
        where = f"{scratch}/files.duckdb" if reader == "read_csv" else ":memory:"
        engine = sa.create_engine(f"duckdb:///{where}", poolclass=sa.pool.NullPool)
        try:
            with engine.connect() as conn:
                q = conn.dialect.identifier_preparer.quote
                conn.exec_driver_sql("SET TimeZone = 'UTC'")
                conn.exec_driver_sql(f"SET memory_limit = '{MEMORY_LIMIT}'")
                conn.exec_driver_sql(f"SET temp_directory = '{scratch}'")
                conn.exec_driver_sql("SET preserve_insertion_order = false")
                literal = "'" + path.replace("'", "''") + "'"
                replace = f" REPLACE (CAST({q(timestamp)} AS TIMESTAMPTZ) AS {q(timestamp)})" if timestamp else ""
                kind = "TABLE" if reader == "read_csv" else "TEMP VIEW"
                try:
                    conn.exec_driver_sql(f"CREATE {kind} {VIEW} AS SELECT *{replace} "
                                         f"FROM {reader}({literal}, union_by_name = true)")
                except sa.exc.DBAPIError as exc:
                    first = str(exc.orig).strip().splitlines()[0] if exc.orig else type(exc).__name__
                    raise InputError(f"{path}: DuckDB cannot read it: {first}", field="source.path") from exc
                yield conn
        finally:
            engine.dispose()


class FileSource:
    """Reads every file matching the glob and keeps the rows of the window (a ``PredictionSource``)."""

    def __init__(self, spec: FileSourceSpec) -> None:
        self._spec = spec

    def read(self, monitor: Monitor, window: WindowSpec) -> pd.DataFrame:
        """The window's rows of every matching file, sorted by time."""
        paths = sorted(glob.glob(self._spec.path))
        if not paths:
            raise InputError(f"no file matches {self._spec.path!r}", field="source.path")
        frame = pd.concat([read_frame(p) for p in paths], ignore_index=True)
        ts = monitor.schema.timestamp
        if ts not in frame.columns:
            raise InputError(f"{self._spec.path}: no timestamp column {ts!r}", field=ts)
        return select_window(frame, ts, window)

    def _window(self, monitor: Monitor, window: WindowSpec, columns: Sequence[str]) -> sa.Subquery:
        names = list(dict.fromkeys([monitor.schema.timestamp, *columns]))
        table = sa.table(VIEW, *(sa.column(n) for n in names))
        return window_selectable(table, {n: n for n in names}, monitor.schema.timestamp, window)

    def summarise(self, monitor: Monitor, window: WindowSpec, plan: SummaryPlan) -> WindowSummary:
        """The plan's aggregates of the window, computed by DuckDB over the files (pushdown)."""
        with duckdb_files(self._spec.path, monitor.schema.timestamp) as conn:
            return read_summary(conn, self._window(monitor, window, plan.columns), plan)

    def read_columns(self, monitor: Monitor, window: WindowSpec, columns: Sequence[str], *, max_rows: int | None,
                     seed: int, n_rows: int) -> tuple[pd.DataFrame, bool]:
        """Some columns' rows of the window, in time order (a seeded sample above ``max_rows``)."""
        ts = monitor.schema.timestamp
        with duckdb_files(self._spec.path, ts) as conn:
            frame, sampled = read_rows(conn, self._window(monitor, window, columns), columns, ts,
                                       max_rows=n_rows if max_rows is None else max_rows, seed=seed, n_rows=n_rows)
        if ts in frame.columns:
            frame[ts] = pd.to_datetime(frame[ts], utc=True)
        return frame, sampled

    def close(self) -> None:
        """Nothing to release."""
