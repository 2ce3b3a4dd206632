"""Parquet or CSV files matching a glob, as a prediction-log source."""

from __future__ import annotations

import glob

import pandas as pd

from monitor.config import FileSource, MonitorConfig
from monitor.domain import WindowSpec
from monitor.errors import InputError
from monitor.frames import read_frame
from monitor.sources.window import select_window

__all__ = ["read_files_window"]


def read_files_window(monitor: MonitorConfig, source: FileSource, window: WindowSpec) -> pd.DataFrame:
    """Read every file matching the glob and keep the rows of the window."""
    paths = sorted(glob.glob(source.path))
    if not paths:
        raise InputError(f"no file matches {source.path!r}", field="source.path")
    frame = pd.concat([read_frame(p) for p in paths], ignore_index=True)
    ts = monitor.schema_.timestamp
    if ts not in frame.columns:
        raise InputError(f"{source.path}: no timestamp column {ts!r}", field=ts)
    return select_window(frame, ts, window)
