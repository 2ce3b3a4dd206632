"""Concept drift that lives across runs: a detector's state, advanced by each window's new rows.

A run hands :func:`advance` its window's rows and the state the previous run left. Only rows at
or after the state's ``until`` (the end of the last window it consumed) are new; they join the
bucket left open last time, complete buckets are fed to the detector once, and the rest stays
open for the next run. Overlapping windows therefore never feed a row twice and never report a
change point twice; a window wholly after a jump still fires, because the detector's baseline
is the reference's error level (or the level it learnt), not the window's own start.

Buckets are fixed time spans aligned to the epoch (``timedelta``) or runs of ``RowBucket(n)``
labelled rows in time order. The state is plain JSON (:meth:`ConceptState.to_json`), versioned:
a state of another version, detector, bucket or reference is discarded and the detector starts
afresh. River's detectors are not serialised (their pickles would tie stored rows to River's
internals and run code on load); their state is the bucket means fed since their last alarm,
replayed into a fresh detector each run (at most :data:`MAX_HISTORY` of them).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from monitor.errors import InputError
from monitor.stats.concept import DEFAULT_PARAMS, Detector, Timestamps, river_detector
from monitor.stats.cusum import Baseline, CusumChart, CusumParams, update_chart
from monitor.stats.performance import Task

__all__ = ["MAX_HISTORY", "STATE_VERSION", "Advance", "Bucket", "ConceptState", "RowBucket", "advance",
           "bucket_key", "fresh_state"]

STATE_VERSION = 1
#: River detectors replay at most this many bucket means (the oldest are dropped).
MAX_HISTORY = 5000


@dataclass(frozen=True, slots=True)
class RowBucket:
    """A bucket of ``rows`` labelled rows (``bucket: 500 rows``)."""

    rows: int

    def __post_init__(self) -> None:
        if self.rows < 1:
            raise ValueError(f"a bucket holds at least 1 row, not {self.rows}")

    def __str__(self) -> str:
        return f"{self.rows} rows"


Bucket = timedelta | RowBucket


def bucket_key(bucket: Bucket) -> str:
    """The bucket as stored in a state (``"3600s"`` or ``"500 rows"``).

    >>> bucket_key(timedelta(hours=1)), bucket_key(RowBucket(500))
    ('3600s', '500 rows')
    """
    if isinstance(bucket, RowBucket):
        return str(bucket)
    seconds = bucket.total_seconds()
    if seconds <= 0:
        raise ValueError(f"bucket ({bucket}) must be a positive duration")
    return f"{seconds:g}s"


@dataclass(frozen=True, slots=True, kw_only=True)
class ConceptState:
    """What a monitor's concept detector carries from one run to the next."""

    detector: Detector
    bucket: str
    reference_version: int | None
    until: datetime | None = None  # rows before this were consumed
    open_start: int | None = None  # the open bucket: start (epoch ns), labelled rows, sums
    open_n: int = 0
    open_sum: float = 0.0
    open_sumsq: float = 0.0
    chart: CusumChart | None = None
    history: tuple[float, ...] = ()
    buckets_fed: int = 0
    change_points: int = 0

    def to_json(self) -> dict[str, Any]:
        """The state as a JSON object (stored per monitor)."""
        return {"version": STATE_VERSION, "detector": str(self.detector), "bucket": self.bucket,
                "reference_version": self.reference_version,
                "until": None if self.until is None else self.until.isoformat(),
                "open": [self.open_start, self.open_n, self.open_sum, self.open_sumsq],
                "chart": None if self.chart is None else self.chart.to_json(), "history": list(self.history),
                "buckets_fed": self.buckets_fed, "change_points": self.change_points}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ConceptState:
        """A state written by :meth:`to_json`; ``ValueError`` naming what is wrong otherwise."""
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"concept state version {data.get('version')!r}; this release reads {STATE_VERSION}")
        try:
            start, n, s, ss = data["open"]
            until = data["until"]
            return cls(detector=Detector(data["detector"]), bucket=str(data["bucket"]),
                       reference_version=None if data["reference_version"] is None else int(data["reference_version"]),
                       until=None if until is None else datetime.fromisoformat(until).astimezone(UTC),
                       open_start=None if start is None else int(start), open_n=int(n), open_sum=float(s),
                       open_sumsq=float(ss),
                       chart=None if data["chart"] is None else CusumChart.from_json(data["chart"]),
                       history=tuple(float(v) for v in data["history"]), buckets_fed=int(data["buckets_fed"]),
                       change_points=int(data["change_points"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise ValueError(f"concept state is malformed: {exc!r}") from exc

    def matches(self, detector: Detector, bucket: Bucket, reference_version: int | None) -> bool:
        """Whether this state was built for this detector, bucket and reference version."""
        return (self.detector, self.bucket, self.reference_version) == (detector, bucket_key(bucket),
                                                                         reference_version)


@dataclass(frozen=True, slots=True, kw_only=True)
class Advance:
    """One run's step: the new state, the change points found in it (each reported once)."""

    state: ConceptState
    change_points: tuple[datetime, ...]
    alarms: tuple[datetime, ...]  # the time of the last row the detector had seen when it found each one
    n_rows: int  # new labelled rows consumed
    n_buckets: int  # buckets completed and fed

    @property
    def drifted(self) -> bool:
        """A change point was found in this step."""
        return bool(self.change_points)


def _buckets(state: ConceptState, bucket: Bucket, ts_ns: NDArray[np.int64], err: NDArray[np.float64],
             end_ns: int) -> tuple[tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64],
                                         NDArray[np.int64]], ConceptState]:
    """Complete buckets (counts, sums, sums of squares, starts) of the open bucket plus new rows."""
    sq = err * err
    if isinstance(bucket, RowBucket):
        return _row_buckets(state, bucket.rows, ts_ns, err, sq)
    step = int(bucket.total_seconds() * 1e9)
    keys = ts_ns // step
    if state.open_start is not None and state.open_n:
        keys = np.concatenate([[state.open_start // step], keys])
        err = np.concatenate([[state.open_sum], err])
        sq = np.concatenate([[state.open_sumsq], sq])
        weights = np.concatenate([[state.open_n], np.ones(ts_ns.size, dtype=np.int64)])
    else:
        weights = np.ones(ts_ns.size, dtype=np.int64)
    uniq, inverse = np.unique(keys, return_inverse=True)
    counts = np.bincount(inverse, weights=weights, minlength=uniq.size).astype(np.int64)
    sums = np.asarray(np.bincount(inverse, weights=err, minlength=uniq.size), dtype=np.float64)
    sumsq = np.asarray(np.bincount(inverse, weights=sq, minlength=uniq.size), dtype=np.float64)
    closed = (uniq + 1) * step <= end_ns
    k = int(closed.sum())  # keys are sorted and end_ns is past every row: only the last may be open
    if k < uniq.size:
        new = replace(state, open_start=int(uniq[-1] * step), open_n=int(counts[-1]), open_sum=float(sums[-1]),
                      open_sumsq=float(sumsq[-1]))
    else:
        new = replace(state, open_start=None, open_n=0, open_sum=0.0, open_sumsq=0.0)
    return (counts[:k], sums[:k], sumsq[:k], (uniq[:k] * step).astype(np.int64)), new


def _row_buckets(state: ConceptState, size: int, ts_ns: NDArray[np.int64], err: NDArray[np.float64],
                 sq: NDArray[np.float64]) -> tuple[tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64],
                                                         NDArray[np.int64]], ConceptState]:
    """Buckets of ``size`` rows: the open bucket's rows come first, then the new rows in time order.

    In "virtual" rows (the open ones, then the new ones), bucket ``j`` is ``[j size, (j+1) size)``;
    its sums are differences of the virtual cumulative sums, the open rows contributing their totals.
    """
    m, held = err.size, state.open_n
    full = (held + m) // size
    if full == 0:
        start = state.open_start if held else (int(ts_ns[0]) if m else None)
        empty = np.empty(0, dtype=np.int64)
        return (empty, np.empty(0), np.empty(0), empty), replace(
            state, open_start=start, open_n=held + m, open_sum=state.open_sum + float(err.sum()),
            open_sumsq=state.open_sumsq + float(sq.sum()))
    cut = np.arange(full + 1) * size - held  # bucket bounds as indices into the new rows (the first may be < 0)
    cum = np.concatenate([[0.0], np.cumsum(err)])
    cum_sq = np.concatenate([[0.0], np.cumsum(sq)])
    at = np.maximum(cut, 0)
    sums = np.asarray(np.diff(cum[at]), dtype=np.float64)
    sumsq = np.asarray(np.diff(cum_sq[at]), dtype=np.float64)
    sums[0] += state.open_sum
    sumsq[0] += state.open_sumsq
    starts = ts_ns[np.minimum(at[:-1], max(m - 1, 0))].astype(np.int64)
    if held and state.open_start is not None:
        starts[0] = state.open_start
    rest = int(cut[-1])
    left = m - rest
    new = replace(state, open_start=int(ts_ns[rest]) if left else None, open_n=left,
                  open_sum=float(err[rest:].sum()), open_sumsq=float(sq[rest:].sum()))
    return (np.full(full, size, dtype=np.int64), sums, sumsq, starts), new


def _row_bucket_starts(state: ConceptState, bucket: Bucket, ts_ns: NDArray[np.int64]) -> NDArray[np.int64]:
    """Each new row's bucket start (epoch ns): the floored time, or the first row of its run of N rows."""
    if not isinstance(bucket, RowBucket):
        step = int(bucket.total_seconds() * 1e9)
        return np.asarray(ts_ns // step * step, dtype=np.int64)
    held = state.open_n
    first = (held + np.arange(ts_ns.size)) // bucket.rows * bucket.rows - held
    open_start = state.open_start if state.open_start is not None else 0
    return np.where(first < 0, open_start, ts_ns[np.maximum(first, 0)]).astype(np.int64)


def _last_row(bucket: Bucket, ts_ns: NDArray[np.int64], start: int, row_starts: NDArray[np.int64]) -> int:
    """The time of the last new row of the bucket starting at ``start`` (its start if it has none)."""
    rows = np.flatnonzero(row_starts == start)
    return int(ts_ns[rows[-1]]) if rows.size else start


def _times(timestamps: Timestamps) -> NDArray[np.int64]:
    try:
        ts = pd.DatetimeIndex(list(timestamps) if isinstance(timestamps, Sequence) else timestamps)
    except (TypeError, ValueError) as exc:
        raise InputError(f"timestamps cannot be read as one time zone's times ({exc}); convert them to UTC first",
                         field="timestamps") from exc
    if ts.tz is None:
        raise InputError("timestamps are naive; expected timezone-aware times (UTC)", field="timestamps")
    bad = np.flatnonzero(ts.isna())
    if bad.size:
        raise InputError(f"timestamps is missing at row {bad[0]}", field="timestamps", row=int(bad[0]))
    return np.asarray(ts.tz_convert("UTC").as_unit("ns").asi8, dtype=np.int64)


def _ns(t: datetime) -> int:
    return int(pd.Timestamp(t).tz_convert("UTC").as_unit("ns").value)


def _when(ns: int) -> datetime:
    return pd.Timestamp(ns // 1000 * 1000, unit="ns", tz="UTC").to_pydatetime()  # datetimes hold microseconds


def fresh_state(detector: Detector, bucket: Bucket, reference_version: int | None,
                reference: Baseline | None) -> ConceptState:
    """A detector that has seen nothing yet; the CUSUM starts on the reference's baseline."""
    detector = Detector(detector)
    return ConceptState(detector=detector, bucket=bucket_key(bucket), reference_version=reference_version,
                        chart=CusumChart.start(reference) if detector is Detector.CUSUM else None)


def advance(
    state: ConceptState, timestamps: Timestamps, errors: ArrayLike, *, end: datetime, bucket: Bucket, task: Task,
    params: CusumParams = CusumParams(), river_params: Mapping[str, Any] | None = None,
) -> Advance:
    """Consume the new labelled rows of a window ending at ``end`` (exclusive); report new change points.

    Rows before ``state.until`` were consumed by an earlier run and are skipped; rows at or after
    ``end`` are left for a later one; unlabelled rows (NaN errors) are never counted (a label
    that arrives after its row was consumed is not seen by the detector). A change point is the
    start of the bucket where the change began (CUSUM) or where the detector fired (River).

    Raises
    ------
    InputError
        Lengths differ, a timestamp is missing or naive, an error is ±inf, or an HDDM detector
        gets a bucket mean outside [0, 1].
    """
    err = np.asarray(errors, dtype=np.float64)
    ts = _times(timestamps)
    if err.ndim != 1 or err.shape[0] != ts.size:
        raise InputError(f"errors has shape {err.shape}; timestamps has {ts.size} rows", field="errors")
    bad = np.flatnonzero(np.isinf(err))
    if bad.size:
        raise InputError(f"errors at row {bad[0]} is {err[bad[0]]}; expected finite or NaN", field="errors",
                         row=int(bad[0]))
    end_ns = _ns(end)
    lo = _ns(state.until) if state.until is not None else np.iinfo(np.int64).min
    keep = (ts >= lo) & (ts < end_ns) & ~np.isnan(err)
    order = np.argsort(ts[keep], kind="stable")
    ts, err = ts[keep][order], err[keep][order]
    row_starts = _row_bucket_starts(state, bucket, ts)
    (counts, sums, sumsq, starts), st = _buckets(state, bucket, ts, err, end_ns)
    until = end if state.until is None or end > state.until else state.until
    st = replace(st, until=until.astimezone(UTC), buckets_fed=state.buckets_fed + int(counts.size))
    points: list[tuple[int, int]] = []
    if err.size and st.detector is Detector.CUSUM:
        assert st.chart is not None
        chart, found = update_chart(st.chart, task, params, errors=err, starts=row_starts)
        points = [(onset, int(ts[row])) for onset, row in found]
        st = replace(st, chart=chart)
    elif counts.size:
        st, points = _river(st, counts, sums, starts, river_params or {})
        points = [(p, _last_row(bucket, ts, p, row_starts)) for p, _ in points]
    return Advance(state=replace(st, change_points=st.change_points + len(points)),
                   change_points=tuple(_when(p) for p, _ in points), alarms=tuple(_when(a) for _, a in points),
                   n_rows=int(err.size), n_buckets=int(counts.size))


def _river(st: ConceptState, counts: NDArray[np.int64], sums: NDArray[np.float64], starts: NDArray[np.int64],
           params: Mapping[str, Any]) -> tuple[ConceptState, list[tuple[int, int]]]:
    """Replay the stored means into a fresh River detector, then feed the new ones."""
    means = sums / counts
    if st.detector in (Detector.HDDM_A, Detector.HDDM_W):
        outside = np.flatnonzero((means < 0.0) | (means > 1.0))
        if outside.size:
            raise InputError(f"{st.detector} needs error rates in [0, 1]; the bucket at {_when(int(starts[outside[0]]))} "
                             f"has mean {means[outside[0]]}", field="errors")
    kwargs = {**DEFAULT_PARAMS[st.detector], **params}
    if st.detector is Detector.KSWIN:
        kwargs.setdefault("seed", 0)  # a replay must draw what the first pass drew
    model = river_detector(st.detector, kwargs)
    for v in st.history:  # River's detectors are sequential: one update per stored bucket mean
        model.update(v)
    history = list(st.history)
    points: list[tuple[int, int]] = []
    for i, v in enumerate(means.tolist()):
        model.update(v)
        history.append(v)
        if model.drift_detected:
            points.append((int(starts[i]), int(starts[i])))
            history = []
            model = river_detector(st.detector, kwargs)
    return replace(st, history=tuple(history[-MAX_HISTORY:])), points

