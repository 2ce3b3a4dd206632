"""Dynamic references: fitted for each run from the monitor's own source.

``previous_window``, ``rolling`` and ``same_period`` references are no stored version: a run reads
the reference's time ranges (``Monitor.reference_ranges``) through the same
:class:`~monitor.domain.PredictionSource` as its window, fits them, and records the ranges on the
run (``reference_version`` stays null). Fits are cached by ``(monitor, ranges)`` in a bounded LRU
(:data:`~monitor.run.registry.DEFAULT_CACHE_SIZE` entries, as stored versions are), so a
``rolling`` reference with ``refit: 1d`` is read and fitted once a day, and a report or a
late-label recomputation of a recent run refits nothing.

The fit also estimates the season's between-period spread
(:func:`monitor.stats.seasonal.seasonal_null`) from the reference's own periods: each range of a
``same_period`` reference, or a ``rolling`` reference cut into windows of the monitor's length.
``previous_window`` has one period and keeps the independent-rows null.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from datetime import timedelta

import numpy as np
import pandas as pd

from monitor.domain import (
    Monitor,
    PredictionSource,
    ReferenceSpec,
    RollingReferenceSpec,
    Run,
    RunStatus,
    SamePeriodReferenceSpec,
    WindowSpec,
)
from monitor.errors import InsufficientData
from monitor.run.bundle import ReferenceBundle
from monitor.run.evaluate import conform, evaluate, fit_reference, insufficient
from monitor.stats.seasonal import SeasonalNull, seasonal_null

__all__ = ["DynamicReference", "DynamicReferences", "DynamicRun", "describe_ranges", "evaluate_dynamic", "reference_periods",
           "run_dynamic"]


@dataclass(frozen=True, slots=True, kw_only=True)
class DynamicReference:
    """A reference fitted from the monitor's source for one run's window."""

    ranges: tuple[WindowSpec, ...]
    bundle: ReferenceBundle
    #: The season's between-period spread (``None``: one period, or fewer than two with rows).
    seasonal: SeasonalNull | None
    rows: int


def describe_ranges(ranges: tuple[WindowSpec, ...]) -> str:
    """The ranges in a sentence: ``2024-03-01T00:00:00+00:00..2024-03-02T00:00:00+00:00 (+3 more)``."""
    if not ranges:
        return "no range"
    first = ranges[0]
    text = f"{first.start.isoformat() if first.start else '?'}..{first.end.isoformat()}"
    return text if len(ranges) == 1 else f"{text} and {len(ranges) - 1} more up to {ranges[-1].end.isoformat()}"


def reference_periods(reference: ReferenceSpec, ranges: tuple[WindowSpec, ...], frames: list[pd.DataFrame], *,
                      window: timedelta | None, timestamp: str) -> list[pd.DataFrame]:
    """A dynamic reference's periods, for its seasonal null: one per range of ``same_period``, the
    ``rolling`` range cut into windows of the monitor's length (``window``), none for ``previous_window``.

    ``frames`` are the ranges' rows (one frame per range, with the time column ``timestamp``).
    Shared by the run and ``driftline backtest``, so both estimate the same spread.
    """
    match reference:
        case SamePeriodReferenceSpec():
            return frames
        case RollingReferenceSpec():
            (frame,), (spec,) = frames, ranges
            if window is None or spec.start is None or frame.empty:
                return []
            times = pd.to_datetime(frame[timestamp], utc=True)
            step = np.int64(int(window.total_seconds() * 1e9))
            offset = (times - pd.Timestamp(spec.start)).to_numpy(dtype="timedelta64[ns]").astype(np.int64)
            keys = offset // step
            return [frame.loc[keys == k].reset_index(drop=True) for k in np.unique(keys)]
        case _:
            return []


class DynamicReferences:
    """Dynamic references fitted by ``(monitor, ranges)``, least recently used dropped first (thread-safe)."""

    def __init__(self, cache_size: int) -> None:
        if cache_size < 1:
            raise ValueError(f"cache_size ({cache_size}) must be at least 1")
        self._cache_size = cache_size
        self._cache: OrderedDict[tuple[str, tuple[WindowSpec, ...]], DynamicReference] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def cached(self) -> int:
        """How many fits are in memory now (at most the cache size)."""
        return len(self._cache)

    def fit(self, monitor: Monitor, ranges: tuple[WindowSpec, ...], source: PredictionSource) -> DynamicReference:
        """The reference read from ``ranges`` of ``source`` and fitted (cached).

        Raises :class:`InsufficientData` when the ranges hold fewer than the monitor's ``min_rows``
        rows, naming the ranges (the run becomes ``insufficient_data``).
        """
        key = (monitor.name, ranges)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        frames = [source.read(monitor, spec) for spec in ranges]
        rows = sum(len(f) for f in frames)
        if rows < monitor.min_rows:
            kind = type(monitor.reference).__name__.removesuffix("ReferenceSpec")
            raise InsufficientData(f"{rows} rows in the reference ({kind}: {describe_ranges(ranges)}); the monitor "
                                   f"needs at least {monitor.min_rows}", needed=monitor.min_rows, got=rows)
        frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        bundle = fit_reference(monitor, frame)
        periods = reference_periods(monitor.reference, ranges, [conform(monitor, f) for f in frames],
                                    window=monitor.window.last, timestamp=monitor.schema.timestamp)
        types = monitor.schema.types()  # the features and the prediction, as the window is checked
        seasonal = seasonal_null(periods, types, monitor.check_options()) if len(periods) > 1 else None
        fitted = DynamicReference(ranges=ranges, bundle=bundle, seasonal=seasonal, rows=rows)
        with self._lock:
            self._cache[key] = fitted
            self._cache.move_to_end(key)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return fitted


@dataclass(frozen=True, slots=True, kw_only=True)
class DynamicRun:
    """A dynamic-reference run as evaluated, with the fit and the window a scheduled run's stored
    concept detector advances on (both ``None`` when the run has no verdict)."""

    run: Run
    bundle: ReferenceBundle | None = None
    frame: pd.DataFrame | None = None


def run_dynamic(monitor: Monitor, window: WindowSpec, run: Run, source: PredictionSource,
                references: DynamicReferences) -> DynamicRun:
    """Read the window and (if it has enough rows) the dynamic reference, and test one against the other.

    The run records the reference's ranges whatever happens; too few rows in the window or in the
    reference make it ``insufficient_data`` with the reason. The fit and the window are handed
    back so that ``run_monitor`` advances the monitor's persisted concept detector with them, as
    for a stored reference: the detector lives across runs whatever the reference kind, its
    baseline being the error level of the reference it started on (monitor.run.concept).
    """
    ranges = monitor.reference_ranges(window)
    run = replace(run, reference_version=None, reference_ranges=ranges)
    frame = source.read(monitor, window)
    if len(frame) < monitor.min_rows:
        return DynamicRun(run=insufficient(run, len(frame), monitor.min_rows))
    try:
        reference = references.fit(monitor, ranges, source)
    except InsufficientData as exc:
        return DynamicRun(run=replace(run, status=RunStatus.INSUFFICIENT_DATA, rows=len(frame), error=str(exc)))
    return DynamicRun(run=evaluate(monitor, reference.bundle, frame, run, seasonal=reference.seasonal),
                      bundle=reference.bundle, frame=frame)


def evaluate_dynamic(monitor: Monitor, window: WindowSpec, run: Run, source: PredictionSource,
                     references: DynamicReferences) -> Run:
    """:func:`run_dynamic`'s run alone (its concept drift from a fresh detector over this window)."""
    return run_dynamic(monitor, window, run, source, references).run
