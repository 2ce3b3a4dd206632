"""The check's fast paths (issue 16) against independent oracles: SciPy, Counter, Evidently, NumPy.

One-pass cleaning and sorting, blocked Wasserstein and ECDF gaps, the resampled null by counts,
category counts with missing values and unseen categories, the bounded typing sample, and the
single BLAS thread while the column pool runs.
"""

from __future__ import annotations

import threading
from collections import Counter

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import jensenshannon
from threadpoolctl import threadpool_info

from monitor.stats._threads import single_blas_thread
from monitor.stats.calibration import _w1_resampled
from monitor.stats.check import CheckOptions, check
from monitor.stats.columns import INT_CATEGORICAL_MAX_DISTINCT, TYPING_SAMPLE_ROWS, infer_column_type, typing_sample
from monitor.stats.drift import kuiper, wasserstein
from monitor.stats.drift.wasserstein import _w1_sorted, _w1_sorted_int
from monitor.stats.profile import CategoricalProfile, categorical_counts, fit_profile, numerical_values
from monitor.stats.sample import SortedSample, ecdf_gaps
from monitor.stats.types import ColumnType, Compat, DriftMethod

# --- one pass: convert, sort, slice out the finite values ----------------------------------------


def _dirty(n: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    x[rng.random(n) < 0.1] = np.nan
    x[rng.random(n) < 0.02] = np.inf
    x[rng.random(n) < 0.02] = -np.inf
    return x


@pytest.mark.parametrize("make", [
    lambda x: pd.Series(x),
    lambda x: pd.Series(x.astype(np.float32)),
    lambda x: pd.Series(pd.array(np.where(np.isnan(x), None, x), dtype="Float64")),
    lambda x: pd.Series(np.nan_to_num(x, nan=0, posinf=9, neginf=-9).round().astype(np.int64)),
    lambda x: pd.Series(np.nan_to_num(x, nan=0) > 0),
    lambda x: pd.Series(pd.array(np.where(np.isnan(x), None, np.nan_to_num(x, posinf=9, neginf=-9).round()), dtype="Int64")),
    lambda x: pd.Series(x.astype(object)),
], ids=["float64", "float32", "Float64", "int64", "bool", "Int64", "object"])
def test_one_pass_clean_and_sort_equals_filter_then_sort(make: object) -> None:
    series = make(_dirty(5000, 1))  # type: ignore[operator]
    before = series.copy()
    sample, missing = numerical_values(series, "x")
    raw = series.to_numpy(dtype=np.float64, na_value=np.nan)
    finite = np.isfinite(raw)
    np.testing.assert_array_equal(sample.values, np.sort(raw[finite]))  # the old path: mask, then sort
    assert missing == int((~finite).sum())
    pd.testing.assert_series_equal(series, before)  # sorting in place never touches the caller's data


def test_one_pass_never_reorders_a_float64_frame_column() -> None:
    x = _dirty(1000, 2)
    frame = pd.DataFrame({"x": x.copy()})
    numerical_values(frame["x"], "x")
    np.testing.assert_array_equal(frame["x"].to_numpy(), x)


@pytest.mark.parametrize("values", [[], [np.nan, np.nan], [np.inf, -np.inf], [np.inf, 1.0, np.nan, -np.inf, 0.5]])
def test_one_pass_edge_cases(values: list[float]) -> None:
    sample, missing = numerical_values(pd.Series(values, dtype=np.float64), "x")
    arr = np.asarray(values, dtype=np.float64)
    np.testing.assert_array_equal(sample.values, np.sort(arr[np.isfinite(arr)]))
    assert missing == int((~np.isfinite(arr)).sum())


# --- Wasserstein, ECDF gaps and the resampled null against SciPy ---------------------------------


@pytest.mark.parametrize(("n", "m"), [(1, 1), (1, 7), (7, 3), (40, 40), (100, 250), (70_001, 50_000), (40_000, 120_000)])
def test_wasserstein_pieces_equal_scipy(n: int, m: int) -> None:
    rng = np.random.default_rng(n + m)
    u, v = np.sort(rng.lognormal(size=n).round(2)), np.sort(rng.lognormal(0.2, size=m).round(2))
    expected = stats.wasserstein_distance(u, v)
    assert _w1_sorted(u, v) == pytest.approx(expected, rel=1e-12, abs=1e-15)
    assert _w1_sorted_int(u, v) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_wasserstein_with_a_stored_reference_std_equals_the_computed_one() -> None:
    rng = np.random.default_rng(3)
    ref, cur = rng.normal(size=3000), rng.normal(0.1, size=2000)
    assert wasserstein(ref, cur, reference_std=float(np.std(ref))).statistic == wasserstein(ref, cur).statistic


@pytest.mark.parametrize(("n", "m", "decimals"), [(30, 20, 1), (500, 800, 0), (40_000, 70_000, 2), (70_000, 40_000, 1)])
def test_ecdf_gaps_equal_scipy_one_sided_ks(n: int, m: int, decimals: int) -> None:
    rng = np.random.default_rng(n * m)
    u = np.sort(rng.normal(size=n).round(decimals))  # rounded: ties within and across the samples
    v = np.sort(rng.normal(0.05, size=m).round(decimals))
    below, above = ecdf_gaps(SortedSample.of(u), SortedSample.of(v))
    assert below == pytest.approx(stats.ks_2samp(u, v, alternative="greater", method="asymp").statistic, abs=1e-12)
    assert above == pytest.approx(stats.ks_2samp(u, v, alternative="less", method="asymp").statistic, abs=1e-12)
    assert max(below, above) == pytest.approx(stats.ks_2samp(u, v).statistic, abs=1e-12)


def test_kuiper_is_the_sum_of_scipys_one_sided_gaps() -> None:
    rng = np.random.default_rng(5)
    u, v = rng.normal(size=20_000).round(1), rng.normal(0.1, size=45_000).round(1)
    expected = (stats.ks_2samp(u, v, alternative="greater", method="asymp").statistic
                + stats.ks_2samp(u, v, alternative="less", method="asymp").statistic)
    assert kuiper(u, v).statistic == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(("points", "size"), [(1, 5), (10, 2048), (50, 30), (4096, 7), (4096, 2048)])
def test_resampled_null_by_counts_equals_scipy_per_row(points: int, size: int) -> None:
    rng = np.random.default_rng(points + size)
    support = np.sort(rng.lognormal(size=points).round(1))  # ties: zero-width steps
    idx = rng.integers(0, points, size=(37, size))  # not a multiple of the row block
    expected = [stats.wasserstein_distance(support, support[row]) for row in idx]
    np.testing.assert_allclose(_w1_resampled(support, idx), expected, rtol=1e-12, atol=1e-15)


# --- category counts: codes or one hash pass, with missing values and unseen categories ---------


def _labels(n: int, seed: int, k: int = 5, missing: float = 0.05) -> list[str | None]:
    rng = np.random.default_rng(seed)
    return [None if rng.random() < missing else f"c{int(v)}" for v in rng.integers(0, k, n)]


@pytest.mark.parametrize("dtype", ["str", "object", "category"])
def test_category_counts_equal_a_counter_with_missing_values(dtype: str) -> None:
    values = _labels(4000, 1)
    series = pd.Series(values, dtype=dtype)
    index, counts, missing = categorical_counts(series)
    expected = Counter(v for v in values if v is not None)
    assert dict(zip((str(c) for c in index), counts.tolist(), strict=True)) == dict(expected)
    assert missing == values.count(None)


@pytest.mark.parametrize("dtype", ["str", "object", "category"])
def test_check_aligns_unseen_categories_like_a_counter_and_scipy(dtype: str) -> None:
    ref_values = _labels(3000, 2, k=4)
    cur_values = _labels(2500, 3, k=6, missing=0.1)  # c4 and c5 are new in current
    ref = pd.DataFrame({"plan": pd.Series(ref_values, dtype=dtype)})
    cur = pd.DataFrame({"plan": pd.Series(cur_values, dtype=dtype)})
    profile = fit_profile(ref)
    assert isinstance(profile.columns["plan"], CategoricalProfile)
    result = check(profile, cur, CheckOptions(method=DriftMethod.CHI_SQUARE, compat=Compat.EVIDENTLY)).columns[0]
    rc, cc = Counter(v for v in ref_values if v is not None), Counter(v for v in cur_values if v is not None)
    categories = sorted(set(rc) | set(cc))
    table = np.array([[rc[c] for c in categories], [cc[c] for c in categories]])
    assert result.new_categories == ("c4", "c5")
    assert (result.n_current, result.missing_current) == (sum(cc.values()), cur_values.count(None))
    assert result.statistic == pytest.approx(stats.chi2_contingency(table, correction=False).statistic, rel=1e-12)
    js = check(profile, cur, CheckOptions(method=DriftMethod.JENSEN_SHANNON, compat=Compat.EVIDENTLY)).columns[0]
    assert js.statistic == pytest.approx(jensenshannon(table[0] / table[0].sum(), table[1] / table[1].sum()), rel=1e-9)


# --- typing on a bounded sample -------------------------------------------------------------------


def _evidently_type(series: pd.Series) -> str:
    from evidently.core.datasets import infer_column_type as evidently_infer

    return str(evidently_infer(series).value)


@pytest.mark.parametrize("series", [
    pd.Series(np.random.default_rng(1).integers(0, 8, 50_000)),
    pd.Series(np.random.default_rng(2).integers(0, 40, 50_000)),
    pd.Series(_labels(50_000, 3, k=20)),
    pd.Series([f"id{i % 26_000}" for i in range(50_000)], dtype="str"),  # 52% distinct: text
    pd.Series([f"id{i % 24_000}" for i in range(50_000)], dtype="str"),  # 48% distinct: categorical
], ids=["int-few", "int-many", "str-categorical", "str-text", "str-just-categorical"])
def test_typing_at_most_the_sample_size_is_evidentlys_rule(series: pd.Series) -> None:
    assert series.size <= TYPING_SAMPLE_ROWS
    ours = infer_column_type(series).type
    expected = {"num": ColumnType.NUMERICAL, "cat": ColumnType.CATEGORICAL, "text": None}[_evidently_type(series)]
    assert ours is expected


def test_the_typing_sample_is_evenly_spaced_and_bounded() -> None:
    series = pd.Series(np.arange(1_000_003))
    sample = typing_sample(series)
    assert sample.size == TYPING_SAMPLE_ROWS
    gaps = np.diff(sample.to_numpy())
    assert gaps.min() >= 10 and gaps.max() <= 11 and sample.iloc[0] == 0


def test_a_rare_eleventh_integer_outside_the_sample_still_makes_it_numerical() -> None:
    n = 3 * TYPING_SAMPLE_ROWS
    values = np.arange(n) % INT_CATEGORICAL_MAX_DISTINCT
    values[1] = 99  # row 1 is not among the evenly spaced sample rows (0, 3, 6, ...)
    series = pd.Series(values)
    assert typing_sample(series).nunique() == INT_CATEGORICAL_MAX_DISTINCT
    typing = infer_column_type(series)
    assert typing.type is ColumnType.NUMERICAL and "11 distinct values" in typing.reason
    assert infer_column_type(pd.Series(np.arange(n) % INT_CATEGORICAL_MAX_DISTINCT)).type is ColumnType.CATEGORICAL


def test_above_the_sample_size_the_text_test_reads_the_sample() -> None:
    n = 4 * TYPING_SAMPLE_ROWS
    # 80,000 equally likely values: the whole column is 20% distinct, the 100,000-row sample ~57%.
    codes = np.random.default_rng(7).integers(0, 80_000, n)
    series = pd.Series(np.array([f"u{i}" for i in range(80_000)], dtype=object)[codes], dtype="str")
    typing = infer_column_type(series)
    assert typing.type is None and f"in a sample of {TYPING_SAMPLE_ROWS} rows" in typing.reason
    assert series.nunique() * 2 < n  # the whole-column rule would have called it categorical
    few = pd.Series([f"c{i % 300}" for i in range(n)], dtype="str")
    assert infer_column_type(few).type is ColumnType.CATEGORICAL


# --- one BLAS thread while the pool runs ----------------------------------------------------------


def _blas_threads() -> list[int]:
    return [int(i["num_threads"]) for i in threadpool_info() if i["user_api"] == "blas"]


def test_blas_is_one_thread_inside_nested_and_restored_after() -> None:
    before = _blas_threads()
    assert before, "no BLAS library loaded"
    seen: list[list[int]] = []
    with single_blas_thread():
        with single_blas_thread():  # re-entrant: the inner exit must not lift the limit
            seen.append(_blas_threads())
        seen.append(_blas_threads())
    assert seen == [[1] * len(before), [1] * len(before)]
    assert _blas_threads() == before


def test_a_check_on_another_thread_leaves_blas_alone() -> None:
    # OpenBLAS ignores thread counts set from other threads (limit and restore alike), so there
    # the check must not touch them: a limit it could not lift would outlive it.
    before = _blas_threads()
    seen: list[list[int]] = []

    def run() -> None:
        with single_blas_thread():
            seen.append(_blas_threads())

    worker = threading.Thread(target=run)
    worker.start()
    worker.join()
    assert seen == [before] and _blas_threads() == before


def test_the_check_holds_blas_to_one_thread_while_it_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    from monitor.stats import check as check_module

    seen: list[list[int]] = []
    real = check_module._column

    def spy(*args: object, **kwargs: object) -> object:
        seen.append(_blas_threads())
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(check_module, "_column", spy)
    before = _blas_threads()
    frame = pd.DataFrame({"x": np.arange(3000.0), "y": np.arange(3000.0) % 7})
    check(fit_profile(frame), frame)
    assert seen and all(s == [1] * len(before) for s in seen)
    assert _blas_threads() == before


# --- quantile edges: atoms found by binary search -------------------------------------------------


@pytest.mark.parametrize("kind", ["normal", "zero_inflated", "two_atoms", "few_values", "atom_at_the_top"])
@pytest.mark.parametrize("n_bins", [4, 10])
def test_quantile_edges_equal_atoms_by_unique_plus_numpy_quantiles(kind: str, n_bins: int) -> None:
    from monitor.stats.binning import quantile_edges

    rng = np.random.default_rng(len(kind) * n_bins)
    n = 20_011
    x = {
        "normal": rng.normal(size=n),
        "zero_inflated": np.where(rng.random(n) < 0.8, 0.0, rng.lognormal(size=n)),
        "two_atoms": np.where(rng.random(n) < 0.3, -1.0, np.where(rng.random(n) < 0.3, 5.0, rng.normal(size=n))),
        "few_values": rng.integers(0, 2 * n_bins, n).astype(float),
        "atom_at_the_top": np.where(rng.random(n) < 0.15, 99.0, rng.normal(size=n)),
    }[kind]
    values, counts = np.unique(x, return_counts=True)  # the oracle: every value counted
    atom = counts * n_bins >= n if values.size > 2 * n_bins else np.ones(values.size, dtype=bool)
    expected = [values[atom], np.nextafter(values[atom], np.inf)]
    rest_bins = n_bins - int(atom.sum())
    if not atom.all() and rest_bins >= 1:
        rest = np.sort(x[~np.isin(x, values[atom])])
        expected.append(np.quantile(rest, np.linspace(0.0, 1.0, rest_bins + 1)[1:-1]))
    np.testing.assert_allclose(quantile_edges(SortedSample.of(x), n_bins), np.unique(np.concatenate(expected)),
                               rtol=1e-12)
