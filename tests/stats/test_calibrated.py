"""The calibrated verdict rule: false alarms at nominal alpha at every window size, power, no cliff.

Windows are drawn from the reference's own population, so every alarm is false. The false-alarm
count over the draws is compared with nominal alpha through the exact (Clopper-Pearson, 99%)
binomial interval: calibrated must not be significantly above alpha; the Evidently mode (fixed
0.1 distances, method by reference size) is shown to be significantly above it on small windows,
the peer's documented known issue (docs/statistics.md, "Verdict rules").
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from monitor.stats.check import CheckOptions, ColumnOptions, Status, check
from monitor.stats.correction import Correction, adjust_p_values
from monitor.stats.profile import ReferenceProfile, fit_profile
from monitor.stats.types import Compat, DriftMethod, Rule

ALPHA = 0.05
CATEGORIES = np.array([f"c{i:02d}" for i in range(50)])
_SHARES = np.linspace(1.0, 2.0, 50) / np.linspace(1.0, 2.0, 50).sum()

Population = Callable[[np.random.Generator, int], object]
POPULATIONS: dict[str, Population] = {
    "normal": lambda rng, n: rng.normal(size=n),
    "lognormal": lambda rng, n: rng.lognormal(1.0, 0.7, n),
    "categories50": lambda rng, n: pd.Categorical(CATEGORIES[rng.choice(50, n, p=_SHARES)], categories=CATEGORIES),
}


def clopper_pearson(k: int, n: int, level: float = 0.99) -> tuple[float, float]:
    """The exact binomial confidence interval of a rate k/n."""
    tail = (1.0 - level) / 2.0
    lower = 0.0 if k == 0 else float(stats.beta.ppf(tail, k, n - k + 1))
    upper = 1.0 if k == n else float(stats.beta.ppf(1.0 - tail, k + 1, n - k))
    return lower, upper


def _false_alarms(profile: ReferenceProfile, population: Population, n: int, draws: int, compat: Compat,
                  seed: int) -> int:
    rng = np.random.default_rng(seed)
    options = CheckOptions(compat=compat)
    alarms = 0
    for _ in range(draws):
        result = check(profile, pd.DataFrame({"x": population(rng, n)}), options, workers=1)
        (column,) = result.columns
        assert column.status is Status.OK
        alarms += column.drifted
    return alarms


@pytest.fixture(scope="module")
def profiles() -> dict[str, ReferenceProfile]:
    """5000-row references per population (immutable once fitted; the null cache only grows)."""
    rng = np.random.default_rng(2024)
    return {name: fit_profile(pd.DataFrame({"x": pop(rng, 5000)})) for name, pop in POPULATIONS.items()}


@pytest.mark.slow
@pytest.mark.parametrize("n", [30, 100, 300, 1000])
@pytest.mark.parametrize("population", list(POPULATIONS))
def test_calibrated_false_alarm_rate_is_at_most_nominal_alpha(
    profiles: dict[str, ReferenceProfile], population: str, n: int
) -> None:
    draws = 200
    alarms = _false_alarms(profiles[population], POPULATIONS[population], n, draws, Compat.CALIBRATED, seed=n)
    lower, _ = clopper_pearson(alarms, draws)
    assert lower <= ALPHA, f"{alarms}/{draws} false alarms at {n} rows"


@pytest.mark.slow
@pytest.mark.parametrize("n", [30, 100])
@pytest.mark.parametrize("population", list(POPULATIONS))
def test_evidently_mode_false_alarms_far_above_alpha_on_small_windows(
    profiles: dict[str, ReferenceProfile], population: str, n: int
) -> None:
    """Known issue of the peer, reproduced on purpose by ``compat=evidently``."""
    draws = 60
    alarms = _false_alarms(profiles[population], POPULATIONS[population], n, draws, Compat.EVIDENTLY, seed=n + 1)
    lower, _ = clopper_pearson(alarms, draws)
    assert lower > 2 * ALPHA, f"{alarms}/{draws} false alarms at {n} rows"


def test_half_sigma_shift_at_1000_rows_is_detected(profiles: dict[str, ReferenceProfile]) -> None:
    rng = np.random.default_rng(7)
    draws = 50
    found = sum(check(profiles["normal"], pd.DataFrame({"x": rng.normal(0.5, 1.0, 1000)}), workers=1)
                .columns[0].drifted for _ in range(draws))
    assert found >= 0.9 * draws


@pytest.mark.slow
def test_no_cliff_between_1000_and_1001_reference_rows() -> None:
    rng = np.random.default_rng(11)
    draws = 200
    rates = []
    for n_ref in (1000, 1001):
        profile = fit_profile(pd.DataFrame({"x": rng.normal(size=n_ref)}))
        rates.append(_false_alarms(profile, POPULATIONS["normal"], 300, draws, Compat.CALIBRATED, seed=n_ref))
    for mine, other in (rates, rates[::-1]):
        lower, upper = clopper_pearson(mine, draws)
        assert lower <= other / draws <= upper, rates
    # The choice of method does not depend on the reference size either.
    methods = {str(check(fit_profile(pd.DataFrame({"x": rng.normal(size=n)})),
                         pd.DataFrame({"x": rng.normal(size=300)})).columns[0].method) for n in (1000, 1001)}
    assert methods == {"wasserstein"}


def test_null_threshold_shrinks_with_the_window_and_is_cached_once(profiles: dict[str, ReferenceProfile]) -> None:
    rng = np.random.default_rng(3)
    profile = fit_profile(pd.DataFrame({"x": rng.normal(size=5000)}))
    small = check(profile, pd.DataFrame({"x": rng.normal(size=30)})).columns[0]
    large = check(profile, pd.DataFrame({"x": rng.normal(size=3000)})).columns[0]
    assert small.rule is Rule.CALIBRATED and small.null_threshold is not None and large.null_threshold is not None
    assert small.null_threshold > 4 * large.null_threshold  # roughly sqrt(n_effective): sqrt(1875/30) ~ 7.9
    assert small.threshold == max(small.null_threshold, 0.1) and small.effect_floor == 0.1
    assert large.threshold == 0.1  # the effect floor wins on large windows
    entries = len(profile.null_cache)
    again = check(profile, pd.DataFrame({"x": rng.normal(size=31)})).columns[0]  # same size bucket as 30
    assert len(profile.null_cache) == entries
    assert again.null_threshold == pytest.approx(small.null_threshold * (31 * 5000 / 5030 / (30 * 5000 / 5030)) ** -0.5
                                                 * (1.0), rel=0.05)


def test_null_threshold_of_wasserstein_matches_a_brute_force_two_sample_simulation() -> None:
    """Independent oracle: redraw both samples from the population and take the 95% quantile."""
    rng = np.random.default_rng(5)
    n_ref, n_cur = 2000, 100
    profile = fit_profile(pd.DataFrame({"x": rng.normal(size=n_ref)}))
    ours = check(profile, pd.DataFrame({"x": rng.normal(size=n_cur)})).columns[0].null_threshold
    sims = [stats.wasserstein_distance(a := rng.normal(size=n_ref), rng.normal(size=n_cur)) / np.std(a)
            for _ in range(400)]
    assert ours == pytest.approx(float(np.quantile(sims, 0.95)), rel=0.15)


def test_large_windows_do_not_alarm_on_negligible_but_significant_effects() -> None:
    rng = np.random.default_rng(9)
    ref = pd.DataFrame({"x": rng.normal(size=200_000)})
    cur = pd.DataFrame({"x": rng.normal(0.03, 1.0, 200_000)})
    ks = CheckOptions(method=DriftMethod.KS)
    calibrated = check(fit_profile(ref), cur, ks).columns[0]
    evidently = check(fit_profile(ref), cur, CheckOptions(method=DriftMethod.KS, compat=Compat.EVIDENTLY)).columns[0]
    assert calibrated.p_value is not None and calibrated.p_value < 1e-6
    assert calibrated.effect is not None and calibrated.effect < 0.05 == calibrated.effect_floor
    assert not calibrated.drifted and evidently.drifted
    # A configured floor is honoured: with floor 0 the significant effect alarms.
    floor0 = CheckOptions(method=DriftMethod.KS, columns={"x": ColumnOptions(effect_floor=0.0)})
    assert check(fit_profile(ref), cur, floor0).columns[0].drifted


def test_missing_rate_needs_a_material_change() -> None:
    """81 missing of 50,009 -> 0 of 27,902 is significant (p ~ 1e-11) but not material."""
    rng = np.random.default_rng(1)
    ref_x = rng.normal(size=50_009)
    ref_x[rng.choice(50_009, 81, replace=False)] = np.nan
    ref, cur = pd.DataFrame({"x": ref_x}), pd.DataFrame({"x": rng.normal(size=27_902)})
    calibrated = check(fit_profile(ref), cur).columns[0]
    evidently = check(fit_profile(ref), cur, CheckOptions(compat=Compat.EVIDENTLY)).columns[0]
    two_proportion = stats.chi2_contingency([[81, 50_009 - 81], [0, 27_902]], correction=False).pvalue
    assert calibrated.missing_p_value == pytest.approx(two_proportion, rel=1e-6) and two_proportion < 1e-10
    assert evidently.missing_drifted and not calibrated.missing_drifted
    broken = cur.copy()
    broken.loc[: 27_902 // 10, "x"] = np.nan  # a tenth missing: a broken join, material
    assert check(fit_profile(ref), broken).columns[0].missing_drifted


def _frame(rng: np.random.Generator, n: int, shift: float) -> pd.DataFrame:
    return pd.DataFrame({"a": rng.normal(shift, 1.0, n), "b": rng.normal(shift, 1.0, n),
                         "c": rng.normal(size=n), "target": rng.normal(3.0 * shift, 1.0, n)})


def test_dataset_verdict_counts_only_the_declared_columns_and_needs_min_features() -> None:
    rng = np.random.default_rng(4)
    ref, cur = _frame(rng, 2000, 0.0), _frame(rng, 2000, 0.0)
    cur["target"] += 3.0
    profile = fit_profile(ref)
    everything = check(profile, cur, CheckOptions(drift_share=0.25))
    features = check(profile, cur, CheckOptions(drift_share=0.25, dataset_columns=frozenset({"a", "b", "c"})))
    assert everything.dataset_drift and everything.total_columns == 4
    assert not features.dataset_drift and features.total_columns == 3
    assert features.counted_columns == ("a", "b", "c")
    assert next(c for c in features.columns if c.column == "target").drifted  # still tested and reported
    few = check(profile, cur, CheckOptions(drift_share=0.25, min_features=5))
    assert not few.dataset_drift and few.to_dict()["dataset"]["min_features"] == 5


def test_fdr_is_benjamini_hochberg_over_the_counted_columns() -> None:
    rng = np.random.default_rng(12)
    ref = pd.DataFrame({f"x{i}": rng.normal(size=400) for i in range(8)})
    cur = pd.DataFrame({f"x{i}": rng.normal(0.15 * (i % 4), 1.0, 400) for i in range(8)})
    counted = frozenset(f"x{i}" for i in range(6))
    ks = DriftMethod.KS
    plain = check(fit_profile(ref), cur, CheckOptions(method=ks))
    fdr = check(fit_profile(ref), cur, CheckOptions(method=ks, fdr=True, dataset_columns=counted))
    p = [c.p_value for c in plain.columns if c.column in counted]
    expected = stats.false_discovery_control(p, method="bh")
    got = [c.adjusted_p_value for c in fdr.columns if c.column in counted]
    assert got == pytest.approx(expected.tolist()) and adjust_p_values(p, Correction.BENJAMINI_HOCHBERG) == pytest.approx(expected)
    for c, q in zip((c for c in fdr.columns if c.column in counted), expected, strict=True):
        assert c.drifted == (q < ALPHA and c.effect is not None and c.effect >= 0.05)
    assert all(c.adjusted_p_value is None for c in fdr.columns if c.column not in counted)
    assert fdr.correction is Correction.BENJAMINI_HOCHBERG


def test_distances_carry_a_monte_carlo_p_value_under_the_calibrated_rule() -> None:
    rng = np.random.default_rng(6)
    profile = fit_profile(pd.DataFrame({"x": rng.normal(size=3000), "c": rng.choice(list("abcd"), 3000)}))
    cur = pd.DataFrame({"x": rng.normal(size=200), "c": rng.choice(list("abcd"), 200)})
    for col in check(profile, cur).columns:
        assert col.p_value is not None and 1 / 401 <= col.p_value <= 1.0
        assert col.effect == col.statistic  # a distance is its own effect measure
        assert col.drifted == (col.statistic >= col.effect_floor and col.statistic > col.null_threshold)


def test_json_records_how_the_verdict_was_reached() -> None:
    rng = np.random.default_rng(2)
    profile = fit_profile(pd.DataFrame({"x": rng.normal(size=500)}))
    out = check(profile, pd.DataFrame({"x": rng.normal(size=500)})).to_dict()
    column = out["columns"][0]
    assert column["rule"] == "calibrated" and out["dataset"]["compat"] == "calibrated"
    assert {"effect", "effect_floor", "null_threshold", "threshold", "alpha", "statistic"} <= set(column)
    assert column["threshold"] == max(column["null_threshold"], column["effect_floor"])
    old = check(profile, pd.DataFrame({"x": rng.normal(size=500)}), CheckOptions(compat=Compat.EVIDENTLY)).to_dict()
    assert old["columns"][0]["rule"] == "evidently" and old["columns"][0]["null_threshold"] is None


def test_the_check_is_deterministic_for_a_seed() -> None:
    rng = np.random.default_rng(8)
    ref = pd.DataFrame({"x": rng.lognormal(size=4000), "c": rng.choice(list("abcdefg"), 4000)})
    cur = pd.DataFrame({"x": rng.lognormal(size=150), "c": rng.choice(list("abcdefg"), 150)})
    a, b = check(fit_profile(ref), cur), check(fit_profile(ref), cur, workers=1)
    assert a == b
    other = check(fit_profile(ref), cur, CheckOptions(seed=1))
    assert [c.null_threshold for c in other.columns] != [c.null_threshold for c in a.columns]
