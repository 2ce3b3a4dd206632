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
    RIVER_DETECTORS,
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


@pytest.mark.parametrize("detector", RIVER_DETECTORS)
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


# --- the CUSUM across runs (monitor.stats.cusum, monitor.stats.concept_state) -------------------------------------

from monitor.stats.concept_state import ConceptState, RowBucket, advance, fresh_state  # noqa: E402
from monitor.stats.cusum import Baseline, CusumChart, CusumParams, baseline_of, update_chart  # noqa: E402


def page_cusum_by_hand(errors: NDArray[np.float64], p0: float, odds_ratio: float, h: float) -> int | None:
    """Page's Bernoulli LLR CUSUM written as the textbook loop (the oracle): the first alarm's row."""
    odds = p0 / (1 - p0) * odds_ratio
    p1 = odds / (1 + odds)
    s = 0.0
    for t, e in enumerate(errors.tolist()):
        s = max(0.0, s + (np.log(p1 / p0) if e else np.log((1 - p1) / (1 - p0))))
        if s >= h:
            return t
    return None


@pytest.mark.parametrize("seed", range(5))
def test_cusum_alarm_row_equals_the_textbook_loop(seed: int) -> None:
    rng = np.random.default_rng(seed)
    errors = (rng.random(6000) < np.where(np.arange(6000) < 3000, 0.1, 0.2)).astype(np.float64)
    chart, alarms = update_chart(CusumChart.start(Baseline(mean=0.1)), Task.CLASSIFICATION, CusumParams(),
                                 errors=errors, starts=np.arange(errors.size))
    assert alarms and alarms[0][1] == page_cusum_by_hand(errors, 0.1, 2.0, 9.0)


def test_cusum_state_split_anywhere_gives_the_same_alarms() -> None:
    rng = np.random.default_rng(1)
    errors = (rng.random(8000) < np.where(np.arange(8000) < 4000, 0.1, 0.25)).astype(np.float64)
    starts = np.arange(errors.size)
    whole = update_chart(CusumChart.start(Baseline(mean=0.1)), Task.CLASSIFICATION, CusumParams(), errors=errors,
                         starts=starts)
    for cut in (1, 999, 4100, 4321, 7999):
        a, first = update_chart(CusumChart.start(Baseline(mean=0.1)), Task.CLASSIFICATION, CusumParams(),
                                errors=errors[:cut], starts=starts[:cut])
        a = CusumChart.from_json(a.to_json())  # through storage's JSON
        b, second = update_chart(a, Task.CLASSIFICATION, CusumParams(), errors=errors[cut:], starts=starts[cut:])
        assert dataclasses.replace(b, up=0.0, down=0.0) == dataclasses.replace(whole[0], up=0.0, down=0.0)
        assert (b.up, b.down) == (pytest.approx(whole[0].up), pytest.approx(whole[0].down))
        assert first + [(o, r + cut) for o, r in second] == whole[1]


def test_baseline_of_reference_errors() -> None:
    assert baseline_of(Task.CLASSIFICATION, np.array([0.0, 0.0, 1.0, np.nan])) == Baseline(mean=1.5 / 4)
    reg = baseline_of(Task.REGRESSION, np.array([1.0, 2.0, 3.0]))
    assert reg is not None and (reg.mean, reg.sd) == (2.0, pytest.approx(1.0))
    assert baseline_of(Task.CLASSIFICATION, np.array([np.nan])) is None


def hourly(seed: int, hours: int, change_hour: int | None, rate: int = 200) -> tuple[pd.DatetimeIndex, NDArray[np.float64]]:
    rng = np.random.default_rng(seed)
    n = rate * hours
    seconds = np.sort(rng.random(n) * hours * 3600)
    p = np.where(seconds < (change_hour if change_hour is not None else hours + 1) * 3600, 0.1, 0.25)
    return START + pd.to_timedelta(seconds, unit="s"), (rng.random(n) < p).astype(np.float64)


def run_windows(ts: pd.DatetimeIndex, errors: NDArray[np.float64], *, width: timedelta, every: timedelta,
                bucket: Any, detector: Detector = Detector.CUSUM) -> tuple[list[datetime], ConceptState]:
    """Overlapping windows [end - width, end) every ``every``, the state carried (through JSON)."""
    state = fresh_state(detector, bucket, 1, Baseline(mean=0.1))
    points: list[datetime] = []
    end = START + every
    while end <= ts[-1] + every:
        inside = (ts >= end - width) & (ts < end)
        step = advance(state, ts[inside], errors[inside], end=end.to_pydatetime(), bucket=bucket,
                       task=Task.CLASSIFICATION)
        state = ConceptState.from_json(step.state.to_json())
        points.extend(step.change_points)
        end += every
    return points, state


@pytest.mark.parametrize("bucket", [timedelta(hours=1), RowBucket(500), RowBucket(1), timedelta(minutes=7)])
def test_overlapping_windows_report_the_change_once(bucket: Any) -> None:
    ts, errors = hourly(3, 24 * 10, change_hour=24 * 6)
    points, state = run_windows(ts, errors, width=timedelta(days=7), every=timedelta(hours=1), bucket=bucket)
    assert len(points) == 1 and state.change_points == 1
    change = START + timedelta(hours=24 * 6)
    assert change - timedelta(hours=2) <= points[0] <= change + timedelta(hours=2)


def test_a_window_wholly_after_the_jump_fires() -> None:
    ts, errors = hourly(4, 48, change_hour=0)  # every row is after the jump
    step = advance(fresh_state(Detector.CUSUM, timedelta(hours=1), 1, Baseline(mean=0.1)), ts, errors,
                   end=(START + timedelta(hours=48)).to_pydatetime(), bucket=timedelta(hours=1),
                   task=Task.CLASSIFICATION)
    assert step.drifted and step.change_points[0] < START + timedelta(hours=3)


def test_one_bucket_per_run_still_fires_with_hourly_windows() -> None:
    # The service's default: a 1h window every hour, 1h buckets: one bucket per run.
    ts, errors = hourly(6, 24 * 5, change_hour=24 * 3)  # (in-control alarms: about 0.025 per 10k rows)
    points, _ = run_windows(ts, errors, width=timedelta(hours=1), every=timedelta(hours=1), bucket=timedelta(hours=1))
    assert len(points) == 1 and points[0] >= START + timedelta(hours=24 * 3 - 1)


@pytest.mark.parametrize("seed", range(3))
def test_no_change_no_change_point(seed: int) -> None:
    ts, errors = hourly(20 + seed, 24 * 10, change_hour=None)
    points, _ = run_windows(ts, errors, width=timedelta(days=1), every=timedelta(hours=1), bucket=RowBucket(500))
    assert points == []


def test_row_buckets_equal_numpy_chunks_across_runs() -> None:
    ts, errors = hourly(6, 30, change_hour=None, rate=37)
    state = fresh_state(Detector.PAGE_HINKLEY, RowBucket(100), None, None)
    for h in range(1, 31):
        inside = (ts >= START + timedelta(hours=h - 1)) & (ts < START + timedelta(hours=h))
        state = advance(state, ts[inside], errors[inside], end=(START + timedelta(hours=h)).to_pydatetime(),
                        bucket=RowBucket(100), task=Task.CLASSIFICATION).state
    full = errors.size // 100
    np.testing.assert_allclose(state.history, errors[:full * 100].reshape(full, 100).mean(axis=1))
    assert state.open_n == errors.size - full * 100


def test_state_of_another_version_is_refused() -> None:
    data = fresh_state(Detector.CUSUM, timedelta(hours=1), 1, Baseline(mean=0.1)).to_json()
    assert ConceptState.from_json(data).matches(Detector.CUSUM, timedelta(hours=1), 1)
    assert not ConceptState.from_json(data).matches(Detector.CUSUM, RowBucket(500), 1)
    with pytest.raises(ValueError, match="version"):
        ConceptState.from_json({**data, "version": 99})
    with pytest.raises(ValueError, match="malformed"):
        ConceptState.from_json({**data, "open": [1]})
