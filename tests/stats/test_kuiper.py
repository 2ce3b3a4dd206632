"""Kuiper's test and circular columns: rotation invariance, the p-value against a permutation
oracle and the published series, the conformance contract, and circular columns in a check."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.errors import InsufficientData
from monitor.stats import drift
from monitor.stats.check import CheckOptions, check
from monitor.stats.drift.kuiper import kuiper, kuiper_p_value
from monitor.stats.profile import CircularProfile, fit_profile, load_profile, save_profile
from monitor.stats.types import ColumnType, Compat, DriftMethod

angles = st.lists(st.floats(0.0, 359.999, allow_nan=False), min_size=3, max_size=60).map(np.asarray)


@settings(max_examples=60, deadline=None)
@given(ref=angles, cur=angles, rotation=st.floats(-720.0, 720.0, allow_nan=False))
def test_kuiper_is_rotation_invariant(ref: np.ndarray, cur: np.ndarray, rotation: float) -> None:
    a = kuiper(ref, cur, period=360.0)
    b = kuiper(np.mod(ref + rotation, 360.0), np.mod(cur + rotation, 360.0), period=360.0)
    # Rotation moves values across 0/360 in floating point; ties may split by one ulp, no more.
    assert b.statistic == pytest.approx(a.statistic, abs=2.0 / min(ref.size, cur.size) + 1e-9) or \
        _rounding_split(ref, cur, rotation)
    exact = np.round(ref) % 360, np.round(cur) % 360  # on an integer grid the rotation is exact
    k = round(rotation) % 360
    assert kuiper(*exact, period=360.0).statistic == pytest.approx(
        kuiper((exact[0] + k) % 360, (exact[1] + k) % 360, period=360.0).statistic, abs=1e-12)


def _rounding_split(ref: np.ndarray, cur: np.ndarray, rotation: float) -> bool:
    return bool(np.isin(np.round(np.mod(ref + rotation, 360.0), 6), np.round(np.mod(cur + rotation, 360.0), 6)).any())


def test_ks_is_not_rotation_invariant_but_kuiper_is() -> None:
    """Why circular columns need Kuiper: KS changes with the origin, Kuiper does not."""
    rng = np.random.default_rng(4)
    ref = rng.vonmises(0.0, 2.0, 400) * 180 / np.pi % 360
    cur = (rng.vonmises(0.6, 2.0, 400) * 180 / np.pi) % 360
    ks_values = {round(drift.ks((ref + r) % 360, (cur + r) % 360).statistic, 9) for r in (0, 90, 180, 270)}
    kuiper_values = {round(kuiper((ref + r) % 360, (cur + r) % 360, period=360).statistic, 9) for r in (0, 90, 180, 270)}
    assert len(ks_values) > 1 and len(kuiper_values) == 1


def test_p_value_agrees_with_a_permutation_test() -> None:
    rng = np.random.default_rng(21)
    perms, compared = 2000, 0
    for shift in (0.4, 0.5, 0.6):
        ref = rng.vonmises(0.0, 1.0, 300) % (2 * np.pi)
        cur = rng.vonmises(shift, 1.0, 250) % (2 * np.pi)
        observed = kuiper(ref, cur, period=2 * np.pi)
        pooled = np.concatenate([ref, cur])
        at_least = 0
        for _ in range(perms):  # the oracle: the permutation distribution of V itself
            shuffled = rng.permutation(pooled)
            at_least += kuiper(shuffled[:300], shuffled[300:], period=2 * np.pi).statistic >= observed.statistic - 1e-12
        permutation_p = (1 + at_least) / (perms + 1)
        if not 0.001 < permutation_p < 0.5:  # compare where a permutation p-value is informative
            continue
        compared += 1
        assert observed.p_value == pytest.approx(permutation_p, abs=3 * math.sqrt(permutation_p / perms) + 0.01)
    assert compared >= 2


def test_p_value_equals_the_published_series() -> None:
    """Stephens (1970): Q(l) = 2 sum (4 j^2 l^2 - 1) exp(-2 j^2 l^2), l = (sqrt N + 0.155 + 0.24/sqrt N) V."""
    for v, n, m in [(0.1, 500, 500), (0.2, 80, 120), (0.07, 5000, 3000)]:
        big_n = n * m / (n + m)
        lam = (math.sqrt(big_n) + 0.155 + 0.24 / math.sqrt(big_n)) * v
        series = 2 * sum((4 * j * j * lam * lam - 1) * math.exp(-2 * j * j * lam * lam) for j in range(1, 200))
        assert kuiper_p_value(v, n, m) == pytest.approx(min(max(series, 0.0), 1.0), rel=1e-12)


def test_conformance_sizes_frozen_deterministic_and_insufficient_data() -> None:
    assert drift.FUNCTIONS[DriftMethod.KUIPER] is kuiper
    rng = np.random.default_rng(0)
    ref, cur = rng.uniform(0, 24, 120), np.r_[rng.uniform(0, 24, 80), [np.nan, np.inf]]
    result = kuiper(ref, cur, period=24)
    assert (result.n_reference, result.n_current) == (120, 80)
    assert result == kuiper(ref, cur, period=24)
    assert 0.0 <= result.p_value <= 1.0 and 0.0 <= result.statistic <= 1.0
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.statistic = 0.0  # type: ignore[misc]
    with pytest.raises(InsufficientData):
        kuiper([], [1.0, 2.0])
    with pytest.raises(ValueError, match="period"):
        kuiper([1.0], [2.0], period=0.0)
    assert kuiper.__doc__ is not None and ">>> " in kuiper.__doc__


def test_identical_samples_never_drift_and_opposite_hours_do() -> None:
    hours = np.arange(0.0, 24.0, 0.1)
    assert kuiper(hours, hours, period=24).statistic == 0.0
    night = np.r_[np.linspace(22, 24, 50, endpoint=False), np.linspace(0, 2, 50)]
    assert kuiper(night, (night + 12) % 24, period=24).drifted


def _hours(rng: np.random.Generator, n: int, centre: float) -> np.ndarray:
    return (centre + rng.normal(0.0, 1.5, n)) % 24


def test_circular_column_in_a_check_uses_kuiper_and_keeps_its_period(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    ref = pd.DataFrame({"hour": _hours(rng, 2000, 23.5)})
    profile = fit_profile(ref, types={"hour": ColumnType.CIRCULAR}, periods={"hour": 24.0})
    col = profile.columns["hour"]
    assert isinstance(col, CircularProfile) and col.period == 24.0
    save_profile(profile, tmp_path / "p.npz")
    loaded = load_profile(tmp_path / "p.npz")
    back = loaded.columns["hour"]
    assert isinstance(back, CircularProfile) and back.period == 24.0
    assert np.array_equal(back.sample.values, col.sample.values)
    same = check(loaded, pd.DataFrame({"hour": _hours(rng, 500, 23.5)})).columns[0]
    moved = check(loaded, pd.DataFrame({"hour": _hours(rng, 500, 3.5)})).columns[0]
    assert same.method is DriftMethod.KUIPER and "period 24" in same.reason and not same.drifted
    assert moved.drifted and moved.to_dict()["type"] == "circular"
    # Evidently has no circular type: the compat mode tests declared circular columns the same way.
    assert check(loaded, pd.DataFrame({"hour": _hours(rng, 500, 3.5)}),
                 CheckOptions(compat=Compat.EVIDENTLY)).columns[0].method is DriftMethod.KUIPER


def test_circular_column_without_a_period_is_refused_by_name() -> None:
    from monitor.errors import InputError

    with pytest.raises(InputError, match="'hour'.*period"):
        fit_profile(pd.DataFrame({"hour": [1.0, 2.0]}), types={"hour": ColumnType.CIRCULAR})
