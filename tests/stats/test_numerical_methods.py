"""Numerical drift methods: SciPy parity, drift rules at the boundary, properties, error rates.

The modules are imported one by one (not through ``monitor.stats.drift``) so this file only
depends on the eight numerical methods it tests.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np
import pytest
from hypothesis import given, reject, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy import stats

from monitor.errors import InsufficientData
from monitor.stats.drift.anderson import anderson
from monitor.stats.drift.cramer_von_mises import cramer_von_mises
from monitor.stats.drift.energy_distance import energy_distance
from monitor.stats.drift.epps_singleton import epps_singleton
from monitor.stats.drift.ks import _asymptotic_p_value, ks
from monitor.stats.drift.mann_whitney import mann_whitney
from monitor.stats.drift.t_test import t_test
from monitor.stats.drift.wasserstein import wasserstein
from monitor.stats.sample import SortedSample
from monitor.stats.types import DriftMethod, DriftResult

Array = NDArray[np.float64]
Method = Callable[..., DriftResult]
Oracle = Callable[[Array, Array], tuple[float, float | None]]

P_VALUE: dict[str, Method] = {
    "ks": ks,
    "cramer_von_mises": cramer_von_mises,
    "anderson": anderson,
    "t_test": t_test,
    "mann_whitney": mann_whitney,
    "epps_singleton": epps_singleton,
}
DISTANCE: dict[str, Method] = {"wasserstein": wasserstein, "energy_distance": energy_distance}
METHODS: dict[str, Method] = {**P_VALUE, **DISTANCE}
#: Fewest finite values per sample each method accepts (what SciPy needs).
MIN_SIZE = {"ks": 1, "wasserstein": 1, "energy_distance": 1, "cramer_von_mises": 2,
            "anderson": 2, "t_test": 2, "mann_whitney": 1, "epps_singleton": 5}
#: Methods documented to raise ValueError on degenerate samples (no spread).
DEGENERATE_RAISES = {"anderson", "t_test", "epps_singleton"}


# --- the oracle: SciPy on the finite values, with the arguments each method documents -------

def _anderson_oracle(r: Array, c: Array) -> tuple[float, float | None]:
    with warnings.catch_warnings():
        # SciPy caps the tabulated p-value to [0.001, 0.25] and warns; the cap is the oracle.
        warnings.filterwarnings("ignore", "p-value (capped|floored)", UserWarning)
        res = stats.anderson_ksamp([r, c], variant="midrank")
    return float(res.statistic), float(res.pvalue)


class _ScipyResult(Protocol):
    @property
    def statistic(self) -> Any: ...
    @property
    def pvalue(self) -> Any: ...


def _pair(res: _ScipyResult) -> tuple[float, float | None]:
    return float(res.statistic), float(res.pvalue)


ORACLES: dict[str, Oracle] = {
    "ks": lambda r, c: _pair(stats.ks_2samp(r, c)),
    "wasserstein": lambda r, c: (
        float(stats.wasserstein_distance(r, c)) / max(float(np.std(r)), 0.001), None),
    "energy_distance": lambda r, c: (float(stats.energy_distance(r, c)), None),
    "cramer_von_mises": lambda r, c: _pair(stats.cramervonmises_2samp(r, c)),
    "anderson": _anderson_oracle,
    "t_test": lambda r, c: _pair(stats.ttest_ind(r, c)),
    "mann_whitney": lambda r, c: _pair(stats.mannwhitneyu(r, c, alternative="two-sided")),
    "epps_singleton": lambda r, c: _pair(stats.epps_singleton_2samp(r, c)),
}


DATASETS = ("small", "medium", "ties", "nan_inf", "just_over_10k", "large")


def _dataset(name: str) -> tuple[Array, Array]:
    rng = np.random.default_rng(DATASETS.index(name))
    if name == "small":
        return rng.normal(0.0, 1.0, 30), rng.normal(0.3, 1.2, 50)
    if name == "medium":
        return rng.normal(0.0, 1.0, 2000), rng.normal(0.05, 1.0, 3000)
    if name == "ties":
        return np.round(rng.normal(0.0, 1.0, 500), 1), np.round(rng.normal(0.1, 1.0, 400), 1)
    if name == "nan_inf":
        ref, cur = rng.normal(0.0, 1.0, 300), rng.gamma(4.0, 0.5, 250)
        ref[[3, 50, 120]] = [np.nan, np.inf, -np.inf]
        cur[[0, 7]] = np.nan
        return ref, cur
    if name == "just_over_10k":  # just past SciPy's exact/asymptotic switch
        return rng.normal(0.0, 1.0, 10_001), rng.normal(0.1, 1.0, 400)
    if name == "large":
        return rng.normal(0.0, 1.0, 200_000), rng.standard_t(8, 150_000)
    raise AssertionError(name)


CASES = [(m, d) for m in METHODS for d in ("small", "medium", "ties", "nan_inf")] + [
    (m, d) for m in ("ks", "wasserstein", "energy_distance") for d in ("just_over_10k", "large")
]


def _finite(x: Array) -> Array:
    return x[np.isfinite(x)]


@pytest.mark.parametrize(("name", "data"), CASES, ids=[f"{m}-{d}" for m, d in CASES])
def test_equals_scipy_on_the_finite_values(name: str, data: str) -> None:
    ref, cur = _dataset(data)
    ours = METHODS[name](ref, cur)
    statistic, p_value = ORACLES[name](_finite(ref), _finite(cur))
    assert ours.method == DriftMethod(name)
    assert ours.statistic == pytest.approx(statistic, rel=1e-9, abs=0.0)
    if p_value is None:
        assert ours.p_value is None
    else:
        assert ours.p_value == pytest.approx(p_value, rel=1e-9, abs=0.0)
    assert (ours.n_reference, ours.n_current) == (_finite(ref).size, _finite(cur).size)


SORTED_CASES = [(m, d) for m in METHODS for d in ("small", "ties", "nan_inf")] + [
    (m, "large") for m in ("ks", "wasserstein", "energy_distance")
]


@pytest.mark.parametrize(("name", "data"), SORTED_CASES, ids=[f"{m}-{d}" for m, d in SORTED_CASES])
def test_sorted_samples_give_the_same_result_as_raw_values(name: str, data: str) -> None:
    ref, cur = _dataset(data)
    sorted_ref, sorted_cur = SortedSample.of(ref), SortedSample.of(cur)
    assert METHODS[name](sorted_ref, sorted_cur) == METHODS[name](ref, cur)
    assert METHODS[name](sorted_ref, cur) == METHODS[name](ref, cur)


@pytest.mark.parametrize("n_d_squared",
                         [0.5, 2.19, 2.2, 5.0, 40.0, 150.0, 320.0, 345.0, 369.99, 371.0])
@pytest.mark.parametrize("n", [100, 141, 385, 10_001, 85_714, 500_000])
def test_ks_asymptotic_p_value_equals_kstwo(n: int, n_d_squared: float) -> None:
    # ks sums one branch of kstwo.sf (the Smirnov series) itself; data with a chosen D are
    # hard to build, so the helper is checked against SciPy here, edges of the branch included.
    d = float(np.sqrt(n_d_squared / n))
    expected = float(np.clip(stats.kstwo.sf(d, float(n)), 0.0, 1.0))
    # Two samples of 2n values each have the effective size n.
    assert _asymptotic_p_value(d, 2 * n, 2 * n) == pytest.approx(expected, rel=1e-9, abs=0.0)


def _durbin_d(n: int, fraction: float) -> float:
    """A D inside SciPy's Durbin-matrix branch of ``kstwo.sf`` at size n (n d^2 < 2.2, n d^1.5 <= 1.4)."""
    top = min((1.4 / n) ** (2.0 / 3.0), float(np.sqrt(2.19 / n)))
    return 1.0001 / n + fraction * (top - 1.0001 / n)


def _kolmogorov_limit(n: float, d: float) -> float:
    """Kolmogorov's limit law with Stephens' small-sample correction: an independent oracle."""
    return float(stats.kstwobign.sf((np.sqrt(n) + 0.12 + 0.11 / np.sqrt(n)) * d))


@pytest.mark.parametrize("fraction", [0.0, 0.2, 0.5, 0.9, 1.0])
@pytest.mark.parametrize("n", [141, 1_000, 9_999, 50_000, 99_999, 100_000])
def test_ks_durbin_branch_equals_kstwo(n: int, fraction: float) -> None:
    # ks evaluates SciPy's Durbin-matrix branch itself (SciPy's loops n times in Python).
    d = _durbin_d(n, fraction)
    expected = float(np.clip(stats.kstwo.sf(d, float(n)), 0.0, 1.0))
    assert 0.0 < expected <= 1.0
    assert _asymptotic_p_value(d, 2 * n, 2 * n) == pytest.approx(expected, rel=1e-12, abs=1e-15)


@pytest.mark.parametrize(("n", "t"), [(32_537, 1.8780773919519749), (65_271, 5.033672437742636),
                                      (57_302, 23.57100059874408), (65_000, 20.893990238757375)])
def test_ks_null_sized_d_is_not_p_zero_where_scipys_durbin_matrix_overflows(n: int, t: float) -> None:
    # At these sizes SciPy 1.17's kstwo.sf returns 0.0 for a D of a few rows (its accumulated
    # matrix power overflows): a false alarm. The oracle is Kolmogorov's limit law with
    # Stephens' small-sample correction, which is ~1 here.
    d = t / n
    assert _asymptotic_p_value(d, 2 * n, 2 * n) == pytest.approx(_kolmogorov_limit(n, d), abs=1e-6)


def test_ks_of_two_windows_forty_rows_apart_is_not_drift() -> None:
    # Two 130,000-row windows, one shifted by 40 rows (D = 0.03%, effective size 65,000):
    # scipy.stats.ks_2samp 1.17 reports p = 0.0 here (its Durbin matrix power overflows), so a
    # method: ks column would alarm on a difference no one could see.
    ref = np.arange(130_000, dtype=np.float64)
    result = ks(ref, ref + 40.0)
    assert result.statistic == pytest.approx(40 / 130_000, abs=1e-12)
    assert result.p_value == pytest.approx(_kolmogorov_limit(65_000, result.statistic), abs=1e-6)
    assert result.drifted is False


def test_ks_durbin_branch_follows_kolmogorovs_limit_law_at_every_size() -> None:
    # Every size of the branch, not only those where SciPy's answer is finite: within 0.01 of
    # the limit law with Stephens' correction (an independent formula), never p = 0.
    rng = np.random.default_rng(7)
    sizes = rng.integers(141, 100_001, size=400)
    for n, fraction in zip(sizes, rng.uniform(0.0, 1.0, size=sizes.size), strict=True):
        d = _durbin_d(int(n), float(fraction))
        assert abs(_asymptotic_p_value(d, 2 * int(n), 2 * int(n)) - _kolmogorov_limit(n, d)) < 0.01, (n, d)


# --- drift rules at the boundary (Evidently's: <= for ks and cvm, >= for wasserstein) -------

INCLUSIVE = {"ks", "cramer_von_mises"}


@pytest.mark.parametrize("name", P_VALUE)
def test_verdict_when_p_value_equals_alpha(name: str) -> None:
    ref, cur = _dataset("small")
    p = METHODS[name](ref, cur).p_value
    assert p is not None and 0.0 < p < 1.0
    assert METHODS[name](ref, cur, alpha=p).drifted is (name in INCLUSIVE)
    assert METHODS[name](ref, cur, alpha=float(np.nextafter(p, 1.0))).drifted is True
    assert METHODS[name](ref, cur, alpha=float(np.nextafter(p, 0.0))).drifted is False


@pytest.mark.parametrize(("name", "drifted_at_equality"),
                         [("wasserstein", True), ("energy_distance", False)])
def test_verdict_when_distance_equals_threshold(name: str, drifted_at_equality: bool) -> None:
    ref, cur = _dataset("small")
    d = METHODS[name](ref, cur).statistic
    assert METHODS[name](ref, cur, threshold=d).drifted is drifted_at_equality
    assert METHODS[name](ref, cur, threshold=float(np.nextafter(d, 0.0))).drifted is True
    assert METHODS[name](ref, cur, threshold=float(np.nextafter(d, np.inf))).drifted is False


# --- properties ------------------------------------------------------------------------------

def _samples(min_size: int = 5) -> st.SearchStrategy[Array]:
    return st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=min_size,
                    max_size=200).map(lambda v: np.asarray(v, dtype=np.float64))


def _run(name: str, ref: Array, cur: Array) -> DriftResult:
    """Run a method; a documented degenerate-input ValueError discards the example."""
    try:
        return METHODS[name](ref, cur)
    except InsufficientData:
        raise
    except ValueError:
        if name not in DEGENERATE_RAISES:
            raise
        reject()


@pytest.mark.parametrize("name", METHODS)
@settings(deadline=None)
@given(ref=_samples(), cur=_samples())
def test_p_values_are_probabilities_and_distances_are_non_negative(
    name: str, ref: Array, cur: Array
) -> None:
    result = _run(name, ref, cur)
    if name in P_VALUE:
        assert result.p_value is not None and 0.0 <= result.p_value <= 1.0
    else:
        assert result.p_value is None and result.statistic >= 0.0
    assert type(result.drifted) is bool


@settings(deadline=None)
@given(ref=_samples(), cur=_samples())
def test_ks_is_symmetric(ref: Array, cur: Array) -> None:
    a, b = ks(ref, cur), ks(cur, ref)
    assert a.statistic == b.statistic
    assert a.p_value == pytest.approx(b.p_value, rel=1e-12)


@pytest.mark.parametrize("name", METHODS)
@settings(deadline=None)
@given(ref=_samples(), cur=_samples(), seed=st.integers(0, 2**32 - 1))
def test_row_order_does_not_matter(name: str, ref: Array, cur: Array, seed: int) -> None:
    rng = np.random.default_rng(seed)
    expected = _run(name, ref, cur)
    assert METHODS[name](rng.permutation(ref), rng.permutation(cur)) == expected


@pytest.mark.parametrize("name", METHODS)
@settings(deadline=None)
@given(sample=_samples())
def test_a_sample_never_drifts_from_itself(name: str, sample: Array) -> None:
    result = _run(name, sample, sample.copy())
    assert not result.drifted
    if name in DISTANCE:
        assert result.statistic == 0.0


@pytest.mark.parametrize("name", METHODS)
@settings(deadline=None)
@given(sample=_samples(min_size=30))
def test_a_large_shift_always_drifts(name: str, sample: Array) -> None:
    # Ten times the range (at least 10, so that a constant sample moves too).
    shift = 10.0 * max(float(np.ptp(sample)), 1.0)
    assert _run(name, sample, sample + shift).drifted


# --- false-positive rate under no drift -------------------------------------------------------

SIMULATIONS = 300


@pytest.mark.slow
@pytest.mark.parametrize("name", P_VALUE)
def test_false_positive_rate_under_no_drift_is_at_most_alpha(name: str) -> None:
    drifted = 0
    for seed in range(SIMULATIONS):
        rng = np.random.default_rng(seed)
        ref, cur = rng.normal(10.0, 2.0, 200), rng.normal(10.0, 2.0, 200)
        drifted += METHODS[name](ref, cur, alpha=0.05).drifted
    # Above this many rejections the rate exceeds 5% with 99.9% confidence.
    assert drifted <= stats.binom.ppf(0.999, SIMULATIONS, 0.05)


# --- errors -----------------------------------------------------------------------------------

@pytest.mark.parametrize("side", ["reference", "current"])
@pytest.mark.parametrize("name", METHODS)
def test_too_few_finite_values_is_insufficient_data(name: str, side: str) -> None:
    needed = MIN_SIZE[name]
    few = np.concatenate([np.arange(needed - 1.0), [np.nan, np.inf]])
    plenty = np.linspace(0.0, 1.0, 50)
    args = (few, plenty) if side == "reference" else (plenty, few)
    with pytest.raises(InsufficientData, match=side) as info:
        METHODS[name](*args)
    assert (info.value.needed, info.value.got) == (needed, needed - 1)


@pytest.mark.parametrize("name", METHODS)
def test_the_minimum_size_is_enough(name: str) -> None:
    needed = MIN_SIZE[name]
    result = METHODS[name](np.arange(needed, dtype=np.float64), np.arange(needed) + 0.5)
    assert (result.n_reference, result.n_current) == (needed, needed)


@pytest.mark.parametrize("alpha", [1.5, 0.0, 1.0, float("nan")])
@pytest.mark.parametrize("name", P_VALUE)
def test_a_bad_alpha_is_refused_by_name(name: str, alpha: float) -> None:
    with pytest.raises(ValueError, match=rf"alpha \({alpha}\)"):
        METHODS[name]([1.0, 2.0, 3.0, 4.0, 5.0], [2.0, 3.0, 4.0, 5.0, 6.0], alpha=alpha)


@pytest.mark.parametrize("threshold", [-0.1, float("inf"), float("nan")])
@pytest.mark.parametrize("name", DISTANCE)
def test_a_bad_threshold_is_refused_by_name(name: str, threshold: float) -> None:
    with pytest.raises(ValueError, match=rf"threshold \({threshold}\)"):
        METHODS[name]([1.0, 2.0], [2.0, 3.0], threshold=threshold)


def test_epps_singleton_refuses_a_zero_interquartile_range() -> None:
    ref, cur = [0.0, 1.0, 1.0, 1.0, 1.0, 2.0], [1.0, 1.0, 1.0, 1.0, 1.0]
    with pytest.raises(ValueError, match="interquartile range is 0.0"):
        epps_singleton(ref, cur)


def test_epps_singleton_refuses_two_constant_samples() -> None:
    with pytest.raises(ValueError, match=r"each constant \(1.0 and 2.0\)"):
        epps_singleton([1.0] * 6, [2.0] * 6)


def test_anderson_refuses_a_single_distinct_value() -> None:
    with pytest.raises(ValueError, match="at least two distinct values"):
        anderson([3.0, 3.0], [3.0, 3.0, 3.0])


def test_t_test_refuses_zero_over_zero_and_drifts_on_two_different_constants() -> None:
    with pytest.raises(ValueError, match="zero variance and the same mean"):
        t_test([2.0] * 5, [2.0] * 7)
    result = t_test([1.0] * 5, [2.0] * 7)
    assert (result.statistic, result.p_value, result.drifted) == (float("-inf"), 0.0, True)


def test_anderson_p_value_is_capped_to_the_table() -> None:
    near = anderson(np.arange(50.0), np.arange(50.0) + 0.1)
    far = anderson(np.arange(50.0), np.arange(50.0) + 100.0)
    assert (near.p_value, far.p_value) == (0.25, 0.001)


# --- results ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name", METHODS)
def test_results_are_frozen_typed_and_deterministic(name: str) -> None:
    ref, cur = _dataset("small")
    result = METHODS[name](ref, cur)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.statistic = 0.0  # type: ignore[misc]
    assert METHODS[name](ref.copy(), cur.copy()) == result
    assert type(result.statistic) is float and type(result.drifted) is bool
    assert type(result.threshold) is float
    assert result.p_value is None or type(result.p_value) is float
    assert type(result.n_reference) is int and type(result.n_current) is int
