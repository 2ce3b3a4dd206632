"""Drift methods on aligned count vectors: oracles, drift rules, properties, error rates, errors.

Oracles are SciPy and Evidently 0.7.23 (never our own earlier output). The count methods are
imported module by module so that this file runs before every drift module exists.
"""

from __future__ import annotations

import dataclasses
import math
import types
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy import special, stats
from scipy.spatial import distance

from monitor.errors import InsufficientData
from monitor.stats.drift.chi_square import chi_square
from monitor.stats.drift.fisher_exact import fisher_exact
from monitor.stats.drift.g_test import g_test
from monitor.stats.drift.hellinger import hellinger
from monitor.stats.drift.jensen_shannon import jensen_shannon
from monitor.stats.drift.kl_div import kl_div
from monitor.stats.drift.l_infinity import l_infinity
from monitor.stats.drift.psi import psi
from monitor.stats.drift.tvd import tvd
from monitor.stats.drift.z_test import z_test
from monitor.stats.types import DriftMethod, DriftResult

Method = Callable[..., DriftResult]

P_VALUE_TESTS: dict[str, Method] = {
    "chi_square": chi_square,
    "g_test": g_test,
    "fisher_exact": fisher_exact,
    "z_test": z_test,
}
MULTI_CATEGORY_TESTS = {k: v for k, v in P_VALUE_TESTS.items() if k != "z_test"}
DISTANCES: dict[str, Method] = {
    "tvd": tvd,
    "l_infinity": l_infinity,
    "jensen_shannon": jensen_shannon,
    "psi": psi,
    "kl_div": kl_div,
    "hellinger": hellinger,
}
#: Distances defined on the shares alone (psi and kl_div also depend on the pseudo-counts).
SHARE_DISTANCES = {k: v for k, v in DISTANCES.items() if k not in {"psi", "kl_div"}}
#: Upper bounds of the bounded distances (Jensen-Shannon with natural logs: sqrt(ln 2)).
BOUNDS = {"tvd": 1.0, "l_infinity": 1.0, "hellinger": 1.0, "jensen_shannon": math.sqrt(math.log(2))}
ALL_METHODS = {**P_VALUE_TESTS, **DISTANCES}

TABLES = {
    "binary": ([50, 50], [30, 70]),
    "five-categories": ([12, 40, 7, 25, 16], [20, 31, 9, 14, 30]),
    "empty-column": ([10, 0, 30, 5], [14, 0, 22, 9]),
    "unequal-sizes": ([300, 120, 80], [20, 15, 2]),
}


def shares(counts: Any) -> NDArray[np.float64]:
    arr = np.asarray(counts, dtype=np.float64)
    out: NDArray[np.float64] = arr / arr.sum()
    return out


def nonempty_table(reference: Any, current: Any) -> NDArray[np.float64]:
    table = np.array([reference, current], dtype=np.float64)
    return table[:, table.sum(axis=0) > 0]


def labels(counts: Any) -> pd.Series:
    """A categorical column whose value counts are ``counts`` (labels c0, c1, ...)."""
    names = np.array([f"c{i}" for i in range(len(counts))], dtype=object)
    return pd.Series(np.repeat(names, counts))


@pytest.fixture(scope="module")
def evidently() -> types.SimpleNamespace:
    """Evidently's stattest functions (imported once: slow, and immutable)."""
    from litestar.exceptions import LitestarDeprecationWarning

    with warnings.catch_warnings():
        # Importing evidently imports its UI, which uses litestar APIs deprecated in litestar
        # 2.23; the warning is raised from litestar's frames, so the evidently.* filters in
        # pyproject.toml miss it. Not ours, and only at import time.
        warnings.filterwarnings("ignore", category=LitestarDeprecationWarning)
        from evidently.legacy.calculations.stattests.chisquare_stattest import _chi_stat_test
        from evidently.legacy.calculations.stattests.hellinger_distance import (
            _hellinger_distance,
        )
        from evidently.legacy.calculations.stattests.jensenshannon import _jensenshannon
        from evidently.legacy.calculations.stattests.kl_div import _kl_div
        from evidently.legacy.calculations.stattests.psi import _psi
        from evidently.legacy.core import ColumnType
    return types.SimpleNamespace(
        chi_square=_chi_stat_test,
        hellinger=_hellinger_distance,
        jensen_shannon=_jensenshannon,
        kl_div=_kl_div,
        psi=_psi,
        categorical=ColumnType.Categorical,
    )


# --- 1. Oracles ---------------------------------------------------------------------------


@pytest.mark.parametrize(("reference", "current"), TABLES.values(), ids=TABLES.keys())
def test_chi_square_equals_scipy_chi2_contingency(reference: list[int], current: list[int]) -> None:
    expected = stats.chi2_contingency(nonempty_table(reference, current), correction=False)
    result = chi_square(reference, current)
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-9)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9)
    assert result.method is DriftMethod.CHI_SQUARE


@pytest.mark.parametrize(("reference", "current"), TABLES.values(), ids=TABLES.keys())
def test_g_test_equals_scipy_log_likelihood_ratio(reference: list[int], current: list[int]) -> None:
    table = nonempty_table(reference, current)
    expected = stats.chi2_contingency(table, correction=False, lambda_="log-likelihood")
    # The same G from its definition: power divergence of the table from its expectation.
    g = stats.power_divergence(
        table, stats.contingency.expected_freq(table), lambda_="log-likelihood", axis=None
    ).statistic
    result = g_test(reference, current)
    assert result.statistic == pytest.approx(expected.statistic, rel=1e-9)
    assert result.statistic == pytest.approx(g, rel=1e-9)
    assert result.p_value == pytest.approx(expected.pvalue, rel=1e-9)
    assert result.p_value == pytest.approx(stats.chi2.sf(g, table.shape[1] - 1), rel=1e-9)


@pytest.mark.parametrize(
    ("reference", "current"),
    [([50, 50], [30, 70]), ([3, 9], [10, 1]), ([0, 7], [4, 3]), ([400, 2], [25, 3])],
)
def test_fisher_exact_on_two_categories_equals_scipy(
    reference: list[int], current: list[int]
) -> None:
    table = np.array([reference, current])
    result = fisher_exact(reference, current)
    assert result.p_value == pytest.approx(stats.fisher_exact(table).pvalue, rel=1e-12)
    # The statistic is the log-probability of the table given its margins (hypergeometric).
    total, first_column, reference_size = table.sum(), table[:, 0].sum(), table[0].sum()
    log_pmf = stats.hypergeom.logpmf(table[0, 0], total, first_column, reference_size)
    assert result.statistic == pytest.approx(log_pmf, rel=1e-9)


def test_fisher_exact_monte_carlo_agrees_with_chi_square_and_scipy() -> None:
    reference = [40, 55, 62, 45, 50, 48]
    current = [58, 41, 50, 60, 39, 52]
    table = np.array([reference, current])
    result = fisher_exact(reference, current, rng=np.random.default_rng(7))
    chi2_p = stats.chi2_contingency(table, correction=False).pvalue
    scipy_p = stats.fisher_exact(
        table, method=stats.MonteCarloMethod(n_resamples=9999, rng=np.random.default_rng(8))
    ).pvalue
    assert 0.05 < chi2_p < 0.5  # a table where the p-value is neither 0 nor 1
    assert result.p_value == pytest.approx(chi2_p, abs=0.02)
    assert result.p_value == pytest.approx(scipy_p, abs=0.02)
    assert result.statistic == pytest.approx(
        stats.random_table.logpmf(table, table.sum(1), table.sum(0))
    )


def test_fisher_exact_monte_carlo_is_deterministic_and_leaves_the_global_rng_alone() -> None:
    reference, current = [20, 30, 50, 4], [35, 30, 35, 9]
    before = np.random.get_state(legacy=False)["state"]
    seeded = [fisher_exact(reference, current, rng=np.random.default_rng(3)) for _ in range(2)]
    default = [fisher_exact(reference, current) for _ in range(2)]
    assert seeded[0] == seeded[1]
    assert default[0] == default[1]
    after = np.random.get_state(legacy=False)["state"]
    assert after["pos"] == before["pos"] and np.array_equal(after["key"], before["key"])


def test_fisher_exact_p_value_is_at_least_one_over_resamples_plus_one() -> None:
    result = fisher_exact([100, 0, 0], [0, 50, 50], n_resamples=99)
    assert result.p_value == pytest.approx(1 / 100)


@pytest.mark.parametrize(
    ("reference", "current"), [([50, 50], [30, 70]), ([17, 3], [60, 40]), ([5, 995], [0, 300])]
)
def test_z_test_equals_hand_computation_and_chi_square(
    reference: list[int], current: list[int]
) -> None:
    n1, n2 = sum(reference), sum(current)
    p1, p2 = reference[0] / n1, current[0] / n2
    pooled = (reference[0] + current[0]) / (n1 + n2)
    z = (p1 - p2) / math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    result = z_test(reference, current)
    assert result.statistic == pytest.approx(z, rel=1e-12)
    assert result.p_value == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-12)
    # The two-proportion z-test and Pearson's chi-square on the 2 x 2 table are one test.
    pearson = stats.chi2_contingency(np.array([reference, current]), correction=False)
    assert result.statistic**2 == pytest.approx(pearson.statistic, rel=1e-9)
    assert result.p_value == pytest.approx(pearson.pvalue, rel=1e-9)


def test_z_test_keeps_tiny_p_values_that_one_minus_cdf_rounds_to_zero() -> None:
    result = z_test([600, 400], [400, 600])  # z is about 8.9
    assert 2 * (1 - stats.norm.cdf(abs(result.statistic))) == 0.0  # Evidently's formula
    assert result.p_value is not None
    assert result.p_value == pytest.approx(2 * stats.norm.sf(abs(result.statistic)), rel=1e-12)
    assert 0.0 < result.p_value < 1e-15


@pytest.mark.parametrize("counts", [([40, 0], [25, 0]), ([0, 8], [0, 3]), ([12], [30])])
def test_z_test_on_a_single_observed_value_is_statistic_zero_p_one(
    counts: tuple[list[int], list[int]],
) -> None:
    result = z_test(*counts)
    assert (result.statistic, result.p_value, result.drifted) == (0.0, 1.0, False)


@pytest.mark.parametrize(("reference", "current"), TABLES.values(), ids=TABLES.keys())
def test_jensen_shannon_equals_scipy_and_evidently(
    reference: list[int], current: list[int], evidently: types.SimpleNamespace
) -> None:
    result = jensen_shannon(reference, current)
    assert result.statistic == pytest.approx(
        distance.jensenshannon(shares(reference), shares(current)), abs=1e-12
    )
    theirs, _ = evidently.jensen_shannon(
        labels(reference), labels(current), evidently.categorical, 0.1
    )
    assert result.statistic == pytest.approx(float(theirs), abs=1e-12)


@pytest.mark.parametrize("smoothing", [0.5, 1.0, 0.01])
@pytest.mark.parametrize(("reference", "current"), TABLES.values(), ids=TABLES.keys())
def test_kl_div_equals_scipy_entropy_of_smoothed_shares(
    reference: list[int], current: list[int], smoothing: float
) -> None:
    p = shares(np.add(reference, smoothing))
    q = shares(np.add(current, smoothing))
    result = kl_div(reference, current, smoothing=smoothing)
    assert result.statistic == pytest.approx(stats.entropy(p, q), rel=1e-12)
    assert result.statistic == pytest.approx(float(np.sum(special.rel_entr(p, q))), rel=1e-9)


@pytest.mark.parametrize("smoothing", [0.5, 1.0, 0.01])
@pytest.mark.parametrize(("reference", "current"), TABLES.values(), ids=TABLES.keys())
def test_psi_equals_hand_computation(
    reference: list[int], current: list[int], smoothing: float
) -> None:
    n_ref = sum(reference) + smoothing * len(reference)
    n_cur = sum(current) + smoothing * len(current)
    expected = 0.0
    for r, c in zip(reference, current, strict=True):
        p, q = (r + smoothing) / n_ref, (c + smoothing) / n_cur
        expected += (p - q) * math.log(p / q)
    assert psi(reference, current, smoothing=smoothing).statistic == pytest.approx(
        expected, rel=1e-12
    )


def test_psi_and_kl_div_without_smoothing_equal_evidently_when_no_bin_is_empty(
    evidently: types.SimpleNamespace,
) -> None:
    reference, current = [12, 40, 7, 25, 16], [20, 31, 9, 14, 30]
    ref, cur = labels(reference), labels(current)
    their_psi, _ = evidently.psi(ref, cur, evidently.categorical, 0.1)
    their_kl, _ = evidently.kl_div(ref, cur, evidently.categorical, 0.1)
    assert psi(reference, current, smoothing=0).statistic == pytest.approx(
        float(their_psi), abs=1e-12
    )
    assert kl_div(reference, current, smoothing=0).statistic == pytest.approx(
        float(their_kl), abs=1e-12
    )


@pytest.mark.parametrize(("reference", "current"), TABLES.values(), ids=TABLES.keys())
def test_share_distances_equal_hand_formulas(
    reference: list[int], current: list[int], evidently: types.SimpleNamespace
) -> None:
    p, q = shares(reference), shares(current)
    assert tvd(reference, current).statistic == pytest.approx(0.5 * sum(abs(p - q)), abs=1e-15)
    assert l_infinity(reference, current).statistic == pytest.approx(max(abs(p - q)), abs=1e-15)
    overlap = sum(math.sqrt(a * b) for a, b in zip(p, q, strict=True))
    expected = math.sqrt(1 - min(max(overlap, 0.0), 1.0))
    assert hellinger(reference, current).statistic == pytest.approx(expected, abs=1e-12)
    theirs, _ = evidently.hellinger(labels(reference), labels(current), evidently.categorical, 0.1)
    assert hellinger(reference, current).statistic == pytest.approx(float(theirs), abs=1e-12)


def test_jensen_shannon_of_shares_equal_up_to_rounding_is_zero_not_nan() -> None:
    reference, current = [590812, 20], [590813, 20]  # true distance about 5e-9
    with np.errstate(invalid="ignore"):
        assert math.isnan(distance.jensenshannon(shares(reference), shares(current)))
    assert jensen_shannon(reference, current).statistic == 0.0


def test_disjoint_supports_reach_the_distance_bounds() -> None:
    reference, current = [7, 0, 3], [0, 5, 0]
    assert tvd(reference, current).statistic == 1.0
    assert l_infinity(reference, current).statistic == 1.0
    assert hellinger(reference, current).statistic == 1.0
    assert jensen_shannon(reference, current).statistic == pytest.approx(BOUNDS["jensen_shannon"])


@pytest.mark.parametrize("name", ALL_METHODS)
def test_result_is_frozen_with_plain_python_values(name: str) -> None:
    result = ALL_METHODS[name]([50, 50], [30, 70])
    assert result.method == DriftMethod(name)
    assert type(result.statistic) is float and type(result.drifted) is bool
    assert (result.n_reference, result.n_current) == (100, 100)
    assert type(result.n_reference) is int and type(result.n_current) is int
    if name in P_VALUE_TESTS:
        assert type(result.p_value) is float and result.threshold == 0.05
    else:
        assert result.p_value is None and result.threshold == 0.1
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.drifted = False  # type: ignore[misc]


# --- 2. Drift rules at the boundary -------------------------------------------------------


@pytest.mark.parametrize("name", P_VALUE_TESTS)
def test_p_value_equal_to_alpha_is_not_drift(name: str) -> None:
    method = P_VALUE_TESTS[name]
    reference, current = [50, 50], [33, 67]
    p = method(reference, current).p_value
    assert p is not None and 0.0 < p < 1.0
    assert method(reference, current, alpha=p).drifted is False
    assert method(reference, current, alpha=float(np.nextafter(p, 1.0))).drifted is True


@pytest.mark.parametrize("name", DISTANCES)
def test_distance_equal_to_threshold_is_drift(name: str) -> None:
    method = DISTANCES[name]
    reference, current = [12, 40, 7, 25, 16], [20, 31, 9, 14, 30]
    value = method(reference, current).statistic
    assert method(reference, current, threshold=value).drifted is True
    assert method(reference, current, threshold=float(np.nextafter(value, 2.0))).drifted is False


# --- 3. Properties ------------------------------------------------------------------------


@st.composite
def count_pairs(
    draw: st.DrawFn, min_size: int = 2, max_size: int = 30
) -> tuple[list[int], list[int]]:
    """Two aligned count vectors of 2 to 30 categories, each with a positive total."""
    size = draw(st.integers(min_size, max_size))
    counts = st.lists(st.integers(0, 500), min_size=size, max_size=size).filter(
        lambda c: sum(c) > 0
    )
    return draw(counts), draw(counts)


def run(name: str, reference: Any, current: Any) -> DriftResult:
    """Call a method with settings that keep property tests fast (fewer Monte Carlo draws)."""
    if name == "fisher_exact":
        return fisher_exact(reference, current, n_resamples=199)
    return ALL_METHODS[name](reference, current)


@settings(deadline=None)
@given(pair=count_pairs())
def test_p_values_are_probabilities_and_distances_are_bounded(
    pair: tuple[list[int], list[int]],
) -> None:
    reference, current = pair
    for name in MULTI_CATEGORY_TESTS:
        p = run(name, reference, current).p_value
        assert p is not None and 0.0 <= p <= 1.0, name
    for name in DISTANCES:
        value = run(name, reference, current).statistic
        assert value >= 0.0, name
        if name in BOUNDS:
            assert value <= BOUNDS[name] + 1e-12, name


@settings(deadline=None)
@given(pair=count_pairs(min_size=2, max_size=2))
def test_z_test_p_value_is_a_probability(pair: tuple[list[int], list[int]]) -> None:
    result = z_test(*pair)
    assert result.p_value is not None and 0.0 <= result.p_value <= 1.0
    assert math.isfinite(result.statistic)


@settings(deadline=None)
@given(data=st.data(), pair=count_pairs())
def test_methods_do_not_depend_on_category_order(
    data: st.DataObject, pair: tuple[list[int], list[int]]
) -> None:
    reference, current = np.array(pair[0]), np.array(pair[1])
    order = np.array(data.draw(st.permutations(range(reference.size))))
    for name in (*MULTI_CATEGORY_TESTS, *DISTANCES):
        a, b = run(name, reference, current), run(name, reference[order], current[order])
        assert b.statistic == pytest.approx(a.statistic, rel=1e-9, abs=1e-12), name
        if a.p_value is not None:
            assert b.p_value == pytest.approx(a.p_value, rel=1e-9, abs=1e-12), name


@settings(deadline=None)
@given(pair=count_pairs(min_size=2, max_size=2))
def test_z_test_category_order_flips_only_the_sign(pair: tuple[list[int], list[int]]) -> None:
    a, b = z_test(*pair), z_test(pair[0][::-1], pair[1][::-1])
    assert b.statistic == pytest.approx(-a.statistic, abs=1e-12)
    assert b.p_value == pytest.approx(a.p_value, rel=1e-9)


@settings(deadline=None)
@given(pair=count_pairs())
def test_identical_counts_never_drift(pair: tuple[list[int], list[int]]) -> None:
    counts = pair[0]
    for name in (*MULTI_CATEGORY_TESTS, *DISTANCES):
        assert not run(name, counts, counts).drifted, name
    for name in DISTANCES:
        assert run(name, counts, counts).statistic == 0.0, name


@settings(deadline=None)
@given(pair=count_pairs(min_size=2, max_size=2))
def test_z_test_on_identical_counts_never_drifts(pair: tuple[list[int], list[int]]) -> None:
    result = z_test(pair[0], pair[0])
    assert (result.statistic, result.p_value, result.drifted) == (0.0, 1.0, False)


@settings(deadline=None)
@given(pair=count_pairs(), factors=st.tuples(st.integers(1, 1000), st.integers(1, 1000)))
def test_share_distances_ignore_sample_size(
    pair: tuple[list[int], list[int]], factors: tuple[int, int]
) -> None:
    reference, current = np.array(pair[0]), np.array(pair[1])
    scaled_ref, scaled_cur = reference * factors[0], current * factors[1]
    for name, method in SHARE_DISTANCES.items():
        a, b = method(reference, current), method(scaled_ref, scaled_cur)
        assert b.statistic == pytest.approx(a.statistic, rel=1e-9, abs=1e-7), name
    if (reference > 0).all() and (current > 0).all():  # no pseudo-counts needed
        for method in (psi, kl_div):
            a, b = (
                method(reference, current, smoothing=0),
                method(scaled_ref, scaled_cur, smoothing=0),
            )
            assert b.statistic == pytest.approx(a.statistic, rel=1e-9, abs=1e-12)


# --- 4. False-positive rates under no drift -----------------------------------------------

N_SIMULATIONS = 300
SAMPLE_SIZE = 300
#: More drifted verdicts than this in 300 undrifted simulations at alpha 0.05 happens with
#: probability < 0.1% for a test whose false-positive rate is alpha.
MAX_FALSE_POSITIVES = int(stats.binom.ppf(0.999, N_SIMULATIONS, 0.05))

NO_DRIFT_DISTRIBUTIONS = {
    "2-categories": np.array([0.3, 0.7]),
    "5-categories": np.arange(1.0, 6.0) / 15.0,
    "20-categories": np.linspace(1.0, 3.0, 20) / np.linspace(1.0, 3.0, 20).sum(),
}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "distribution"),
    [
        (name, distribution)
        for name in P_VALUE_TESTS
        for distribution, shares_ in NO_DRIFT_DISTRIBUTIONS.items()
        if name != "z_test" or shares_.size == 2  # z_test is for binary columns only
    ],
)
def test_false_positive_rate_under_no_drift_is_alpha(name: str, distribution: str) -> None:
    shares_ = NO_DRIFT_DISTRIBUTIONS[distribution]
    rng = np.random.default_rng(20240601 + shares_.size)
    counts = rng.multinomial(SAMPLE_SIZE, shares_, size=(N_SIMULATIONS, 2))
    if name == "fisher_exact":
        verdicts = [fisher_exact(r, c, n_resamples=999, rng=rng).drifted for r, c in counts]
    else:
        verdicts = [P_VALUE_TESTS[name](r, c).drifted for r, c in counts]
    assert sum(verdicts) <= MAX_FALSE_POSITIVES


@pytest.mark.slow
def test_evidently_chisquare_flags_undrifted_columns_while_ours_keeps_alpha(
    evidently: types.SimpleNamespace,
) -> None:
    """Evidently's one-sample chisquare treats reference shares as exact: ~98% false alarms."""
    n_sims, size, k = 100, 2000, 50
    rng = np.random.default_rng(50)
    counts = rng.multinomial(size, np.full(k, 1.0 / k), size=(n_sims, 2))
    assert (counts > 0).all()  # Evidently divides by the reference counts
    theirs = sum(
        bool(evidently.chi_square(labels(r), labels(c), evidently.categorical, 0.05)[1])
        for r, c in counts
    )
    ours = sum(chi_square(r, c).drifted for r, c in counts)
    assert theirs > n_sims // 2
    assert ours <= int(stats.binom.ppf(0.999, n_sims, 0.05))


# --- 5. Errors ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", P_VALUE_TESTS)
def test_alpha_outside_the_unit_interval_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match=r"alpha \(1\.5\)"):
        P_VALUE_TESTS[name]([5, 5], [5, 5], alpha=1.5)


@pytest.mark.parametrize("name", DISTANCES)
def test_negative_threshold_is_refused(name: str) -> None:
    with pytest.raises(ValueError, match=r"threshold \(-0\.1\)"):
        DISTANCES[name]([5, 5], [5, 5], threshold=-0.1)


@pytest.mark.parametrize("name", ALL_METHODS)
def test_misaligned_counts_are_refused(name: str) -> None:
    with pytest.raises(ValueError, match="aligned"):
        ALL_METHODS[name]([5, 5], [5, 5, 5])


@pytest.mark.parametrize("name", ALL_METHODS)
@pytest.mark.parametrize("empty", ["reference", "current"])
def test_an_empty_side_is_insufficient_data(name: str, empty: str) -> None:
    counts = {"reference": [4, 6], "current": [3, 7], empty: [0, 0]}
    with pytest.raises(InsufficientData, match=empty) as info:
        ALL_METHODS[name](counts["reference"], counts["current"])
    assert (info.value.needed, info.value.got) == (1, 0)


def test_z_test_refuses_more_than_two_categories() -> None:
    with pytest.raises(ValueError, match=r"z_test is for binary columns.*got 3 categories"):
        z_test([1, 2, 3], [3, 2, 1])


@pytest.mark.parametrize("method", [psi, kl_div])
def test_smoothing_must_be_non_negative_and_zero_needs_non_empty_bins(method: Method) -> None:
    with pytest.raises(ValueError, match=r"smoothing \(-1\.0\)"):
        method([5, 5], [5, 5], smoothing=-1.0)
    with pytest.raises(ValueError, match="current bin 1 has count 0"):
        method([5, 5], [5, 0], smoothing=0)
    assert method([5, 5], [5, 0]).statistic > 0.0  # the default smoothing handles it


def test_fisher_exact_refuses_non_integer_counts_and_zero_resamples() -> None:
    with pytest.raises(ValueError, match="integer counts"):
        fisher_exact([1.5, 2.0], [3.0, 1.0])
    with pytest.raises(ValueError, match=r"n_resamples \(0\)"):
        fisher_exact([1, 2, 3], [3, 2, 1], n_resamples=0)
