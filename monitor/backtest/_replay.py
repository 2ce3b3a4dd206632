"""Cut a history into windows, check each against its reference, record every verdict.

A fixed reference is fitted once (``fit_profile``); every window is tested with
:func:`monitor.stats.check.check` under both verdict rules, sharing the profile's null cache, so
the calibrated rule simulates each window-size bucket once. A dynamic reference
(``previous_window``, ``rolling``, ``same_period``) gives each window its own profile and the
season's spread (:class:`WindowReference`), checked by
:func:`monitor.stats.seasonal.seasonal_check` as the service checks a run. What is recorded per window and
column (statistic, p-value, effect, floor, null quantile) is enough to re-evaluate the rule at
other thresholds without re-running (:mod:`monitor.backtest._budget`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from monitor.errors import InputError
from monitor.stats.check import CheckOptions, ColumnResult, DatasetResult, Status, check
from monitor.stats.profile import ReferenceProfile
from monitor.stats.seasonal import SeasonalNull, seasonal_check
from monitor.stats.types import Compat

__all__ = ["RULES", "Rates", "Record", "Replay", "WindowReference", "Windowed", "Windows", "cut_windows", "iso", "rates",
           "replay", "replay_frames", "timestamps"]

_MONTH = timedelta(days=30)
#: The rules compared side by side: ours (default) and Evidently 0.7.23's.
RULES: tuple[Compat, ...] = (Compat.CALIBRATED, Compat.EVIDENTLY)


def timestamps(frame: pd.DataFrame, column: str) -> NDArray[np.int64]:
    """The time column as UTC nanoseconds; naive times are read as UTC, bad ones refused."""
    if column not in frame.columns:
        raise InputError(f"history: no time column {column!r} (columns: {', '.join(map(str, frame.columns[:10]))})",
                         field=column)
    try:
        ts = pd.to_datetime(frame[column], utc=True)
    except (ValueError, TypeError) as exc:
        raise InputError(f"history: time column {column!r} is not a time: {str(exc).splitlines()[0]}",
                         field=column) from exc
    bad = ts.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InputError(f"history: row {row}: time column {column!r} is missing", field=column, row=row)
    return ts.to_numpy(dtype="datetime64[ns]").astype(np.int64)


@dataclass(frozen=True, slots=True, kw_only=True)
class Windows:
    """Windows' start and end times (UTC ns) and, over a time-sorted history file, their rows.

    ``lo`` and ``hi`` are the ``[lo, hi)`` row ranges of a history cut by :func:`cut_windows`;
    windows read one by one from a monitor's source (:mod:`monitor.backtest._stored`) have none
    (empty arrays), since each read returns its own frame.
    """

    start: NDArray[np.int64]
    end: NDArray[np.int64]
    #: Mean distance between window starts, for scaling alarms to a month.
    spacing: timedelta
    lo: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    hi: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    @property
    def size(self) -> int:
        """How many windows."""
        return int(self.start.size)

    @property
    def per_month(self) -> float:
        """Windows per 30 days."""
        return _MONTH / self.spacing

    def stretches(self, at: datetime | None) -> tuple[NDArray[np.bool_], NDArray[np.bool_]]:
        """Clean windows (ending at or before ``at``) and injected ones (starting at or after it).

        A window straddling ``at`` belongs to neither: it is part drifted, part not.
        """
        if at is None:
            return np.ones(self.size, dtype=bool), np.zeros(self.size, dtype=bool)
        t = pd.Timestamp(at).value
        return self.end <= t, self.start >= t


def cut_windows(times: NDArray[np.int64], *, window: timedelta | None, step: timedelta | None,
                rows: int | None) -> Windows:
    """Consecutive windows over sorted ``times``: ``window`` long every ``step``, or ``rows`` rows each.

    Time windows are aligned to multiples of ``step`` since the Unix epoch (daily windows start
    at midnight UTC), as the service aligns a monitor's window ends.
    """
    n = times.size
    if rows is not None:
        lo = np.arange(0, n, rows, dtype=np.int64)
        hi = np.minimum(lo + rows, n)
        start, end = times[lo], times[hi - 1] + 1
        span = int(times[-1] - times[0]) if n else 0
        spacing = timedelta(microseconds=max(span / 1000 / max(lo.size - 1, 1), 1.0))
        return Windows(lo=lo, hi=hi, start=start, end=end, spacing=spacing)
    assert window is not None
    step = step or window
    w_ns, s_ns = _ns(window), _ns(step)
    first = (int(times[0]) // s_ns) * s_ns
    start = np.arange(first, int(times[-1]) + 1, s_ns, dtype=np.int64)
    end = start + w_ns
    lo = np.searchsorted(times, start, side="left").astype(np.int64)
    hi = np.searchsorted(times, end, side="left").astype(np.int64)
    return Windows(lo=lo, hi=hi, start=start, end=end, spacing=step)


def _ns(delta: timedelta) -> int:
    return (delta.days * 86_400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class Record:
    """One column's results in every window under one rule (NaN where a value is absent)."""

    column: str
    type: str | None
    methods: tuple[str | None, ...]
    tested: NDArray[np.bool_]
    drifted: NDArray[np.bool_]
    missing_drifted: NDArray[np.bool_]
    statistic: NDArray[np.float64]
    p_value: NDArray[np.float64]
    effect: NDArray[np.float64]
    effect_floor: NDArray[np.float64]
    null_threshold: NDArray[np.float64]
    alpha: NDArray[np.float64]

    @property
    def method(self) -> str | None:
        """The method of most tested windows (automatic choice rarely varies across windows)."""
        used = [m for m in self.methods if m is not None]
        return max(sorted(set(used)), key=used.count) if used else None


@dataclass(frozen=True, slots=True, kw_only=True)
class Replay:
    """Every window's verdicts under each rule: the dataset's and each column's."""

    windows: Windows
    #: Rows read in each window.
    rows: NDArray[np.int64]
    #: Windows with enough rows to be checked (the others are skipped, as the service skips them).
    checked: NDArray[np.bool_]
    dataset: dict[Compat, NDArray[np.bool_]]
    columns: dict[Compat, tuple[Record, ...]]
    #: Windows skipped because their dynamic reference had too few rows (all False for a fixed one).
    reference_short: NDArray[np.bool_] = field(default_factory=lambda: np.zeros(0, dtype=bool))


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowReference:
    """One window's own reference (a dynamic kind): its profile and the season's between-period spread.

    ``profile`` is ``None`` when the reference's ranges held too few rows: the window is skipped,
    as the service records such a run ``insufficient_data``.
    """

    profile: ReferenceProfile | None
    seasonal: SeasonalNull | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Windowed:
    """A window's frame with its own reference (``None``: not fitted, the window has too few rows)."""

    frame: pd.DataFrame
    reference: WindowReference | None


def _floats(values: Sequence[float | None]) -> NDArray[np.float64]:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def _column(result: DatasetResult | None, column: str, index: int) -> ColumnResult | None:
    """The column's result (at ``index`` when every window's profile has the same columns, else by name)."""
    if result is None:
        return None
    if index < len(result.columns) and result.columns[index].column == column:
        return result.columns[index]
    return next((c for c in result.columns if c.column == column), None)


def _record(column: str, results: list[DatasetResult | None], index: int) -> Record:
    cols = [_column(r, column, index) for r in results]
    kinds = [c.type for c in cols if c is not None and c.type is not None]
    return Record(
        column=column, type=str(kinds[0]) if kinds else None,
        methods=tuple(None if c is None or c.method is None else str(c.method) for c in cols),
        tested=np.array([c is not None and c.status is Status.OK for c in cols], dtype=bool),
        drifted=np.array([c is not None and c.drifted for c in cols], dtype=bool),
        missing_drifted=np.array([c is not None and c.missing_drifted for c in cols], dtype=bool),
        statistic=_floats([None if c is None else c.statistic for c in cols]),
        p_value=_floats([None if c is None else c.p_value for c in cols]),
        effect=_floats([None if c is None else c.effect for c in cols]),
        effect_floor=_floats([None if c is None else c.effect_floor for c in cols]),
        null_threshold=_floats([None if c is None else c.null_threshold for c in cols]),
        alpha=_floats([None if c is None else c.alpha for c in cols]),
    )


def replay(profile: ReferenceProfile, history: pd.DataFrame, windows: Windows, options: CheckOptions, *,
           min_rows: int, progress: Callable[[int, int], None] | None = None) -> Replay:
    """Check every window of a sorted history file under each rule in :data:`RULES`."""
    frames = (history.iloc[int(lo):int(hi)] for lo, hi in zip(windows.lo, windows.hi, strict=True))
    return replay_frames(profile, frames, windows, options, min_rows=min_rows, progress=progress)


def replay_frames(profile: ReferenceProfile, frames: Iterable[pd.DataFrame | Windowed], windows: Windows,
                  options: CheckOptions, *, min_rows: int,
                  progress: Callable[[int, int], None] | None = None) -> Replay:
    """Check each window's frame (one per window, in order) with enough rows under each rule; record.

    A frame with fewer than ``min_rows`` rows is skipped, as the service records such a window as
    ``insufficient_data`` without a verdict. Frames are consumed one at a time, so a source read
    window by window never holds more than one window in memory. A :class:`Windowed` frame is
    checked against its own reference (skipped if that had too few rows); ``profile`` then only
    names the columns recorded (each window's profile tests the same columns).
    """
    by_rule: dict[Compat, list[DatasetResult | None]] = {rule: [] for rule in RULES}
    rows: list[int] = []
    short: list[bool] = []
    total = windows.size
    for i, item in enumerate(frames):
        frame, own = (item.frame, item.reference) if isinstance(item, Windowed) else (item, None)
        rows.append(len(frame))
        ok = len(frame) >= min_rows
        short.append(ok and own is not None and own.profile is None)
        for rule in RULES:
            if not ok or short[-1]:
                by_rule[rule].append(None)
            elif own is not None and own.profile is not None:
                by_rule[rule].append(seasonal_check(own.profile, frame, replace(options, compat=rule), own.seasonal))
            else:
                by_rule[rule].append(check(profile, frame, replace(options, compat=rule)))
        if progress is not None:
            progress(i + 1, total)
    if len(rows) != total:
        raise ValueError(f"{len(rows)} frames for {total} windows")
    counts = np.array(rows, dtype=np.int64)
    reference_short = np.array(short, dtype=bool)
    names = list(profile.columns)
    return Replay(
        windows=windows, rows=counts, checked=(counts >= min_rows) & ~reference_short, reference_short=reference_short,
        dataset={rule: np.array([r is not None and r.dataset_drift for r in res], dtype=bool)
                 for rule, res in by_rule.items()},
        columns={rule: tuple(_record(name, res, i) for i, name in enumerate(names)) for rule, res in by_rule.items()},
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Rates:
    """How a signal alarmed: false alarms on the clean stretch, delay and power on the injected one."""

    windows_clean: int
    alarms_clean: int
    false_alarms_per_month: float | None
    windows_injected: int
    alarms_injected: int
    power: float | None
    delay_windows: int | None
    delay_seconds: float | None

    def to_dict(self) -> dict[str, object]:
        """The JSON form (docs/json-output.md)."""
        return {"windows_clean": self.windows_clean, "alarms_clean": self.alarms_clean,
                "false_alarms_per_month": self.false_alarms_per_month,
                "windows_injected": self.windows_injected, "alarms_injected": self.alarms_injected,
                "power": self.power, "delay_windows": self.delay_windows, "delay_seconds": self.delay_seconds}


def rates(alarms: NDArray[np.bool_], replayed: Replay, at: datetime | None) -> Rates:
    """The rates of one signal (an alarm per window), counting checked windows only."""
    windows = replayed.windows
    clean, injected = windows.stretches(at)
    clean, injected = clean & replayed.checked, injected & replayed.checked
    n_clean, n_injected = int(clean.sum()), int(injected.sum())
    false_alarms = int((alarms & clean).sum())
    hits = alarms & injected
    delay_windows: int | None = None
    delay_seconds: float | None = None
    if at is not None and hits.any():
        first = int(np.flatnonzero(hits)[0])
        delay_windows = int(injected[:first].sum())
        delay_seconds = (int(windows.end[first]) - pd.Timestamp(at).value) / 1e9
    return Rates(
        windows_clean=n_clean, alarms_clean=false_alarms,
        false_alarms_per_month=false_alarms / n_clean * windows.per_month if n_clean else None,
        windows_injected=n_injected, alarms_injected=int(hits.sum()),
        power=int(hits.sum()) / n_injected if n_injected else None,
        delay_windows=delay_windows, delay_seconds=delay_seconds,
    )


def iso(ns: int) -> str:
    """A UTC nanosecond time as ISO 8601."""
    return datetime.fromtimestamp(ns / 1e9, tz=UTC).isoformat()
