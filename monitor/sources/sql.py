"""A table in the user's own database (any SQLAlchemy URL), with the time filter pushed down."""

from __future__ import annotations

import threading

import pandas as pd
import sqlalchemy as sa

from monitor.config import MonitorConfig, SqlSource
from monitor.domain import WindowSpec
from monitor.errors import StorageError

__all__ = ["SqlSources"]


class SqlSources:
    """One engine per URL, created on first use and disposed with :meth:`close`."""

    def __init__(self) -> None:
        self._engines: dict[str, sa.Engine] = {}
        self._lock = threading.Lock()

    def _engine(self, url: str) -> sa.Engine:
        with self._lock:
            if url not in self._engines:
                self._engines[url] = sa.create_engine(url, pool_pre_ping=True)
            return self._engines[url]

    def read(self, monitor: MonitorConfig, source: SqlSource, window: WindowSpec) -> pd.DataFrame:
        """``SELECT`` the schema's columns of the window, newest last; names mapped back to ours."""
        s = monitor.schema_
        ours = [s.prediction_id, s.timestamp, *s.features, s.prediction,
                *([s.prediction_score] if s.prediction_score else []), *([s.target] if s.target else [])]
        theirs = {name: source.columns.get(name, name) for name in ours}
        table = sa.table(source.table, *(sa.column(c) for c in theirs.values()))
        ts = table.c[theirs[s.timestamp]]
        query = sa.select(*(table.c[theirs[n]].label(n) for n in ours)).where(ts < window.end)
        if window.start is not None:
            query = query.where(ts >= window.start)
        query = query.order_by(ts.desc()).limit(window.rows) if window.rows else query.order_by(ts)
        try:
            with self._engine(source.url).connect() as conn:
                frame = pd.read_sql(query, conn)
        except sa.exc.SQLAlchemyError as exc:
            raise StorageError(f"reading source table {source.table!r} failed: {type(exc.orig or exc).__name__}") from exc
        frame[s.timestamp] = pd.to_datetime(frame[s.timestamp], utc=True)
        return frame.sort_values(s.timestamp, kind="stable").reset_index(drop=True)

    def close(self) -> None:
        """Dispose every engine."""
        with self._lock:
            for engine in self._engines.values():
                engine.dispose()
            self._engines.clear()
