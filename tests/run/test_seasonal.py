"""Dynamic references on seasonal streams: false alarms within the budget, changes still found.

A synthetic prediction log (seeded) with a daily and a weekly cycle and a small random offset per
hour of each week (no two Mondays alike) is replayed through the run layer
(``evaluate_dynamic``, the reference read through the same source port as the window). The
oracle of a false-alarm rate is the exact binomial (Clopper-Pearson via SciPy's beta), as in
tests/stats/test_calibrated.py: a reference kind meets the budget when the 99% interval of its
measured per-column rate reaches down to alpha = 0.05.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from monitor.config import DriftlineConfig
from monitor.domain import Monitor, Run, RunStatus, WindowSpec
from monitor.run import fit_reference
from monitor.run.evaluate import evaluate
from monitor.run.seasonal import DynamicReferences, evaluate_dynamic
from monitor.sources import select_window

ALPHA = 0.05
T0 = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday
WEEKS = 6


def clopper_pearson(k: int, n: int, level: float = 0.99) -> tuple[float, float]:
    tail = (1.0 - level) / 2.0
    lower = 0.0 if k == 0 else float(stats.beta.ppf(tail, k, n - k + 1))
    upper = 1.0 if k == n else float(stats.beta.ppf(1.0 - tail, k + 1, n - k))
    return lower, upper


def seasonal_log(seed: int, *, per_hour: int = 80, weeks: int = WEEKS) -> pd.DataFrame:
    """Hourly traffic with daily and weekly cycles; each hour of each week has its own small offset."""
    rng = np.random.default_rng(seed)
    hours = weeks * 7 * 24
    counts = rng.poisson(per_hour, hours)
    hour_index = np.repeat(np.arange(hours), counts)
    seconds = (hour_index + rng.uniform(0, 1, hour_index.size)) * 3600.0
    hour_of_day = hour_index % 24
    weekend = (hour_index // 24) % 7 >= 5
    offset = rng.normal(0.0, 0.1, hours)[hour_index]  # this week's hour is not last week's, by a little
    x = 1.5 * np.sin(2 * np.pi * hour_of_day / 24) + 0.8 * weekend + offset + rng.normal(0, 1, hour_index.size)
    night = (hour_of_day < 6) | (hour_of_day >= 22)
    p_mobile = np.where(night, 0.7, 0.4) + np.where(weekend, 0.1, 0.0)
    device = np.where(rng.uniform(size=hour_index.size) < p_mobile, "mobile", "desktop")
    return pd.DataFrame({
        "prediction_id": [f"p{i}" for i in range(hour_index.size)],
        "timestamp": pd.to_datetime(T0) + pd.to_timedelta(seconds, unit="s"),
        "x": x, "device": device, "prediction": np.where(x > 0.5, "1", "0"),
    })


class FrameSource:
    """A ``PredictionSource`` over an in-memory log, counting the ranges it was asked for."""

    def __init__(self, frame: pd.DataFrame) -> None:
        self.frame = frame
        self.reads: list[WindowSpec] = []

    def read(self, monitor: Monitor, window: WindowSpec) -> pd.DataFrame:
        self.reads.append(window)
        return select_window(self.frame, "timestamp", window)

    def close(self) -> None:
        pass


def monitor_with(reference: dict[str, object], window: str) -> Monitor:
    config = DriftlineConfig.model_validate({"monitors": [{
        "name": "shop", "model": "shop", "every": window, "window": {"last": window}, "min_rows": 30,
        "schema": {"numerical": ["x"], "categorical": ["device"], "target": None}, "reference": reference}]})
    return config.to_domain().monitors[0]


def blank_run(monitor: Monitor, window: WindowSpec) -> Run:
    return Run(id=uuid.uuid4().hex, monitor=monitor.name, model=monitor.model, status=RunStatus.OK,
               window_start=window.start, window_end=window.end, rows=0, started_at=T0, finished_at=T0)


def alarms(monitor: Monitor, log: pd.DataFrame, ends: list[datetime], *, fixed: pd.DataFrame | None = None
           ) -> dict[str, tuple[int, int]]:
    """Per column (alarms, tested windows) over the windows ending at ``ends``."""
    source, cache = FrameSource(log), DynamicReferences(4)
    bundle = None if fixed is None else fit_reference(monitor, fixed)
    counts: dict[str, list[int]] = {"x": [0, 0], "device": [0, 0], "prediction": [0, 0]}
    for end in ends:
        window = monitor.window_ending(end)
        if bundle is None:
            run = evaluate_dynamic(monitor, window, blank_run(monitor, window), source, cache)
        else:
            run = evaluate(monitor, bundle, source.read(monitor, window), blank_run(monitor, window))
        assert run.status.has_verdict, run.error
        for f in run.features:
            counts[f.column][0] += f.drifted
            counts[f.column][1] += 1
    return {c: (a, n) for c, (a, n) in counts.items()}


def hour_ends(first_day: int, n: int) -> list[datetime]:
    """``n`` hourly window ends, every 3rd hour (so every hour of the day is tested)."""
    return [T0 + timedelta(days=first_day, hours=1 + 3 * k) for k in range(n)]


def day_ends(first_day: int, n: int) -> list[datetime]:
    return [T0 + timedelta(days=first_day + 1 + k) for k in range(n)]


def within_budget(counted: tuple[int, int]) -> bool:
    lower, _ = clopper_pearson(*counted)
    return lower <= ALPHA


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    return seasonal_log(7)


@pytest.mark.slow
def test_a_whole_period_fixed_reference_drifts_most_of_the_time(log: pd.DataFrame) -> None:
    """The failure this fixes: hour and day windows against four whole weeks."""
    fixed = log[log["timestamp"] < pd.Timestamp(T0 + timedelta(weeks=4))]
    hourly = alarms(monitor_with({"type": "upload"}, "1h"), log, hour_ends(28, 60), fixed=fixed)
    daily = alarms(monitor_with({"type": "upload"}, "1d"), log, day_ends(28, 13), fixed=fixed)
    print(hourly, daily)
    assert hourly["x"][0] / hourly["x"][1] > 0.5, hourly
    assert daily["x"][0] / daily["x"][1] > 0.5, daily


@pytest.mark.slow
@pytest.mark.parametrize("window, ends", [("1h", hour_ends(28, 100)), ("1d", day_ends(28, 13))], ids=["hour", "day"])
def test_same_period_meets_the_false_alarm_budget(log: pd.DataFrame, window: str, ends: list[datetime]) -> None:
    monitor = monitor_with({"type": "same_period", "every": "1w", "periods": 4}, window)
    counted = alarms(monitor, log, ends)
    print(window, counted)
    for column, c in counted.items():
        assert within_budget(c), f"{column}: {c[0]}/{c[1]} false alarms"


@pytest.mark.slow
def test_same_period_still_sees_a_change_inside_the_season(log: pd.DataFrame) -> None:
    """A 0.5-sigma shift of x from day 30 on (about 80 rows an hour): found in most hour windows after it."""
    shifted = log.copy()
    after = shifted["timestamp"] >= pd.Timestamp(T0 + timedelta(days=30))
    shifted.loc[after, "x"] += 0.5
    monitor = monitor_with({"type": "same_period", "every": "1w", "periods": 4}, "1h")
    counted = alarms(monitor, shifted, hour_ends(30, 40))
    assert counted["x"][0] / counted["x"][1] >= 0.6, counted


def trend_log(seed: int, days: int = 42, per_day: int = 400) -> pd.DataFrame:
    """A level that wanders slowly (a smooth random walk per day), no cycle inside a day."""
    rng = np.random.default_rng(seed)
    level = np.cumsum(rng.normal(0.0, 0.005, days)) + np.linspace(0.0, 0.8, days)
    counts = rng.poisson(per_day, days)
    day = np.repeat(np.arange(days), counts)
    seconds = (day + rng.uniform(0, 1, day.size)) * 86_400.0
    x = level[day] + rng.normal(0, 1, day.size)
    device = np.where(rng.uniform(size=day.size) < 0.4 + 0.004 * day, "mobile", "desktop")
    return pd.DataFrame({"prediction_id": [f"p{i}" for i in range(day.size)],
                         "timestamp": pd.to_datetime(T0) + pd.to_timedelta(seconds, unit="s"),
                         "x": x, "device": device, "prediction": np.where(x > 0.5, "1", "0")})


@pytest.mark.slow
@pytest.mark.parametrize("reference", [{"type": "previous_window"}, {"type": "rolling", "last": "7d"}],
                         ids=["previous_window", "rolling"])
def test_following_references_on_a_wandering_level(reference: dict[str, object]) -> None:
    """Four seeded streams pooled (120 day windows): one stream's 30 days are too few for a rate.

    ``previous_window`` meets the budget (measured 11/120). ``rolling: 7d`` lags the rising level by
    about 3.5 days (0.07 sigma here) and does not (measured 17/120): it is asserted far below the
    fixed reference's rate only, as docs/statistics.md says.
    """
    ends = day_ends(8, 30)
    pooled = [0, 0]
    for seed in (3, 4, 5, 6):
        log = trend_log(seed)
        fixed = log[log["timestamp"] < pd.Timestamp(T0 + timedelta(days=7))]
        against_fixed = alarms(monitor_with({"type": "upload"}, "1d"), log, ends, fixed=fixed)
        assert against_fixed["x"][0] / against_fixed["x"][1] > 0.5, against_fixed
        a, n = alarms(monitor_with(reference, "1d"), log, ends)["x"]
        pooled = [pooled[0] + a, pooled[1] + n]
    print(reference, pooled)
    if reference["type"] == "previous_window":
        assert within_budget((pooled[0], pooled[1])), pooled
    else:
        assert pooled[0] / pooled[1] < 0.25, pooled


def test_the_ranges_read_are_the_references_and_fits_are_cached(log: pd.DataFrame) -> None:
    monitor = monitor_with({"type": "same_period", "every": "1w", "periods": 4}, "1h")
    window = monitor.window_ending(T0 + timedelta(weeks=5, hours=10))
    source, cache = FrameSource(log), DynamicReferences(2)
    run = evaluate_dynamic(monitor, window, blank_run(monitor, window), source, cache)
    expected = tuple(WindowSpec(start=window.start - k * timedelta(weeks=1), end=window.end - k * timedelta(weeks=1))
                     for k in (4, 3, 2, 1))
    assert run.reference_ranges == expected and run.reference_version is None
    assert source.reads == [window, *expected]
    evaluate_dynamic(monitor, window, blank_run(monitor, window), source, cache)
    assert source.reads[-1] == window and len(source.reads) == 6  # the reference came from the cache
    for hour in range(3):  # the LRU keeps at most 2 fits
        w = monitor.window_ending(T0 + timedelta(weeks=5, hours=20 + hour))
        evaluate_dynamic(monitor, w, blank_run(monitor, w), source, cache)
    assert cache.cached == 2


def test_a_reference_range_with_too_few_rows_is_insufficient_data(log: pd.DataFrame) -> None:
    monitor = monitor_with({"type": "same_period", "every": "1w", "periods": 4}, "1h")
    window = monitor.window_ending(T0 + timedelta(days=3, hours=5))  # the four weeks before hold no rows
    run = evaluate_dynamic(monitor, window, blank_run(monitor, window), FrameSource(log), DynamicReferences(2))
    assert run.status is RunStatus.INSUFFICIENT_DATA
    assert run.error is not None and "0 rows in the reference (SamePeriod:" in run.error and "needs at least 30" in run.error
    assert len(run.reference_ranges) == 4


def test_rolling_refit_keeps_the_reference_for_a_day() -> None:
    monitor = monitor_with({"type": "rolling", "last": "7d", "refit": "1d"}, "1h")
    a = monitor.reference_ranges(monitor.window_ending(T0 + timedelta(days=10, hours=3)))
    b = monitor.reference_ranges(monitor.window_ending(T0 + timedelta(days=10, hours=23)))
    assert a == b == (WindowSpec(start=T0 + timedelta(days=3), end=T0 + timedelta(days=10)),)


def yearly_log(seed: int, years: int = 10) -> pd.DataFrame:
    """One reading a day (a weather-like series): a yearly cycle, each year a little warmer or colder."""
    rng = np.random.default_rng(seed)
    days = 364 * years
    day = np.arange(days)
    year_offset = rng.normal(0.0, 0.1, years)[day // 364]
    x = 2.0 * np.sin(2 * np.pi * day / 364) + year_offset + rng.normal(0, 1, days)
    return pd.DataFrame({"prediction_id": [f"d{i}" for i in range(days)],
                         "timestamp": pd.to_datetime(T0) + pd.to_timedelta(day * 86_400 + 43_200, unit="s"),
                         "x": x, "device": np.where(rng.uniform(size=days) < 0.4, "mobile", "desktop"),
                         "prediction": np.where(x > 0.5, "1", "0")})


@pytest.mark.slow
def test_month_windows_of_a_daily_series_against_the_same_month_of_earlier_years() -> None:
    """The issue's first failure: 30-row month windows of a daily series against a whole-year reference.

    Against the same 4 weeks of the last 4 years (``same_period: {every: 52w, periods: 4}``) the
    budget is met; against a fixed reference of the first year most months drift.
    """
    log = yearly_log(21)
    ends = [T0 + timedelta(weeks=52 * 4 + 4 * (k + 1)) for k in range(78)]  # every 4 weeks of years 5-10
    month = DriftlineConfig.model_validate({"monitors": [{
        "name": "shop", "model": "shop", "every": "4w", "window": {"last": "4w"}, "min_rows": 20,
        "schema": {"numerical": ["x"], "categorical": ["device"], "target": None},
        "reference": {"type": "same_period", "every": "52w", "periods": 4}}]}).to_domain().monitors[0]
    seasonal = alarms(month, log, ends)
    fixed = alarms(month, log, ends, fixed=log.iloc[:364])
    print("same_period 52w x 4", seasonal, "fixed first year", fixed)
    for column, counted in seasonal.items():
        assert within_budget(counted), f"{column}: {counted[0]}/{counted[1]} false alarms"
    assert fixed["x"][0] / fixed["x"][1] > 0.5, fixed
