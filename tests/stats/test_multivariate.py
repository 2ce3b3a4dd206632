"""Multivariate drift: properties, injected joint drift the per-column tests miss, and oracles.

Oracles: scikit-learn's PCA (components kept at the variance target, reconstruction error),
SciPy's Mann-Whitney U (the classifier's fold AUC and its null), and the exact Gaussian-kernel
MMD² of Gretton et al. (2012, eq. 5, biased V-statistic) computed from SciPy's pairwise distances.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats
from scipy.spatial.distance import cdist

from monitor.errors import InsufficientData
from monitor.stats.check import check
from monitor.stats.multivariate import (
    MultivariateMethod,
    MultivariateOptions,
    MultivariateReference,
    fit_multivariate,
    multivariate_check,
)
from monitor.stats.multivariate._encode import row_hashes
from monitor.stats.multivariate.classifier import fold_auc
from monitor.stats.multivariate.mmd import fourier_features
from monitor.stats.multivariate.pca import reconstruction
from monitor.stats.profile import fit_profile

M = MultivariateMethod
JOINT = (M.PCA_RECONSTRUCTION, M.DOMAIN_CLASSIFIER)
FAST = (M.PCA_RECONSTRUCTION, M.MMD)


def frame(n: int, rho: float, rng: np.random.Generator) -> pd.DataFrame:
    """``a, b`` bivariate normal with correlation ``rho`` (N(0, 1) marginals), noise ``n0..n3``,
    ``g``/``h`` two related skewed columns and a categorical ``c``."""
    z = rng.multivariate_normal([0.0, 0.0], [[1.0, rho], [rho, 1.0]], size=n)
    out = pd.DataFrame({"a": z[:, 0], "b": z[:, 1]})
    for i in range(4):
        out[f"n{i}"] = rng.normal(size=n)
    out["g"] = rng.gamma(2.0, size=n)
    out["h"] = out["g"] + rng.normal(scale=0.5, size=n)
    out["c"] = rng.choice(["u", "v", "w"], size=n, p=[0.5, 0.3, 0.2])
    return out


NUM = ["a", "b", "n0", "n1", "n2", "n3", "g", "h"]


def fit(reference: pd.DataFrame, methods: tuple[M, ...], **options: object) -> MultivariateReference:
    return fit_multivariate(reference, numerical=NUM, categorical=["c"], methods=methods,
                            options=MultivariateOptions(**options))  # type: ignore[arg-type]


def univariate_drifted(reference: pd.DataFrame, current: pd.DataFrame, columns: list[str]) -> list[str]:
    result = check(fit_profile(reference), current)
    return [c.column for c in result.columns if c.column in columns and c.drifted]


# --- properties ------------------------------------------------------------------------------------------

@settings(max_examples=8)
@given(seed=st.integers(0, 2**16), n=st.integers(120, 600))
def test_identical_samples_never_drift(seed: int, n: int) -> None:
    reference = frame(n, 0.7, np.random.default_rng(seed))
    for r in multivariate_check(fit(reference, tuple(M)), reference):
        assert not r.drifted, r
        assert r.p_value is None or 0.0 <= r.p_value <= 1.0
    # the classifier cannot tell a row from its own copy: every fold's AUC is exactly 1/2
    (clf,) = multivariate_check(fit(reference, (M.DOMAIN_CLASSIFIER,)), reference)
    assert clf.statistic == pytest.approx(0.5)


@settings(max_examples=3)
@given(seed=st.integers(0, 2**16))
def test_results_do_not_depend_on_row_order(seed: int) -> None:
    rng = np.random.default_rng(seed)
    reference, current = frame(400, 0.7, rng), frame(150, 0.2, rng)
    shuffle = np.random.default_rng(seed + 1)
    ref2 = reference.iloc[shuffle.permutation(len(reference))].reset_index(drop=True)
    cur2 = current.iloc[shuffle.permutation(len(current))].reset_index(drop=True)
    first = multivariate_check(fit(reference, tuple(M)), current)
    second = multivariate_check(fit(ref2, tuple(M)), cur2)
    for a, b in zip(first, second, strict=True):
        assert a.drifted == b.drifted
        assert a.statistic == pytest.approx(b.statistic, rel=1e-9, abs=1e-12)
        assert a.threshold == pytest.approx(b.threshold, rel=1e-9, abs=1e-12)
        assert a.p_value == pytest.approx(b.p_value, rel=1e-9, abs=1e-12)
        assert [f.feature for f in a.top_features] == [f.feature for f in b.top_features]


def test_seeded_and_round_trips_through_bytes() -> None:
    rng = np.random.default_rng(3)
    reference, current = frame(800, 0.8, rng), frame(300, -0.8, rng)
    fitted = fit(reference, tuple(M))
    restored = MultivariateReference.from_bytes(fitted.to_bytes())
    assert multivariate_check(fitted, current) == multivariate_check(restored, current)
    assert multivariate_check(fitted, current) == multivariate_check(fit(reference, tuple(M)), current)


def test_a_reference_stored_with_the_former_folds_option_still_reads() -> None:
    import io
    import json

    rng = np.random.default_rng(4)
    fitted = fit(frame(300, 0.8, rng), (M.DOMAIN_CLASSIFIER,))
    with np.load(io.BytesIO(fitted.to_bytes()), allow_pickle=False) as data:
        arrays = {k: data[k] for k in data.files}
    header = json.loads(arrays["header"].tobytes().decode())
    header["options"]["folds"] = 5  # written before the classifier's held-out split replaced its folds
    arrays["header"] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, **arrays)
    restored = MultivariateReference.from_bytes(buffer.getvalue())
    assert restored.options == fitted.options
    current = frame(100, 0.8, rng)
    assert multivariate_check(restored, current) == multivariate_check(fitted, current)


def test_too_few_rows_and_missing_columns_are_named() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(InsufficientData):
        fit(frame(50, 0.5, rng), (M.PCA_RECONSTRUCTION,))
    fitted = fit(frame(500, 0.5, rng), tuple(M))
    with pytest.raises(InsufficientData):
        multivariate_check(fitted, frame(5, 0.5, rng))
    with pytest.raises(ValueError, match="'g'"):
        multivariate_check(fitted, frame(100, 0.5, rng).drop(columns="g"))
    with pytest.raises(ValueError, match="alpha"):
        MultivariateOptions(alpha=1.5)


# --- joint drift that every univariate test misses -------------------------------------------------------

def test_correlation_flip_at_equal_marginals() -> None:
    rng = np.random.default_rng(11)
    reference, current = frame(4000, 0.8, rng), frame(1000, -0.8, rng)
    assert univariate_drifted(reference, current, ["a", "b"]) == []
    results = {r.method: r for r in multivariate_check(fit(reference, JOINT), current)}
    for method in JOINT:
        assert results[method].drifted, results[method]
        assert {f.feature for f in results[method].top_features[:2]} == {"a", "b"}


def test_swap_of_two_columns_with_similar_marginals() -> None:
    rng = np.random.default_rng(12)
    reference = frame(4000, 0.8, rng)
    current = frame(1000, 0.8, rng).rename(columns={"a": "n0", "n0": "a"})  # a pipeline swaps a and n0
    assert univariate_drifted(reference, current, ["a", "n0"]) == []
    results = {r.method: r for r in multivariate_check(fit(reference, JOINT), current)}
    for method in JOINT:
        assert results[method].drifted, results[method]
        assert {"a", "n0", "b"} & {f.feature for f in results[method].top_features[:2]}


# --- oracles ---------------------------------------------------------------------------------------------

def test_pca_matches_scikit_learn() -> None:
    from sklearn.decomposition import PCA

    rng = np.random.default_rng(5)
    reference, current = frame(3000, 0.8, rng), frame(200, 0.8, rng)
    fitted = fit(reference, (M.PCA_RECONSTRUCTION,))
    assert fitted.pca is not None
    coded = fitted.encoding.coded(reference)
    fit_rows = ~(row_hashes(coded, 0) >> np.uint64(63)).astype(bool)
    oracle = PCA(n_components=0.65, svd_solver="full").fit(fitted.encoding.encoded(coded[fit_rows]))
    assert fitted.pca.components.shape[1] == oracle.n_components_
    x = fitted.encoding.encoded(fitted.encoding.coded(current))
    ours, _ = reconstruction(x, fitted.pca.center, fitted.pca.components)
    theirs = np.linalg.norm(x - oracle.inverse_transform(oracle.transform(x)), axis=1)
    np.testing.assert_allclose(ours, theirs, rtol=1e-8, atol=1e-10)


def test_fold_auc_matches_scipy_mann_whitney() -> None:
    rng = np.random.default_rng(6)
    scores = np.round(rng.normal(size=300), 1)  # ties on purpose
    labels = rng.random(300) < 0.3
    u, mean, variance = fold_auc(scores, labels)
    res = stats.mannwhitneyu(scores[labels], scores[~labels], method="asymptotic", use_continuity=False,
                             alternative="greater")
    assert u == pytest.approx(float(res.statistic))
    assert stats.norm.sf((u - mean) / np.sqrt(variance)) == pytest.approx(float(res.pvalue), rel=1e-9)


def test_fourier_mmd_approximates_the_exact_kernel_mmd() -> None:
    rng = np.random.default_rng(7)
    x, y = rng.normal(size=(300, 3)), rng.normal(0.5, 1.0, size=(200, 3))
    sigma = 1.5
    k = np.exp(-cdist(np.vstack([x, y]), np.vstack([x, y]), "sqeuclidean") / (2 * sigma**2))
    exact = k[:300, :300].mean() + k[300:, 300:].mean() - 2 * k[:300, 300:].mean()
    z = fourier_features(np.vstack([x, y]), sigma, 20_000, np.random.default_rng(0))
    approx = float(((z[:300].mean(axis=0) - z[300:].mean(axis=0)) ** 2).sum())
    assert approx == pytest.approx(exact, rel=0.05)


# --- false alarms on stationary data ---------------------------------------------------------------------

def _false_alarms(methods: tuple[M, ...], trials: int, n_ref: int, n_cur: int) -> dict[M, int]:
    counts = dict.fromkeys(methods, 0)
    for trial in range(trials):
        rng = np.random.default_rng(1000 + trial)
        reference, current = frame(n_ref, 0.7, rng), frame(n_cur, 0.7, rng)
        for r in multivariate_check(fit(reference, methods, seed=trial, permutations=100, resamples=400), current):
            counts[r.method] += r.drifted
    return counts


def _within_budget(alarms: int, trials: int, alpha: float) -> None:
    """The measured rate is consistent with at most ``alpha``: a one-sided exact binomial test at 0.001."""
    assert stats.binomtest(alarms, trials, alpha, alternative="greater").pvalue > 1e-3, (alarms, trials)


@pytest.mark.slow
def test_false_alarm_rate_of_pca_and_mmd_within_alpha() -> None:
    trials = 200
    for alarms in _false_alarms(FAST, trials, 1000, 200).values():
        _within_budget(alarms, trials, 0.05)


@pytest.mark.slow
def test_false_alarm_rate_of_the_domain_classifier_within_alpha() -> None:
    trials = 200
    (alarms,) = _false_alarms((M.DOMAIN_CLASSIFIER,), trials, 600, 200).values()
    _within_budget(alarms, trials, 0.05)


def test_domain_classifier_p_value_is_valid_on_stationary_data() -> None:
    """The held-out p-value falls below alpha at most at rate alpha (here: at 0.05 and at 0.25, the
    second so that 40 draws can see an excess). Pooling five folds' U as independent did not: the
    fold models share training rows (docs/benchmarks.md, "Multivariate drift")."""
    trials = 40
    p_values = []
    for trial in range(trials):
        rng = np.random.default_rng(5000 + trial)
        reference, current = frame(400, 0.7, rng), frame(160, 0.7, rng)
        (r,) = multivariate_check(fit(reference, (M.DOMAIN_CLASSIFIER,), seed=trial), current)
        assert r.p_value is not None
        p_values.append(r.p_value)
    for alpha in (0.05, 0.25):
        _within_budget(int(np.sum(np.asarray(p_values) < alpha)), trials, alpha)
