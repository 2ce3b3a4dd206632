"""Concept drift: bucketing against pandas, change points against River fed by hand, streams.

The synthetic stream mimics labelled traffic: about 200 rows an hour for 20 days, an error
rate of 0.10 that wanders from day to day (the clustering real error streams show), jumping
to 0.25 at the start of day 14.
"""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd
import pytest
from numpy.typing import NDArray
from river import drift
from river.drift import binary

from monitor.errors import InputError, InsufficientData
from monitor.stats.concept import (
    DEFAULT_PARAMS,
    Detector,
    bucket_errors,
    detect_concept_drift,
    row_errors,
)
from monitor.stats.performance import Task

START = pd.Timestamp("2024-01-01", tz="UTC")
CHANGE = START + pd.Timedelta(days=14)
RIVER = {
    Detector.ADWIN: drift.ADWIN,
    Detector.PAGE_HINKLEY: drift.PageHinkley,
    Detector.KSWIN: drift.KSWIN,
    Detector.HDDM_A: binary.HDDMA,
    Detector.HDDM_W: binary.HDDMW,
}


def error_stream(
    seed: int, *, change_day: int | None = 14, days: int = 20, rows_per_hour: int = 200,
    day_noise: float = 0.02,
) -> tuple[pd.DatetimeIndex, NDArray[np.float64]]:
    """0/1 errors at random times; the error rate is shared by all rows of a day."""
    rng = np.random.default_rng(seed)
    hours = days * 24
    hour = np.repeat(np.arange(hours), rng.poisson(rows_per_hour, hours))
    base = np.full(days, 0.10)
    if change_day is not None:
        base[change_day:] = 0.25
    rate = np.clip(base + rng.normal(0.0, day_noise, days), 0.0, 1.0)[hour // 24]
    errors = (rng.random(hour.size) < rate).astype(np.float64)
    seconds = hour * 3600.0 + rng.random(hour.size) * 3600.0
    order = rng.permutation(hour.size)  # rows arrive out of order; bucketing must not care
    return START + pd.to_timedelta(seconds[order], unit="s"), errors[order]


def fed_by_hand(detector: Any, values: NDArray[np.float64]) -> list[int]:
    fired = []
    for i, v in enumerate(values):
        detector.update(float(v))
        if detector.drift_detected:
            fired.append(i)
    return fired


def pandas_buckets(ts: pd.DatetimeIndex, errors: NDArray[np.float64], rule: str) -> pd.DataFrame:
    agg = pd.Series(errors, index=ts).resample(rule, origin="epoch").agg(["mean", "count"])
    return agg[agg["count"] > 0]


@pytest.mark.parametrize(
    ("bucket", "rule"),
    # pandas resamples calendar days ("D") from midnight of the first row, ignoring origin;
    # fixed 24h/168h bins with origin="epoch" are what our "1D"/"7D" buckets mean.
    [("1h", "1h"), ("15min", "15min"), ("1D", "24h"), ("7D", "168h"),
     (timedelta(minutes=90), "90min")],
)
def test_bucketing_equals_pandas_resample(bucket: str | timedelta, rule: str) -> None:
    ts, errors = error_stream(3, days=15)
    errors[::7] = np.nan  # unlabelled rows: left out of means and counts
    got = bucket_errors(ts, errors, bucket)
    want = pandas_buckets(ts, errors, rule)
    assert got.starts.equals(want.index)
    np.testing.assert_allclose(got.means, want["mean"].to_numpy(), rtol=1e-12)
    np.testing.assert_array_equal(got.counts, want["count"].to_numpy())


def test_bucketing_equals_groupby_on_floored_times_and_skips_empty_buckets() -> None:
    ts = pd.DatetimeIndex(["2024-03-01T10:59:59Z", "2024-03-01T10:00:00Z", "2024-03-01T13:30:00Z",
                           "2024-03-01T00:15:00Z"]).tz_convert("Asia/Karachi")  # UTC+5
    errors = np.array([1.0, 0.0, 3.0, 2.0])
    got = bucket_errors(list(ts.to_pydatetime()), errors, timedelta(hours=1))
    want = pd.Series(errors).groupby(ts.tz_convert("UTC").floor("1h")).agg(["mean", "count"])
    assert got.starts.equals(pd.DatetimeIndex(want.index))
    assert got.means.tolist() == want["mean"].tolist() == [2.0, 0.5, 3.0]
    assert got.counts.tolist() == [1, 2, 1]


@pytest.mark.parametrize("detector", list(Detector))
def test_change_points_equal_river_fed_bucket_means_by_hand(detector: Detector) -> None:
    ts, errors = error_stream(5)
    extra: dict[str, Any] = {"seed": 42} if detector is Detector.KSWIN else {}
    r = detect_concept_drift(ts, errors, bucket="1h", detector=detector, **extra)
    means = pandas_buckets(ts, errors, "1h")
    params = {**DEFAULT_PARAMS[detector], **extra}
    assert dict(r.params) == params
    fired = fed_by_hand(RIVER[detector](**params), means["mean"].to_numpy())
    assert r.change_points == tuple(pd.DatetimeIndex(means.index)[fired].to_pydatetime())
    assert r.drifted == bool(fired) and r.n_buckets == len(means) == 20 * 24
    assert all(t.tzinfo is not None and t.utcoffset() == timedelta(0) for t in r.change_points)


def test_page_hinkley_defaults_look_for_increases() -> None:
    assert dict(DEFAULT_PARAMS[Detector.PAGE_HINKLEY]) == {
        "mode": "up", "delta": 0.01, "threshold": 3.0}
    ts, errors = error_stream(6, change_day=None)
    better = np.where(ts >= CHANGE, errors * (np.arange(errors.size) % 3 == 0), errors)  # rate /3
    assert not detect_concept_drift(ts, better, bucket="1h").drifted
    assert detect_concept_drift(ts, better, bucket="1h", mode="both").drifted


def test_page_hinkley_finds_the_jump_on_day_14_and_nothing_before() -> None:
    ts, errors = error_stream(0)
    r = detect_concept_drift(ts, errors, bucket="1h")
    assert r.drifted and r.n_rows == r.n_labelled == errors.size
    assert all(t >= CHANGE for t in r.change_points)
    assert r.change_points[0] < CHANGE + timedelta(days=2)


def test_per_row_detection_fires_far_more_often_than_bucketed() -> None:
    ts, errors = error_stream(0)
    bucketed = detect_concept_drift(ts, errors, bucket="1h")
    # One row per bucket: a nanosecond bucket holds one row here (asserted below). River's
    # own Page-Hinkley defaults (made for per-row 0/1 streams) apart from mode="up".
    per_row = detect_concept_drift(ts, errors, bucket="1ns", threshold=50.0, delta=0.005)
    assert per_row.n_buckets == errors.size
    assert len(bucketed.change_points) == 1
    assert len(per_row.change_points) >= 5 * len(bucketed.change_points)
    assert sum(t < CHANGE for t in per_row.change_points) >= 3  # false alarms from clustering


@pytest.mark.parametrize("seed", [10, 11, 12])
def test_stream_without_change_has_no_change_points(seed: int) -> None:
    ts, errors = error_stream(seed, change_day=None)
    r = detect_concept_drift(ts, errors, bucket="1h")
    assert r.change_points == () and not r.drifted


def test_kswin_is_reproducible_from_a_generator_and_refuses_to_run_without_one() -> None:
    ts, errors = error_stream(1)
    a = detect_concept_drift(ts, errors, bucket="1h", detector=Detector.KSWIN,
                             rng=np.random.default_rng(9))
    b = detect_concept_drift(ts, errors, bucket="1h", detector=Detector.KSWIN,
                             rng=np.random.default_rng(9))
    assert a == b
    with pytest.raises(ValueError, match="rng"):
        detect_concept_drift(ts, errors, bucket="1h", detector=Detector.KSWIN)


def test_row_errors() -> None:
    cls = row_errors(Task.CLASSIFICATION, np.array([1.0, np.nan, 0.0, 2.0]), np.array([1, 1, 1, 0]))
    np.testing.assert_array_equal(cls, [0.0, np.nan, 1.0, 1.0])
    reg = row_errors(Task.REGRESSION, [1.0, 2.0, None], [3.0, 1.5, 0.0])
    np.testing.assert_array_equal(reg, [2.0, 0.5, np.nan])
    with pytest.raises(InputError) as info:
        row_errors(Task.REGRESSION, [1.0, 2.0], [1.0])
    assert info.value.field == "y_pred"


def test_unlabelled_rows_are_counted() -> None:
    ts, errors = error_stream(2, days=3)
    errors[:100] = np.nan
    r = detect_concept_drift(ts, errors, bucket="1h")
    assert (r.n_rows, r.n_labelled) == (errors.size, errors.size - 100)
    with pytest.raises(InsufficientData):
        detect_concept_drift(ts, np.full(errors.size, np.nan), bucket="1h")


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"timestamps": pd.date_range("2024-01-01", periods=3, freq="h")}, InputError, "naive"),
        ({"timestamps": [datetime(2024, 1, 1, tzinfo=timezone(timedelta(hours=h)))
                         for h in range(3)]},
         InputError, "UTC"),
        ({"timestamps": ["2024-01-01T00:00Z", None, "2024-01-01T02:00Z"]}, InputError, "row 1"),
        ({"errors": [0.0, 1.0]}, InputError, "errors"),
        ({"errors": [0.0, np.inf, 1.0]}, InputError, "row 1"),
        ({"bucket": "MS"}, ValueError, "'MS'"),
        ({"bucket": "-1h"}, ValueError, "positive"),
        ({"errors": [0.5, 2.0, 1.0], "detector": Detector.HDDM_A}, InputError, r"\[0, 1\]"),
        ({"treshold": 5.0}, ValueError, "treshold"),
        ({"mode": "sideways"}, ValueError, "sideways"),
    ],
    ids=["naive-times", "mixed-zones", "missing-time", "length", "inf-error", "calendar-bucket",
         "negative-bucket", "hddm-range", "unknown-param", "bad-param-value"],
)
def test_bad_arguments_are_refused_with_the_value(kwargs: dict[str, Any], error: type[Exception],
                                                  match: str) -> None:
    hours = pd.date_range("2024-01-01", periods=3, freq="h", tz="UTC")
    call: dict[str, Any] = {"timestamps": hours, "errors": [0.0, 1.0, 0.0], "bucket": "1h",
                            **kwargs}
    with pytest.raises(error, match=match):
        detect_concept_drift(call.pop("timestamps"), call.pop("errors"), **call)


def test_result_is_frozen() -> None:
    ts = [datetime(2024, 1, 1, h, tzinfo=UTC) for h in range(3)]
    r = detect_concept_drift(ts, [0.0, 1.0, 0.0], bucket="1h")
    assert (r.n_buckets, r.bucket, r.detector) == (3, timedelta(hours=1), Detector.PAGE_HINKLEY)
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.drifted = True  # type: ignore[misc]
