"""Rendered report pages kept in memory, least recently used dropped first.

Rendering re-reads the window (for the charts), so pages are cached. A run's drift results never
change once written; its performance does when late labels arrive, so the performance fields are
part of the cache key and a page drawn before the labels is not served after them. A page drawn
without its window or reference (a read failed) is not cached, so it is drawn again once the
source is back.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime

from monitor.domain import PerformanceRecord, Run

__all__ = ["REPORT_CACHE_SIZE", "ReportPages"]

#: Rendered report pages kept in memory (a page is 20 kB to 1 MB).
REPORT_CACHE_SIZE = 32

_Key = tuple[tuple[PerformanceRecord, ...], int, float | None, bool | None, tuple[datetime, ...]]


def _key(run: Run) -> _Key:
    return run.performance, run.labelled_rows, run.label_coverage, run.concept_drift, run.concept_change_points


class ReportPages:
    """A bounded LRU of rendered pages by run id."""

    def __init__(self, size: int = REPORT_CACHE_SIZE) -> None:
        self._size = size
        self._pages: OrderedDict[str, tuple[_Key, str]] = OrderedDict()
        self._lock = threading.Lock()

    def page(self, run: Run, draw: Callable[[Run], tuple[str, bool]]) -> str:
        """The page of ``run``: cached if still current, else ``draw(run)`` (cached if complete)."""
        key = _key(run)
        with self._lock:
            cached = self._pages.get(run.id)
            if cached is not None and cached[0] == key:
                self._pages.move_to_end(run.id)
                return cached[1]
        html, complete = draw(run)
        if complete:
            with self._lock:
                self._pages[run.id] = (key, html)
                self._pages.move_to_end(run.id)
                while len(self._pages) > self._size:
                    self._pages.popitem(last=False)
        return html
