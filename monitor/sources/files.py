"""Parquet or CSV files matching a glob, as a prediction-log source."""

from __future__ import annotations

import glob

import pandas as pd

from monitor.domain import FileSourceSpec, Monitor, WindowSpec
from monitor.errors import InputError
from monitor.frames import read_frame
from monitor.sources.window import select_window

__all__ = ["FileSource"]


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

    def close(self) -> None:
        """Nothing to release."""
