"""The service's own prediction log (predictions posted to the ingest API) as a source."""

from __future__ import annotations

from typing import Protocol

import pandas as pd

from monitor.domain import Monitor, WindowSpec

__all__ = ["StoreSource", "WindowReader"]


class WindowReader(Protocol):
    """The store's window query (``storage.Store.read_window``)."""

    def read_window(self, monitor: Monitor, window: WindowSpec) -> pd.DataFrame: ...


class StoreSource:
    """Reads a window from the own store and names its columns as the monitor's schema does."""

    def __init__(self, store: WindowReader) -> None:
        self._store = store

    def read(self, monitor: Monitor, window: WindowSpec) -> pd.DataFrame:
        """The window's rows: id and timestamp renamed to the schema's, labels as its target."""
        s = monitor.schema
        frame = self._store.read_window(monitor, window)
        names = {"prediction_id": s.prediction_id, "timestamp": s.timestamp}
        if s.target and s.target not in frame.columns and "label" in frame.columns:
            names["label"] = s.target
        return frame.rename(columns={k: v for k, v in names.items() if k in frame.columns and k != v})

    def close(self) -> None:
        """The store is owned by the composition root, which closes it."""
