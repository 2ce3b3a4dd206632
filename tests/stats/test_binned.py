"""Pushdown's bounded statistics and the check of a summarised window, against SciPy and check().

The summary here is computed by NumPy from the same rows the rows' check sees (the engines'
SQL is tested in tests/sources/test_pushdown_contract.py): exact methods must equal the rows'
results to 1e-12, bounded ones must hold SciPy's statistic between their bounds, and every
verdict taken from a summary must equal the rows' verdict.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from monitor.stats.binned import (
    ks_bounds,
    numerical_grid,
    plan_summary,
    wasserstein_bounds,
)
from monitor.stats.binned_check import check_summary, finish_with_rows
from monitor.stats.check import Basis, CheckOptions, ColumnOptions, Status, check
from monitor.stats.profile import NumericalProfile, ReferenceProfile, fit_profile
from monitor.stats.types import Compat, DriftMethod
from tests.stats.pushdown_data import frames as _frames
from tests.stats.pushdown_data import summarise


def _pushdown(profile: ReferenceProfile, current: pd.DataFrame, options: CheckOptions | None = None):  # type: ignore[no-untyped-def]
    plan = plan_summary(profile, list(profile.columns))
    grids = {p.column: p.grid for p in plan.numerical}
    outcome = check_summary(profile, summarise(plan, current), grids, options)
    rows = current[list(outcome.needs_rows)] if outcome.needs_rows else None
    return outcome, finish_with_rows(profile, outcome, rows)


@pytest.mark.parametrize("seed", range(12))
def test_bounds_hold_scipy_statistics(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ref = rng.normal(size=int(rng.integers(2_000, 60_000))) * 10 + (1e6 if seed % 3 == 0 else 0.0)
    cur = rng.normal(rng.uniform(-0.3, 0.3), rng.uniform(0.7, 1.5), int(rng.integers(2_000, 80_000))) * 10 \
        + (1e6 if seed % 3 == 0 else 0.0)
    if seed % 4 == 0:
        ref, cur = np.round(ref, 1), np.round(cur, 1)
    prof = fit_profile(pd.DataFrame({"x": ref})).columns["x"]
    assert isinstance(prof, NumericalProfile)
    grid = numerical_grid(prof)
    cells = np.searchsorted(grid, cur, side="right")
    counts = np.bincount(cells, minlength=grid.size + 1).astype(np.int64)
    sums = np.bincount(cells, weights=cur, minlength=grid.size + 1)
    lo, hi = ks_bounds(prof.sample, grid, counts)
    assert lo - 1e-12 <= stats.ks_2samp(ref, cur).statistic <= hi + 1e-12
    assert hi - lo <= 0.05
    wlo, whi = wasserstein_bounds(prof.sample, grid, counts, sums)
    assert wlo <= stats.wasserstein_distance(ref, cur) <= whi
    assert (whi - wlo) / np.std(ref) <= 0.02


def test_wasserstein_bounds_refuse_a_grid_without_the_extremes() -> None:
    prof = fit_profile(pd.DataFrame({"x": np.arange(100.0)})).columns["x"]
    assert isinstance(prof, NumericalProfile)
    with pytest.raises(ValueError, match="minimum and maximum"):
        wasserstein_bounds(prof.sample, np.array([10.0, 20.0]), np.zeros(3, dtype=np.int64), np.zeros(3))


@pytest.mark.parametrize("compat", [Compat.CALIBRATED, Compat.EVIDENTLY])
@pytest.mark.parametrize(("seed", "shift"), [(0, 0.0), (1, 0.05), (2, 0.12), (3, 0.5), (4, 0.0), (5, 0.3)])
def test_summary_verdicts_equal_the_rows_verdicts(seed: int, shift: float, compat: Compat) -> None:
    ref, cur = _frames(seed, 40_000, 30_000, shift)
    profile = fit_profile(ref)
    options = CheckOptions(compat=compat)
    rows = check(profile, cur, options)
    outcome, pushed = _pushdown(profile, cur, options)
    assert [c.column for c in pushed.columns] == [c.column for c in rows.columns]
    assert pushed.dataset_drift == rows.dataset_drift and pushed.drifted_columns == rows.drifted_columns
    for a, b in zip(pushed.columns, rows.columns, strict=True):
        assert (a.drifted, a.method, a.status, a.missing_drifted) == (b.drifted, b.method, b.status, b.missing_drifted), a.column
        assert (a.n_current, a.missing_current, a.out_of_range_current) == (b.n_current, b.missing_current,
                                                                             b.out_of_range_current)
        assert a.new_categories == b.new_categories
        if a.basis is Basis.AGGREGATES and a.statistic is not None:
            assert a.statistic == pytest.approx(b.statistic, rel=1e-12, abs=1e-12), a.column
            assert (a.p_value is None) == (b.p_value is None)
            if b.p_value is not None:
                assert a.p_value == pytest.approx(b.p_value, rel=1e-12, abs=1e-300)
        elif a.basis is Basis.BOUNDED:
            assert a.statistic_error_bound is not None and b.statistic is not None and a.statistic is not None
            assert abs(a.statistic - b.statistic) <= a.statistic_error_bound + 1e-12, a.column
        else:
            assert a.basis is Basis.ROWS and a.column in outcome.needs_rows
            assert a.statistic == b.statistic
    # Categorical, histogram-free few-distinct and integer-coded columns never need rows.
    assert {"cat", "few"}.isdisjoint(outcome.needs_rows)


@pytest.mark.parametrize("method", [DriftMethod.PSI, DriftMethod.JENSEN_SHANNON, DriftMethod.HELLINGER,
                                    DriftMethod.KL_DIV])
def test_histogram_methods_are_exact_from_cell_counts(method: DriftMethod) -> None:
    ref, cur = _frames(7, 20_000, 15_000, 0.2)
    profile = fit_profile(ref)
    options = CheckOptions(method=None, columns={c: ColumnOptions(method=method) for c in ("x", "heavy", "zero")})
    rows = check(profile, cur, options)
    _, pushed = _pushdown(profile, cur, options)
    for name in ("x", "heavy", "zero"):
        a = next(c for c in pushed.columns if c.column == name)
        b = next(c for c in rows.columns if c.column == name)
        assert a.basis is Basis.AGGREGATES
        assert a.statistic == pytest.approx(b.statistic, rel=1e-12, abs=1e-12)
        assert a.drifted == b.drifted and a.threshold == pytest.approx(b.threshold, rel=1e-12)


def test_a_verdict_inside_the_bound_is_read_from_rows() -> None:
    """Wasserstein at the floor: the bound straddles it, so the column's rows decide."""
    rng = np.random.default_rng(11)
    ref = pd.DataFrame({"x": rng.normal(0, 1, 50_000)})
    profile = fit_profile(ref)
    # A shift whose normed distance is ~0.1, the default floor.
    cur = pd.DataFrame({"x": rng.normal(0.1, 1, 50_000)})
    rows = check(profile, cur)
    stat = rows.columns[0].statistic
    assert stat is not None and abs(stat - 0.1) < 0.01
    outcome, pushed = _pushdown(profile, cur)
    col = pushed.columns[0]
    if outcome.needs_rows:
        assert col.basis is Basis.ROWS and col.statistic == stat
    else:  # the bound happened to clear the floor: then it must say so and agree
        assert col.basis is Basis.BOUNDED and col.drifted == rows.columns[0].drifted


def test_methods_without_a_bounded_form_need_rows() -> None:
    ref, cur = _frames(3, 5_000, 5_000, 0.0)
    profile = fit_profile(ref)
    options = CheckOptions(columns={"x": ColumnOptions(method=DriftMethod.CRAMER_VON_MISES),
                                    "heavy": ColumnOptions(method=DriftMethod.KS)})
    outcome, pushed = _pushdown(profile, cur, options)
    # KS at 5,000 rows takes SciPy's exact p-value: rows too.
    assert set(outcome.needs_rows) >= {"x", "heavy"}
    rows = check(profile, cur, options)
    assert [c.statistic for c in pushed.columns] == [c.statistic for c in rows.columns] or all(
        a.statistic == pytest.approx(b.statistic, rel=1e-12) for a, b in zip(pushed.columns, rows.columns, strict=True)
        if a.statistic is not None)


def test_missing_rows_are_refused() -> None:
    ref, cur = _frames(3, 5_000, 5_000, 0.0)
    profile = fit_profile(ref)
    options = CheckOptions(columns={"x": ColumnOptions(method=DriftMethod.T_TEST)})
    plan = plan_summary(profile, list(profile.columns))
    outcome = check_summary(profile, summarise(plan, cur), {p.column: p.grid for p in plan.numerical}, options)
    assert "x" in outcome.needs_rows
    with pytest.raises(ValueError, match="rows of x"):
        finish_with_rows(profile, outcome, None)


def test_empty_window_columns_are_not_testable_without_rows() -> None:
    ref, _ = _frames(3, 5_000, 5_000, 0.0)
    profile = fit_profile(ref)
    cur = pd.DataFrame({c: pd.Series([None] * 10, dtype=object if c == "cat" else np.float64) for c in ref})
    outcome, pushed = _pushdown(profile, cur)
    rows = check(profile, cur)
    for a, b in zip(pushed.columns, rows.columns, strict=True):
        assert a.status is Status.NOT_TESTABLE and b.status is Status.NOT_TESTABLE
        assert a.reason == b.reason and a.missing_current == b.missing_current
