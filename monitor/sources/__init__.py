"""Where a monitor's prediction logs come from: the own store, a SQL table, or files.

Each source implements the :class:`~monitor.domain.PredictionSource` port and returns the window
as a frame named by the monitor's schema, sorted by time, with an aware UTC timestamp column.
:class:`Sources` builds one per monitor, once, from the monitor's source spec.
"""

from __future__ import annotations

from monitor.domain import FileSourceSpec, Monitor, PredictionSource, SqlSourceSpec, StoreSourceSpec
from monitor.sources.files import FileSource
from monitor.sources.sql import SqlEngines, SqlTableSource
from monitor.sources.store import StoreSource, WindowReader
from monitor.sources.window import select_window

__all__ = ["FileSource", "Sources", "SqlEngines", "SqlTableSource", "StoreSource", "WindowReader",
           "select_window"]


class Sources:
    """The prediction source of every monitor, built on first use; :meth:`close` releases engines."""

    def __init__(self, store: WindowReader) -> None:
        self._own = StoreSource(store)
        self._engines = SqlEngines()
        self._by_monitor: dict[str, PredictionSource] = {}

    @property
    def own_store(self) -> StoreSource:
        """The own store as a source (store references read from it whatever the monitor's source)."""
        return self._own

    def of(self, monitor: Monitor) -> PredictionSource:
        """The source that ``monitor`` reads its windows from."""
        source = self._by_monitor.get(monitor.name)
        if source is None:
            source = self._by_monitor[monitor.name] = self._build(monitor)
        return source

    def _build(self, monitor: Monitor) -> PredictionSource:
        match monitor.source:
            case SqlSourceSpec() as spec:
                return SqlTableSource(spec, self._engines)
            case FileSourceSpec() as spec:
                return FileSource(spec)
            case StoreSourceSpec():
                return self._own

    def close(self) -> None:
        """Dispose every engine of SQL sources."""
        self._engines.close()
