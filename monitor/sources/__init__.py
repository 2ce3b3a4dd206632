"""Where a monitor's prediction logs come from: the own store, a SQL table, or files.

Every source returns the window as a frame named by the monitor's schema, sorted by time, with
an aware UTC timestamp column.
"""

from __future__ import annotations

from monitor.sources.files import read_files_window
from monitor.sources.sql import SqlSources
from monitor.sources.window import window_for

__all__ = ["SqlSources", "read_files_window", "window_for"]
