"""Embedding columns (monitor.stats.embedding): reading cells, the PCA, MMD, a cluster shift, the null, the CLI.

Oracles: scikit-learn's ``PCA`` for the projection and the variance kept; the exact (O(n²))
Gaussian-kernel MMD² for the random-feature estimate; the permutation p-value's definition.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from scipy.spatial.distance import cdist
from sklearn.decomposition import PCA

from monitor.cli import main
from monitor.errors import InputError
from monitor.stats.check import CheckOptions, ColumnOptions, check
from monitor.stats.embedding import MAX_DIM, embedding_matrix, fit_embedding, mmd_permutation
from monitor.stats.profile import fit_profile, profile_from_bytes, profile_to_bytes
from monitor.stats.types import ColumnType, DriftMethod

EMB = {"v": ColumnType.EMBEDDING}
DIM = 24


def clusters(n: int, rng: np.random.Generator, weights: tuple[float, ...] = (0.5, 0.3, 0.2),
             shift: float = 0.0) -> np.ndarray:
    """``n`` vectors from three Gaussian clusters in ``DIM`` dimensions (fixed centres); ``shift`` moves cluster 0."""
    centres = np.random.default_rng(99).normal(0.0, 2.0, size=(3, DIM))
    centres[0] += shift
    which = rng.choice(3, size=n, p=np.asarray(weights) / sum(weights))
    out: np.ndarray = centres[which] + rng.normal(0.0, 1.0, size=(n, DIM))
    return out


def frame(matrix: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"v": list(matrix.astype(np.float32))})


def test_cells_are_read_from_lists_arrays_and_json_text() -> None:
    series = pd.Series([[1, 2, 3], np.array([4.0, 5.0, 6.0]), "[7, 8, 9.5]", None, float("nan"), [1.0, np.nan, 2.0]])
    matrix, missing, dim = embedding_matrix(series, "v", 3)
    assert matrix.tolist() == [[1, 2, 3], [4, 5, 6], [7, 8, 9.5]] and missing == 3 and dim == 3
    assert embedding_matrix(pd.Series(["[1, 2]", "[3, 4]"]), "v", None)[2] == 2


def test_a_column_of_float32_vectors_reads_as_the_same_cells_as_lists() -> None:
    """The store's cells (float32 arrays, None, NaN) take a one-stack path; the list path is the oracle."""
    vectors = np.random.default_rng(8).normal(size=(50, 4)).astype(np.float32)
    cells: list[object] = list(vectors)
    cells[3], cells[9] = None, float("nan")
    cells[11] = np.array([1.0, np.inf, 0.0, 0.0], dtype=np.float32)  # a non-finite vector is missing
    fast = embedding_matrix(pd.Series(cells, dtype=object), "v", 4)
    lists = embedding_matrix(pd.Series([c.tolist() if isinstance(c, np.ndarray) else c for c in cells],
                                       dtype=object), "v", 4)
    assert fast[0].dtype == np.float64 and fast[1:] == lists[1:] == (3, 4)
    np.testing.assert_array_equal(fast[0], lists[0])
    assert embedding_matrix(pd.Series(cells, dtype=object), "v", None)[2] == 4  # dim from the vectors
    ragged = pd.Series([np.zeros(4, np.float32), np.zeros(3, np.float32)], dtype=object)
    with pytest.raises(InputError, match="row 1: 3 values"):
        embedding_matrix(ragged, "v", 4)
    with pytest.raises(InputError, match="row 0: 4 values; the embedding has dim 5"):
        embedding_matrix(pd.Series(list(vectors), dtype=object), "v", 5)


@pytest.mark.parametrize(("cells", "message", "row"), [
    (["[1, 2]", "[1, 2, 3]"], r"column 'v' row 1: 3 values; the embedding has dim 2", 1),
    ([[1, 2], "oops"], r"column 'v' row 1: not an array \('oops'\)", 1),
    ([[1, 2], [[1, 2], [3, 4]]], r"column 'v' row 1: the embedding holds a value that is not a number", 1),
    ([None, [1, "x"]], r"column 'v' row 1: the embedding holds a value that is not a number", 1),
])
def test_bad_cells_name_the_column_and_row(cells: list[object], message: str, row: int) -> None:
    with pytest.raises(InputError, match=message) as err:
        embedding_matrix(pd.Series(cells, dtype=object), "v", 2)
    assert err.value.row == row and err.value.field == "v"


def test_the_dimension_is_bounded() -> None:
    with pytest.raises(InputError, match=f"1 to {MAX_DIM}"):
        embedding_matrix(pd.Series([[0.0] * (MAX_DIM + 1)]), "v", None)


def test_the_pca_is_scikit_learns_and_reports_the_variance_kept() -> None:
    rng = np.random.default_rng(0)
    x = clusters(3000, rng)
    profile = fit_embedding(pd.Series(list(x)), "v", "declared", DIM)
    k = profile.components.shape[0]
    sample = x[np.isin(np.arange(3000), np.arange(3000))]  # every row (max_rows 5,000)
    oracle = PCA(n_components=DIM).fit(sample)
    cum = np.cumsum(oracle.explained_variance_ratio_)
    assert k == int(np.searchsorted(cum, 0.9) + 1)
    assert profile.explained == pytest.approx(cum[k - 1])
    # Same axes up to sign.
    dots = np.abs(np.einsum("ij,ij->i", profile.components, oracle.components_[:k]))
    assert np.allclose(dots, 1.0, atol=1e-6)


def test_random_feature_mmd_estimates_the_exact_kernel_mmd() -> None:
    rng = np.random.default_rng(1)
    a, b = rng.normal(0, 1, (400, 3)), rng.normal(0.7, 1, (300, 3))
    sigma = 1.5

    def k(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        return np.exp(-cdist(x, y, "sqeuclidean") / (2 * sigma**2))

    exact = k(a, a).mean() + k(b, b).mean() - 2 * k(a, b).mean()  # the V-statistic, O(n²)
    estimates = [mmd_permutation(a, b, sigma, permutations=20, rng=np.random.default_rng(s))[0] for s in range(20)]
    assert np.mean(estimates) == pytest.approx(exact, rel=0.15)
    statistic, draws = mmd_permutation(a, b, sigma, permutations=99, rng=np.random.default_rng(0))
    assert np.all(np.diff(draws) >= 0) and statistic > draws[-1]


@pytest.mark.parametrize("method", [DriftMethod.EMBEDDING_MMD, DriftMethod.EMBEDDING_CLASSIFIER])
def test_a_cluster_shift_is_found_and_a_fresh_sample_is_not(method: DriftMethod) -> None:
    rng = np.random.default_rng(7)
    profile = fit_profile(frame(clusters(3000, rng)), types=EMB)
    options = CheckOptions(columns={"v": ColumnOptions(method=method)})
    fresh = check(profile, frame(clusters(1000, rng)), options).columns[0]
    moved = check(profile, frame(clusters(1000, rng, weights=(0.2, 0.3, 0.5))), options).columns[0]
    assert fresh.method is method and moved.method is method
    assert not fresh.drifted and moved.drifted, (fresh, moved)
    assert moved.p_value is not None and moved.p_value < 0.01
    assert "PCA on the reference" in moved.reason and "of the variance kept" in moved.reason


@pytest.mark.parametrize("seed", range(2))
def test_identical_samples_never_drift_and_row_order_does_not_matter(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ref = frame(clusters(800, rng))
    profile = fit_profile(ref, types=EMB)
    same = check(profile, ref).columns[0]
    assert same.status.value == "ok" and not same.drifted and same.p_value == pytest.approx(1.0, abs=0.05)
    shuffled = ref.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    cur = frame(clusters(400, rng, shift=0.3))
    assert check(profile, shuffled).columns == check(profile, ref).columns
    assert check(fit_profile(shuffled, types=EMB), cur).columns == check(profile, cur).columns
    assert check(profile, cur.iloc[::-1].reset_index(drop=True)).columns == check(profile, cur).columns


def test_the_profile_round_trips_through_its_bytes() -> None:
    rng = np.random.default_rng(3)
    profile = fit_profile(frame(clusters(500, rng)), types=EMB)
    back = profile_from_bytes(profile_to_bytes(profile))
    cur = frame(clusters(300, rng, shift=0.5))
    assert check(back, cur).columns == check(profile, cur).columns


def test_false_alarm_rate_of_mmd_on_stationary_vectors_is_within_budget() -> None:
    """60 stationary pairs with the effect floor off: permutation ``p < 0.05`` not significantly above 5%."""
    draws, alarms = 60, 0
    opts = CheckOptions(columns={"v": ColumnOptions(effect_floor=0.0)})
    for seed in range(draws):
        rng = np.random.default_rng(2000 + seed)
        profile = fit_profile(frame(clusters(400, rng)), types=EMB)
        r = check(profile, frame(clusters(200, rng)), opts).columns[0]
        assert r.p_value is not None
        alarms += r.p_value < 0.05
    lower = 0.0 if alarms == 0 else float(stats.beta.ppf(0.005, alarms, draws - alarms + 1))
    assert lower <= 0.05, f"{alarms}/{draws}"
    print(f"stationary embeddings: mmd p<0.05 in {alarms}/{draws}")


def test_the_cli_reads_parquet_list_columns_and_json_arrays_in_csv(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(4)
    ref, cur = clusters(600, rng), clusters(300, rng, weights=(0.1, 0.1, 0.8))
    (tmp_path / "s.yaml").write_text(f"columns:\n  v: {{type: embedding, dim: {DIM}}}\n")
    pd.DataFrame({"v": list(ref)}).to_parquet(tmp_path / "r.parquet")
    pd.DataFrame({"v": list(cur)}).to_parquet(tmp_path / "c.parquet")
    for name, m in (("r.csv", ref), ("c.csv", cur)):
        pd.DataFrame({"v": [json.dumps(row.tolist()) for row in m]}).to_csv(tmp_path / name, index=False)
    outputs = []
    for r, c in (("r.parquet", "c.parquet"), ("r.csv", "c.csv")):
        code = main(["check", str(tmp_path / r), str(tmp_path / c), "--schema", str(tmp_path / "s.yaml"),
                     "--format", "json", "--fail-on-drift"])
        outputs.append(json.loads(capsys.readouterr().out)["columns"][0])
        assert code == 1
    assert outputs[0]["method"] == "embedding_mmd" and outputs[0]["type"] == "embedding" and outputs[0]["drifted"]
    assert outputs[0]["statistic"] == pytest.approx(outputs[1]["statistic"], rel=1e-9)
    # A vector of the wrong length: the column is not tested, with the reason naming its row (as a
    # numerical column holding text), and --fail-on-drift does not pass a check that tested nothing.
    pd.DataFrame({"v": [json.dumps([1.0, 2.0])] * 5}).to_csv(tmp_path / "bad.csv", index=False)
    code = main(["check", str(tmp_path / "r.csv"), str(tmp_path / "bad.csv"), "--schema", str(tmp_path / "s.yaml"),
                 "--format", "json", "--fail-on-drift"])
    bad = json.loads(capsys.readouterr().out)["columns"][0]
    assert code != 0 and bad["status"] == "not_testable"
    assert bad["reason"] == f"column 'v' row 0: 2 values; the embedding has dim {DIM}"
