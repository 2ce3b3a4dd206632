"""A table in the user's own database (any SQLAlchemy URL), with the time filter pushed down."""

from __future__ import annotations

import threading
from datetime import UTC

import pandas as pd
import sqlalchemy as sa

from monitor.domain import Monitor, SqlSourceSpec, WindowSpec
from monitor.errors import StorageError

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

    def close(self) -> None:
        """Engines are shared: :meth:`SqlEngines.close` disposes them."""
