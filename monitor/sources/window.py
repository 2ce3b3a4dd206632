"""Selecting a window's rows from an in-memory frame (the file source's filter)."""

from __future__ import annotations

import pandas as pd

from monitor.domain import WindowSpec

__all__ = ["select_window"]


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
