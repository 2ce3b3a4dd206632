"""Reference kinds a backtest compares, and each window's own reference for the dynamic ones.

``--reference-kind`` names a kind: ``fixed`` (the REFERENCE file, or the monitor's active stored
version), ``previous_window``, ``rolling:LAST[:REFIT]`` (``rolling:30d:1d``) or
``same_period:EVERY:PERIODS`` (``same_period:1d:7``). A dynamic kind reads each window's
reference ranges (``Monitor.reference_ranges``, the domain's own ``ranges()``) from the same
history as the windows, after the injections: a change at ``T`` is in every row at or after
``T``, so a reference that reaches past ``T`` sees it too, as it would in production.

Over a stored monitor the ranges are read through the monitor's source and fitted by
:class:`monitor.run.seasonal.DynamicReferences`, the service's own cache and fit (its seasonal
null included). Over a history file they are sliced from the sorted history and fitted with the
file form's fit; their periods and spread come from
:func:`monitor.run.seasonal.reference_periods` and :func:`monitor.stats.seasonal.seasonal_null`,
as in the service.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from monitor.backtest._inject import Injection, apply_injections
from monitor.backtest._replay import Replay, Windowed, WindowReference, Windows, replay_frames, timestamps
from monitor.domain import (
    DynamicReferenceSpec,
    Monitor,
    PredictionSource,
    PreviousWindowReferenceSpec,
    ReferenceSpec,
    RollingReferenceSpec,
    SamePeriodReferenceSpec,
    WindowSpec,
)
from monitor.errors import InputError, InsufficientData
from monitor.run import conform
from monitor.run.seasonal import DynamicReferences, reference_periods
from monitor.stats.check import CheckOptions
from monitor.stats.profile import ReferenceProfile
from monitor.stats.seasonal import seasonal_null
from monitor.stats.types import ColumnType

__all__ = ["FIXED", "FileReferences", "InjectedSource", "Kind", "StoredReferences", "check_window", "kind_of",
           "parse_kind", "replay_file_kind"]

FIXED = "fixed"
_USAGE = "expected fixed, previous_window, rolling:LAST[:REFIT] (rolling:30d:1d) or same_period:EVERY:PERIODS " \
         "(same_period:1d:7)"
#: Fitted window references kept: consecutive windows share a rolling reference with ``refit``.
CACHE_SIZE = 16


@dataclass(frozen=True, slots=True, kw_only=True)
class Kind:
    """A reference kind: its name as given (``same_period:1d:7``) and its spec (``None``: fixed)."""

    name: str
    spec: DynamicReferenceSpec | None


def _duration(text: str, spec: str) -> timedelta:
    from monitor.config import parse_duration  # the configuration's duration syntax (30s, 15m, 1h, 7d, 1w)

    try:
        value = parse_duration(text)
    except ValueError as exc:
        raise InputError(f"--reference-kind {spec!r}: {exc}; {_USAGE}", field="reference_kind") from None
    if value <= timedelta(0):
        raise InputError(f"--reference-kind {spec!r}: {text} must be positive", field="reference_kind")
    return value


def parse_kind(text: str) -> Kind:
    """Parse ``--reference-kind``; a bad one raises :class:`InputError` naming the flag.

    Examples
    --------
    >>> parse_kind("same_period:1d:7").spec
    SamePeriodReferenceSpec(every=datetime.timedelta(days=1), periods=7)
    >>> parse_kind("rolling:30d:1d").spec.refit
    datetime.timedelta(days=1)
    """
    kind, _, rest = text.strip().partition(":")
    parts = rest.split(":") if rest else []
    spec: DynamicReferenceSpec | None
    if kind == FIXED and not parts:
        spec = None
    elif kind == "previous_window" and not parts:
        spec = PreviousWindowReferenceSpec()
    elif kind == "rolling" and 1 <= len(parts) <= 2:
        last = _duration(parts[0], text)
        refit = _duration(parts[1], text) if len(parts) == 2 else None
        if refit is not None and refit > last:
            raise InputError(f"--reference-kind {text!r}: refit ({parts[1]}) is longer than last ({parts[0]})",
                             field="reference_kind")
        spec = RollingReferenceSpec(last=last, refit=refit)
    elif kind == "same_period" and len(parts) == 2:
        try:
            periods = int(parts[1])
        except ValueError:
            raise InputError(f"--reference-kind {text!r}: PERIODS ({parts[1]!r}) is not a whole number; {_USAGE}",
                             field="reference_kind") from None
        if periods < 1:
            raise InputError(f"--reference-kind {text!r}: PERIODS ({periods}) must be at least 1", field="reference_kind")
        spec = SamePeriodReferenceSpec(every=_duration(parts[0], text), periods=periods)
    else:
        raise InputError(f"--reference-kind {text!r}: {_USAGE}", field="reference_kind")
    return Kind(name=text.strip(), spec=spec)


def kind_of(reference: ReferenceSpec) -> Kind:
    """A monitor's own reference as a kind (a file, store range or upload is ``fixed``)."""
    match reference:
        case PreviousWindowReferenceSpec():
            return Kind(name="previous_window", spec=reference)
        case RollingReferenceSpec(last=last, refit=refit):
            return Kind(name=f"rolling:{_text(last)}" + (f":{_text(refit)}" if refit else ""), spec=reference)
        case SamePeriodReferenceSpec(every=every, periods=periods):
            return Kind(name=f"same_period:{_text(every)}:{periods}", spec=reference)
        case _:
            return Kind(name=FIXED, spec=None)


def _text(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    for unit, size in (("d", 86_400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def check_window(kind: Kind, window: timedelta | None) -> None:
    """Refuse a dynamic kind the windows cannot use (row windows; a season shorter than the window)."""
    if kind.spec is None:
        return
    if window is None:
        raise InputError(f"--reference-kind {kind.name}: reads the time before each window; it needs time windows "
                         "(--window, or the monitor's window: {last: ...}), not rows", field="reference_kind")
    if isinstance(kind.spec, SamePeriodReferenceSpec) and kind.spec.every < window:
        raise InputError(f"--reference-kind {kind.name}: every ({_text(kind.spec.every)}) is shorter than the window "
                         f"({_text(window)}): the earlier periods would overlap it", field="reference_kind")


class InjectedSource:
    """A monitor's source whose reads are conformed and carry the backtest's injections.

    The window's and the reference's reads alike: a change injected at ``T`` is in every row read
    at or after ``T``. The one random injection (``missing``) draws from a generator seeded by the
    seed and the range read, so a range reads the same whichever window asks first.
    """

    def __init__(self, source: PredictionSource, units: ReferenceProfile, injections: list[Injection], seed: int) -> None:
        self._source, self._units, self._injections, self._seed = source, units, injections, seed

    def read(self, monitor: Monitor, window: WindowSpec) -> pd.DataFrame:
        """The range's rows, conformed, with the injections applied."""
        frame = conform(monitor, self._source.read(monitor, window))
        if not self._injections:
            return frame
        times = timestamps(frame, monitor.schema.timestamp)
        key = [self._seed, int(pd.Timestamp(window.end).value) & 0x7FFF_FFFF_FFFF_FFFF]
        return apply_injections(frame, times, self._units, self._injections, np.random.default_rng(key))

    def close(self) -> None:
        """Nothing to release: the wrapped source is closed by its owner."""


class StoredReferences:
    """Each window's reference for a stored monitor under ``kind``, read and fitted as the service does."""

    def __init__(self, monitor: Monitor, kind: DynamicReferenceSpec, source: PredictionSource,
                 narrow: Callable[[ReferenceProfile], ReferenceProfile]) -> None:
        self._monitor = replace(monitor, reference=kind)
        self._source, self._narrow = source, narrow
        self._fits = DynamicReferences(CACHE_SIZE)

    def __call__(self, window: WindowSpec) -> WindowReference:
        """The window's reference (``profile=None`` when its ranges hold fewer than ``min_rows`` rows)."""
        ranges = self._monitor.reference_ranges(window)
        try:
            fitted = self._fits.fit(self._monitor, ranges, self._source)
        except InsufficientData:
            return WindowReference(profile=None)
        return WindowReference(profile=self._narrow(fitted.bundle.profile), seasonal=fitted.seasonal)


class FileReferences:
    """Each window's reference for a history file under ``kind``: rows sliced from the (injected) history."""

    def __init__(self, kind: DynamicReferenceSpec, history: pd.DataFrame, times: NDArray[np.int64], *,
                 time_column: str, window: timedelta, min_rows: int, options: CheckOptions,
                 fit: Callable[[pd.DataFrame], ReferenceProfile]) -> None:
        self._kind, self._history, self._times = kind, history, times
        self._time_column, self._window, self._min_rows = time_column, window, max(min_rows, 1)
        self._options, self._fit = options, fit
        self._cache: OrderedDict[tuple[WindowSpec, ...], WindowReference] = OrderedDict()

    def _rows(self, spec: WindowSpec) -> pd.DataFrame:
        assert spec.start is not None
        lo, hi = np.searchsorted(self._times, [pd.Timestamp(spec.start).value, pd.Timestamp(spec.end).value])
        return self._history.iloc[int(lo):int(hi)]

    def __call__(self, window: WindowSpec) -> WindowReference:
        """The window's reference (``profile=None`` when its ranges hold fewer than ``min_rows`` rows)."""
        ranges = self._kind.ranges(window)
        hit = self._cache.get(ranges)
        if hit is not None:
            self._cache.move_to_end(ranges)
            return hit
        frames = [self._rows(r) for r in ranges]
        rows = sum(len(f) for f in frames)
        if rows < self._min_rows:
            fitted = WindowReference(profile=None)
        else:
            frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
            profile = self._fit(frame.drop(columns=[self._time_column]))
            periods = reference_periods(self._kind, ranges, frames, window=self._window, timestamp=self._time_column)
            # circular columns keep the independent-rows null (their period is not known here)
            types = {name: c.type for name, c in profile.columns.items()
                     if c.type is not None and c.type is not ColumnType.CIRCULAR}
            kept = [p[[c for c in types if c in p.columns]] for p in periods]
            seasonal = seasonal_null(kept, types, self._options) if len(kept) > 1 else None
            fitted = WindowReference(profile=profile, seasonal=seasonal)
        self._cache[ranges] = fitted
        while len(self._cache) > CACHE_SIZE:
            self._cache.popitem(last=False)
        return fitted


def replay_file_kind(kind: DynamicReferenceSpec, profile: ReferenceProfile, history: pd.DataFrame,
                     times: NDArray[np.int64], windows: Windows, options: CheckOptions, *, time_column: str,
                     window: timedelta, min_rows: int, fit: Callable[[pd.DataFrame], ReferenceProfile],
                     progress: Callable[[int, int], None] | None = None) -> Replay:
    """Replay a sorted (injected) history file's time windows, each against its own ``kind`` reference.

    ``profile`` (the REFERENCE file's) names the columns recorded; a window with fewer than
    ``min_rows`` rows gets no reference fitted and is skipped, as under a fixed reference.
    """
    references = FileReferences(kind, history, times, time_column=time_column, window=window, min_rows=min_rows,
                                options=options, fit=fit)

    def frames() -> Iterator[Windowed]:
        for lo, hi, start, end in zip(windows.lo, windows.hi, windows.start, windows.end, strict=True):
            spec = WindowSpec(start=_time(int(start)), end=_time(int(end)))
            yield Windowed(frame=history.iloc[int(lo):int(hi)], reference=references(spec) if hi - lo >= min_rows else None)

    return replay_frames(profile, frames(), windows, options, min_rows=min_rows, progress=progress)


def _time(ns: int) -> datetime:
    return pd.Timestamp(ns, tz="UTC").to_pydatetime()
