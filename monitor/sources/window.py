"""Window arithmetic shared by the sources and the scheduler."""

from __future__ import annotations

from datetime import datetime

import pandas as pd

from monitor.config import MonitorConfig, parse_duration
from monitor.domain import WindowSpec

__all__ = ["select_window", "window_for"]


def window_for(monitor: MonitorConfig, end: datetime) -> WindowSpec:
    """The window a run ending at ``end`` reads: ``[end - last, end)`` or the last N rows."""
    if monitor.window.last is not None:
        return WindowSpec(start=end - parse_duration(monitor.window.last), end=end)
    return WindowSpec(end=end, rows=monitor.window.rows)


def select_window(frame: pd.DataFrame, time_column: str, window: WindowSpec) -> pd.DataFrame:
    """Rows of an in-memory frame inside ``window`` (for file sources), sorted by time."""
    ts = pd.to_datetime(frame[time_column], utc=True)
    frame = frame.assign(**{time_column: ts})
    keep = ts < pd.Timestamp(window.end)
    if window.start is not None:
        keep &= ts >= pd.Timestamp(window.start)
    out = frame.loc[keep].sort_values(time_column, kind="stable")
    if window.rows is not None:
        out = out.tail(window.rows)
    return out.reset_index(drop=True)
