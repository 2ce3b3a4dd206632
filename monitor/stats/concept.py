"""Concept drift: change detection on the time-ordered stream of a model's errors.

Errors are averaged into fixed time buckets before any detector sees them. Per-row errors in
real data are clustered (a bad day, a bad batch): fed one row at a time, a detector treats
thousands of correlated rows as independent evidence and fires again and again, each time
the cluster shifts. One value per bucket weighs time, not traffic, so a busy hour counts as
much as a quiet one and a detector's threshold keeps one meaning whatever the volume.

River's detectors do the detection; this module only buckets, feeds and reports. Detectors
that need one 0/1 outcome per observation are not offered (see :class:`Detector`). The service's
default detector, ``cusum`` (:mod:`monitor.stats.cusum`), is not bucket-fed: it reads the per-row
errors, and it and River's detectors keep their state across runs through
:mod:`monitor.stats.concept_state`; :func:`detect_concept_drift` is the one-window form.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any, NamedTuple, Protocol, TypeAlias

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from river import drift
from river.drift import binary

from monitor.errors import InputError, InsufficientData
from monitor.stats.performance import Labels, Task, _errors, _labelled

__all__ = [
    "DEFAULT_PARAMS", "RIVER_DETECTORS", "ConceptDriftResult", "Detector", "ErrorBuckets", "Timestamps",
    "bucket_errors", "detect_concept_drift", "river_detector", "row_errors",
]


#: Row times: a DatetimeIndex, a datetime Series or a sequence of aware datetimes.
Timestamps: TypeAlias = "pd.DatetimeIndex | pd.Series[pd.Timestamp] | Sequence[datetime]"


class Detector(StrEnum):
    """The change detectors: Driftline's CUSUM on the per-row errors, and River's on bucket means.

    ``cusum`` (the default) is :mod:`monitor.stats.cusum`: a log-likelihood-ratio CUSUM of the
    per-row errors against the reference's error level, checked at every row, so its meaning
    does not depend on traffic or bucket size; it runs through :mod:`monitor.stats.concept_state`,
    not :func:`detect_concept_drift`. The others are River's detectors fed one mean per bucket.

    ADWIN, Page-Hinkley and KSWIN take any real stream. HDDM_A and HDDM_W rest on Hoeffding
    and McDiarmid bounds, which hold for any values in [0, 1], so they take bucketed error
    rates (classification only). Not offered: DDM (its bound assumes each update is one
    Bernoulli trial, so a rate per bucket makes it miscalibrated), EDDM (it measures the
    distance between updates equal to 1, which a rate almost never is) and FHDDM (it counts
    0/1 outcomes in a window of observations).

    Page-Hinkley (mode "up" by default here), HDDM_A and HDDM_W fire on increases only;
    ADWIN and KSWIN fire on any change, improvements included.
    """

    CUSUM = "cusum"
    ADWIN = "adwin"
    PAGE_HINKLEY = "page_hinkley"
    KSWIN = "kswin"
    HDDM_A = "hddm_a"
    HDDM_W = "hddm_w"


class _River(Protocol):
    """What this module uses of a River detector (the binary ones share no base class)."""

    @property
    def drift_detected(self) -> bool: ...

    def update(self, x: float) -> object: ...


#: River's detectors (every :class:`Detector` but ``cusum``).
RIVER_DETECTORS: tuple[Detector, ...] = (Detector.ADWIN, Detector.PAGE_HINKLEY, Detector.KSWIN, Detector.HDDM_A,
                                         Detector.HDDM_W)

_FACTORIES: dict[Detector, Callable[..., _River]] = {
    Detector.ADWIN: drift.ADWIN,
    Detector.PAGE_HINKLEY: drift.PageHinkley,
    Detector.KSWIN: drift.KSWIN,
    Detector.HDDM_A: binary.HDDMA,
    Detector.HDDM_W: binary.HDDMW,
}

#: Driftline's defaults, overriding River's where a stream of bucket means needs it; explicit
#: keyword arguments win. Page-Hinkley looks for increases only ("up": we alert on
#: degradation); its ``delta`` and ``threshold`` are in the unit of the errors and suit hourly
#: classification error rates: on 40 simulated 20-day streams (100-200 rows an hour, the rate
#: wandering 2 points from day to day) none false-alarmed, and a jump from 10 % to 25 % was
#: found after a median of 18 hours (with 3 points of daily wander, 2 of 40 false-alarmed).
#: For regression, scale both to the target's unit. ADWIN checks for a cut after every bucket
#: (``clock=1``, River checks every 32nd update): with one value per bucket the saving is nil
#: and the delay would be up to 32 buckets. HDDM_A/HDDM_W are one-sided (increase) by default.
DEFAULT_PARAMS: Mapping[Detector, Mapping[str, Any]] = MappingProxyType({
    Detector.ADWIN: MappingProxyType({"clock": 1}),
    Detector.PAGE_HINKLEY: MappingProxyType({"mode": "up", "delta": 0.01, "threshold": 3.0}),
    Detector.KSWIN: MappingProxyType({}),
    Detector.CUSUM: MappingProxyType({}),
    Detector.HDDM_A: MappingProxyType({}),
    Detector.HDDM_W: MappingProxyType({}),
})


class ErrorBuckets(NamedTuple):
    """Mean error and labelled-row count per non-empty bucket, in time order."""

    starts: pd.DatetimeIndex
    means: NDArray[np.float64]
    counts: NDArray[np.int64]


@dataclass(frozen=True, slots=True, kw_only=True)
class ConceptDriftResult:
    """Where a detector fired on a bucketed error stream.

    ``change_points`` are the start times (aware, UTC) of the buckets after whose update the
    detector signalled; River resets a detector after it fires, so there may be several.
    ``params`` are the keyword arguments the detector was built with (defaults included).
    """

    detector: Detector
    params: Mapping[str, Any]
    bucket: timedelta
    n_rows: int
    n_labelled: int
    n_buckets: int
    change_points: tuple[datetime, ...]
    drifted: bool


def row_errors(task: Task, y_true: Labels, y_pred: Labels) -> NDArray[np.float64]:
    """Per-row error: 0/1 misclassification, or absolute error; NaN where the label is missing.

    Examples
    --------
    >>> row_errors(Task.CLASSIFICATION, ["a", None, "b"], ["a", "a", "a"]).tolist()
    [0.0, nan, 1.0]
    >>> row_errors(Task.REGRESSION, [1.0, 2.0], [1.5, 1.0]).tolist()
    [0.5, 1.0]
    """
    task = Task(task)
    t, p, rows, n_rows = _labelled(y_true, y_pred)
    out = np.full(n_rows, np.nan)
    out[rows] = _errors(task, t, p, rows)
    return out


def _width(bucket: timedelta | str) -> pd.Timedelta:
    try:
        width = pd.Timedelta(bucket)
    except ValueError as exc:
        raise ValueError(f"bucket ({bucket!r}) must be a timedelta or a fixed duration such as "
                         "'1h' or '15min'; calendar offsets ('MS', 'W-MON') are not fixed") from exc
    if width <= pd.Timedelta(0):
        raise ValueError(f"bucket ({bucket!r}) must be a positive duration")
    return width


def bucket_errors(
    timestamps: Timestamps, errors: ArrayLike, bucket: timedelta | str
) -> ErrorBuckets:
    """Average per-row errors into fixed-width time buckets; empty buckets are skipped.

    Buckets are aligned to the Unix epoch (UTC), not to the first row, so a row falls in the
    same bucket in every window that contains it (``"7D"`` buckets therefore start on
    Thursdays). Rows whose error is NaN (not labelled yet) are left out of ``means`` and
    ``counts``. The rows need not be sorted.

    Raises
    ------
    InputError
        Lengths differ, a timestamp is missing or naive (times must be timezone-aware), the
        times mix time zones (convert to UTC first), or an error is ±inf.
    ValueError
        ``bucket`` is not a positive fixed duration.

    Examples
    --------
    >>> ts = pd.to_datetime(["2024-01-01T00:10Z", "2024-01-01T00:50Z", "2024-01-01T02:05Z"])
    >>> b = bucket_errors(ts, [1.0, 0.0, 1.0], "1h")
    >>> [str(s) for s in b.starts], b.means.tolist(), b.counts.tolist()
    (['2024-01-01 00:00:00+00:00', '2024-01-01 02:00:00+00:00'], [0.5, 1.0], [2, 1])
    """
    width = _width(bucket)
    try:
        ts = pd.DatetimeIndex(list(timestamps) if isinstance(timestamps, Sequence) else timestamps)
    except (TypeError, ValueError) as exc:  # not times, or aware times in mixed time zones
        raise InputError(f"timestamps cannot be read as one time zone's times ({exc}); "
                         "convert them to UTC first", field="timestamps") from exc
    err = np.asarray(errors, dtype=np.float64)
    if err.ndim != 1 or err.shape[0] != ts.size:
        raise InputError(f"errors has shape {err.shape}; timestamps has {ts.size} rows",
                         field="errors")
    if ts.tz is None:
        raise InputError("timestamps are naive; expected timezone-aware times (UTC)",
                         field="timestamps")
    bad = np.flatnonzero(ts.isna())
    if bad.size:
        raise InputError(f"timestamps is missing at row {bad[0]}", field="timestamps",
                         row=int(bad[0]))
    bad = np.flatnonzero(np.isinf(err))
    if bad.size:
        raise InputError(f"errors at row {bad[0]} is {err[bad[0]]}; expected finite or NaN",
                         field="errors", row=int(bad[0]))
    labelled = ~np.isnan(err)
    step = int(width.value)  # nanoseconds
    keys = ts.tz_convert("UTC").as_unit("ns").asi8[labelled] // step
    keys, inverse = np.unique(keys, return_inverse=True)
    counts = np.bincount(inverse, minlength=keys.size).astype(np.int64)
    means = np.bincount(inverse, weights=err[labelled], minlength=keys.size) / counts
    starts = pd.DatetimeIndex(pd.to_datetime(keys * step, unit="ns", utc=True))
    return ErrorBuckets(starts, means, counts)


def river_detector(detector: Detector, kwargs: Mapping[str, Any]) -> _River:
    """A fresh River detector built with ``kwargs``; ``ValueError`` naming them if River refuses."""
    if detector not in _FACTORIES:
        raise ValueError(f"{detector} is not one of River's detectors ({', '.join(RIVER_DETECTORS)})")
    try:
        return _FACTORIES[detector](**kwargs)
    except (TypeError, ValueError) as exc:  # an unknown keyword, or a value River refuses
        raise ValueError(f"{detector} parameters {dict(kwargs)!r} were refused by River: {exc}") from exc


def detect_concept_drift(
    timestamps: Timestamps, errors: ArrayLike, *, bucket: timedelta | str,
    detector: Detector = Detector.PAGE_HINKLEY, rng: np.random.Generator | None = None,
    **params: Any,
) -> ConceptDriftResult:
    """Feed the bucket means, in time order, to a fresh River detector; report where it fired.

    Parameters
    ----------
    timestamps, errors
        One row each; ``errors`` from :func:`row_errors` (NaN = not labelled, counted).
    bucket
        Bucket width, e.g. ``timedelta(hours=1)`` or ``"1h"``.
    detector
        Which detector; its keyword arguments are :data:`DEFAULT_PARAMS` updated by ``params``
        (River's names, e.g. ``threshold=5.0`` for Page-Hinkley).
    rng
        Randomness for KSWIN, which samples its reference window; required for it unless
        ``seed`` is passed, so that results are reproducible.

    Raises
    ------
    InsufficientData
        No labelled row.
    InputError
        As :func:`bucket_errors`, or an HDDM detector given means outside [0, 1].
    ValueError
        A bad ``bucket``, a parameter River refuses, or KSWIN without ``rng`` or ``seed``.

    Examples
    --------
    >>> ts = pd.date_range("2024-01-01", periods=24 * 10, freq="h", tz="UTC")
    >>> errors = np.where(np.arange(ts.size) < 24 * 7, 0.1, 0.3)  # worse from day 7 on
    >>> r = detect_concept_drift(ts, errors, bucket="1h")
    >>> r.drifted, [str(t) for t in r.change_points], r.n_buckets
    (True, ['2024-01-08 16:00:00+00:00'], 240)
    """
    detector = Detector(detector)
    if detector is Detector.CUSUM:
        raise ValueError("cusum keeps state across windows: use monitor.stats.concept_state.advance")
    err = np.asarray(errors, dtype=np.float64)
    n_labelled = int(np.count_nonzero(~np.isnan(err)))
    if n_labelled == 0:
        raise InsufficientData(f"none of the {err.size} rows has an error (label)", needed=1, got=0)
    buckets = bucket_errors(timestamps, err, bucket)
    kwargs = {**DEFAULT_PARAMS[detector], **params}
    if detector is Detector.KSWIN and "seed" not in kwargs:
        if rng is None:
            raise ValueError("kswin samples at random: pass rng=np.random.default_rng(seed) "
                             "or seed=")
        kwargs["seed"] = int(rng.integers(2**32))
    if detector in (Detector.HDDM_A, Detector.HDDM_W):
        outside = np.flatnonzero((buckets.means < 0.0) | (buckets.means > 1.0))
        if outside.size:
            raise InputError(f"{detector} needs error rates in [0, 1]; the bucket at "
                             f"{buckets.starts[outside[0]]} has mean {buckets.means[outside[0]]}",
                             field="errors")
    model = river_detector(detector, kwargs)
    fired: list[int] = []
    # River's detectors are sequential state machines: this loop runs once per bucket (a few
    # hundred per window), never per row, and there is no vectorised equivalent to call.
    for i, value in enumerate(buckets.means.tolist()):
        model.update(value)
        if model.drift_detected:
            fired.append(i)
    change_points = tuple(buckets.starts[fired].to_pydatetime())
    return ConceptDriftResult(
        detector=detector, params=MappingProxyType(kwargs), bucket=_width(bucket).to_pytimedelta(),
        n_rows=int(err.size), n_labelled=n_labelled, n_buckets=int(buckets.means.size),
        change_points=change_points, drifted=bool(change_points),
    )
