"""A table in the user's own database (any SQLAlchemy URL), with the time filter pushed down."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC

import pandas as pd
import sqlalchemy as sa

from monitor.domain import Monitor, SqlSourceSpec, WindowSpec
from monitor.errors import StorageError
from monitor.sources.pushdown import read_rows, read_summary, window_selectable
from monitor.stats.binned import SummaryPlan, WindowSummary

__all__ = ["SqlEngines", "SqlTableSource"]


class SqlEngines:
    """One engine per URL, created on first use and disposed with :meth:`close` (shared by tables)."""

    def __init__(self) -> None:
        self._engines: dict[str, sa.Engine] = {}
        self._lock = threading.Lock()

    def engine(self, url: str) -> sa.Engine:
        """The engine of ``url`` (created on first use)."""
        with self._lock:
            if url not in self._engines:
                self._engines[url] = sa.create_engine(url, pool_pre_ping=True)
            return self._engines[url]

    def close(self) -> None:
        """Dispose every engine."""
        with self._lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()


class SqlTableSource:
    """A table in the user's own database (a ``PredictionSource``), the time filter pushed into SQL."""

    def __init__(self, spec: SqlSourceSpec, engines: SqlEngines) -> None:
        self._spec = spec
        self._engines = engines

    def read(self, monitor: Monitor, window: WindowSpec) -> pd.DataFrame:
        """``SELECT`` the schema's columns of the window, newest last; names mapped back to ours."""
        s, source = monitor.schema, self._spec
        ours = [s.prediction_id, s.timestamp, *s.features, s.prediction,
                *([s.prediction_score] if s.prediction_score else []), *([s.target] if s.target else [])]
        theirs = {name: source.columns.get(name, name) for name in ours}
        table = sa.table(source.table, *(sa.column(c) for c in theirs.values()))
        ts = table.c[theirs[s.timestamp]]
        # Bounds in UTC: some dialects (SQLite) drop a bound's offset and compare wall clocks.
        end = window.end.astimezone(UTC)
        query = sa.select(*(table.c[theirs[n]].label(n) for n in ours)).where(ts < end)
        if window.start is not None:
            query = query.where(ts >= window.start.astimezone(UTC))
        query = query.order_by(ts.desc()).limit(window.rows) if window.rows else query.order_by(ts)
        try:
            with self._engines.engine(source.url).connect() as conn:
                frame = pd.read_sql(query, conn)
        except (sa.exc.SQLAlchemyError, pd.errors.DatabaseError) as exc:
            # pandas wraps the driver's error (with the statement and its parameters) in its own
            # DatabaseError: name the table and the error type only.
            cause = getattr(exc, "orig", None) or exc.__cause__ or exc
            raise StorageError(f"reading source table {source.table!r} failed: {type(cause).__name__}") from exc
        frame[s.timestamp] = pd.to_datetime(frame[s.timestamp], utc=True)
        return frame.sort_values(s.timestamp, kind="stable").reset_index(drop=True)

    def _window(self, monitor: Monitor, window: WindowSpec, columns: Sequence[str]) -> sa.Subquery:
        s, source = monitor.schema, self._spec
        ours = list(dict.fromkeys([s.timestamp, *columns]))
        table = sa.table(source.table, *(sa.column(source.columns.get(n, n)) for n in ours))
        return window_selectable(table, {n: source.columns.get(n, n) for n in ours}, s.timestamp, window)

    def _failed(self, exc: sa.exc.SQLAlchemyError) -> StorageError:
        cause = getattr(exc, "orig", None) or exc
        return StorageError(f"aggregating source table {self._spec.table!r} failed: {type(cause).__name__}")

    def summarise(self, monitor: Monitor, window: WindowSpec, plan: SummaryPlan) -> WindowSummary:
        """The plan's aggregates of the window, computed by the database in one query (pushdown)."""
        try:
            with self._engines.engine(self._spec.url).connect() as conn:
                return read_summary(conn, self._window(monitor, window, plan.columns), plan)
        except sa.exc.SQLAlchemyError as exc:
            raise self._failed(exc) from exc

    def read_columns(self, monitor: Monitor, window: WindowSpec, columns: Sequence[str], *, max_rows: int | None,
                     seed: int, n_rows: int) -> tuple[pd.DataFrame, bool]:
        """Some columns' rows of the window, in time order (a seeded sample above ``max_rows``)."""
        ts = monitor.schema.timestamp
        try:
            with self._engines.engine(self._spec.url).connect() as conn:
                frame, sampled = read_rows(conn, self._window(monitor, window, columns), columns, ts,
                                           max_rows=n_rows if max_rows is None else max_rows, seed=seed,
                                           n_rows=n_rows)
        except sa.exc.SQLAlchemyError as exc:
            raise self._failed(exc) from exc
        if ts in frame.columns:
            frame[ts] = pd.to_datetime(frame[ts], utc=True)
        return frame, sampled

    def close(self) -> None:
        """Engines are shared: :meth:`SqlEngines.close` disposes them."""
