"""A real seasonal series through the dynamic references: half-hourly electricity demand.

``data/taylor_demand.csv`` is the demand of England and Wales (MW) every half hour from Monday
5 June to Sunday 27 August 2000 (4,032 readings, 12 weeks): a daily cycle and a weekly one
(weekends lower), Taylor (2003), "Short-term electricity demand forecasting using double
seasonal exponential smoothing", J. Oper. Res. Soc. 54, 799-805; copied from pmdarima's
``load_taylor`` (MIT), which ships it. Replayed through the run layer (``evaluate_dynamic``) as
tests/run/test_seasonal.py replays its synthetic stream, with the same exact binomial oracle.

Day windows (48 readings) from the fifth week on: against the same weekday of the last four weeks
the false-alarm budget is met; against a fixed reference of the first four weeks, or against
yesterday (``previous_window``: a Monday against a Sunday), it is not, which is why
docs/statistics.md says to pick ``same_period`` for a weekly cycle.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitor.config import DriftlineConfig
from monitor.domain import Monitor
from monitor.run import fit_reference
from monitor.run.evaluate import evaluate
from monitor.run.seasonal import DynamicReferences, evaluate_dynamic
from tests.run.test_seasonal import FrameSource, blank_run, within_budget

T0 = datetime(2000, 6, 5, tzinfo=UTC)  # a Monday
DATA = Path(__file__).with_name("data") / "taylor_demand.csv"
WEEKS = 4
DAYS = [T0 + timedelta(days=7 * WEEKS + 1 + k) for k in range(55)]  # each day's end, from day 29 to the last


def demand_log(scale_from: datetime | None = None, factor: float = 1.0) -> pd.DataFrame:
    demand = pd.read_csv(DATA)["demand_mw"].to_numpy(np.float64)
    stamps = pd.date_range(T0, periods=demand.size, freq="30min", tz="UTC")
    if scale_from is not None:
        demand = np.where(stamps >= pd.Timestamp(scale_from), demand * factor, demand)
    return pd.DataFrame({"prediction_id": [f"p{i}" for i in range(demand.size)], "timestamp": stamps,
                         "demand": demand, "prediction": np.where(demand > 30000, "high", "low")})


def monitor_with(reference: dict[str, object]) -> Monitor:
    return DriftlineConfig.model_validate({"monitors": [{
        "name": "grid", "model": "grid", "every": "1d", "window": {"last": "1d"}, "min_rows": 30,
        "schema": {"numerical": ["demand"], "target": None}, "reference": reference}]}).to_domain().monitors[0]


def drifted_days(reference: dict[str, object], log: pd.DataFrame, ends: list[datetime],
                 fixed: pd.DataFrame | None = None) -> tuple[int, int]:
    """(days whose ``demand`` drifted, days tested)."""
    monitor, source, cache = monitor_with(reference), FrameSource(log), DynamicReferences(4)
    bundle = None if fixed is None else fit_reference(monitor, fixed)
    drifted = 0
    for end in ends:
        window = monitor.window_ending(end)
        run = (evaluate_dynamic(monitor, window, blank_run(monitor, window), source, cache) if bundle is None
               else evaluate(monitor, bundle, source.read(monitor, window), blank_run(monitor, window)))
        assert run.status.has_verdict, run.error
        drifted += next(f for f in run.features if f.column == "demand").drifted
    return drifted, len(ends)


@pytest.fixture(scope="module")
def log() -> pd.DataFrame:
    return demand_log()


def test_the_fixture_is_the_published_series(log: pd.DataFrame) -> None:
    assert len(log) == 4032 and log["demand"].iloc[:3].tolist() == [22262.0, 21756.0, 22247.0]
    # The weekly cycle the reference kinds must respect: weekend days are lower than weekdays.
    by_day = log.groupby(log["timestamp"].dt.dayofweek)["demand"].mean()
    assert by_day[[5, 6]].max() < by_day[[0, 1, 2, 3, 4]].min()


@pytest.mark.slow
def test_same_weekday_of_the_last_four_weeks_meets_the_false_alarm_budget(log: pd.DataFrame) -> None:
    counted = drifted_days({"type": "same_period", "every": "1w", "periods": WEEKS}, log, DAYS)
    print("same_period 1w x 4", counted)
    assert within_budget(counted), f"{counted[0]}/{counted[1]} days drifted"


@pytest.mark.slow
def test_a_fixed_reference_and_yesterday_do_not(log: pd.DataFrame) -> None:
    fixed = log[log["timestamp"] < pd.Timestamp(T0 + timedelta(weeks=WEEKS))]
    whole = drifted_days({"type": "upload"}, log, DAYS, fixed=fixed)
    yesterday = drifted_days({"type": "previous_window"}, log, DAYS)
    print("fixed first four weeks", whole, "previous_window", yesterday)
    assert not within_budget(whole) and whole[0] / whole[1] > 0.4, whole
    assert not within_budget(yesterday), yesterday


@pytest.mark.slow
@pytest.mark.parametrize("factor", [1.10, 0.90])
def test_a_ten_percent_change_is_seen_in_its_first_week(log: pd.DataFrame, factor: float) -> None:
    """Demand x 1.1 (or x 0.9) from day 42 on: drifted on (nearly) every day of the week after it.

    Day 42 is mid-July; from day 56 on the August dip is itself a change against July (3 of the 7
    days of that week drift unshifted), so a change injected there is confounded with it.
    """
    start = T0 + timedelta(days=42)
    week = [start + timedelta(days=1 + k) for k in range(7)]
    kind = {"type": "same_period", "every": "1w", "periods": WEEKS}
    changed = drifted_days(kind, demand_log(start, factor), week)
    quiet = drifted_days(kind, log, week)
    print(f"x{factor}", changed, "unshifted", quiet)
    assert changed[0] >= 6 and quiet[0] <= 1, (changed, quiet)
