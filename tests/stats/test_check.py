"""The column-by-column check: method choice, data quality, bad columns, correction, verdict."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitor.errors import ConfigError
from monitor.stats.check import CheckOptions, ColumnOptions, Status, check
from monitor.stats.correction import Correction, adjust_p_values
from monitor.stats.profile import fit_profile
from monitor.stats.types import Compat, DriftMethod


def _run(ref: pd.DataFrame, cur: pd.DataFrame, **kw: object) -> dict[str, object]:
    result = check(fit_profile(ref), cur, CheckOptions(**kw))  # type: ignore[arg-type]
    return {c.column: c for c in result.columns}


@pytest.mark.parametrize(
    ("n", "values", "expected"),
    [
        (500, lambda r, n: r.normal(size=n), DriftMethod.KS),
        (500, lambda r, n: r.integers(0, 4, n).astype(float), DriftMethod.CHI_SQUARE),
        (500, lambda r, n: r.integers(0, 2, n).astype(float), DriftMethod.Z_TEST),
        (5000, lambda r, n: r.normal(size=n), DriftMethod.WASSERSTEIN),
        (5000, lambda r, n: r.integers(0, 5, n).astype(float), DriftMethod.JENSEN_SHANNON),
        (500, lambda r, n: r.choice(["a", "b", "c"], n), DriftMethod.CHI_SQUARE),
        (500, lambda r, n: r.choice(["a", "b"], n), DriftMethod.Z_TEST),
        (5000, lambda r, n: r.choice(["a", "b", "c"], n), DriftMethod.JENSEN_SHANNON),
    ],
    ids=["small-num", "small-few", "small-binary", "large-num", "large-few", "small-cat", "small-bin-cat",
         "large-cat"],
)
def test_automatic_choice_follows_evidentlys_table(n: int, values, expected: DriftMethod) -> None:  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(3)
    res = _run(pd.DataFrame({"x": values(rng, n)}), pd.DataFrame({"x": values(rng, n)}), compat=Compat.EVIDENTLY)["x"]
    assert res.method is expected and res.status is Status.OK  # type: ignore[attr-defined]
    assert str(expected) in res.reason  # type: ignore[attr-defined]


def test_a_column_empty_on_one_side_is_not_testable_and_the_rest_is_tested() -> None:
    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    cur = pd.DataFrame({"a": np.full(300, np.nan), "b": rng.normal(size=300)})
    res = _run(ref, cur)
    assert res["a"].status is Status.NOT_TESTABLE and "no finite values in the current" in res["a"].reason  # type: ignore[attr-defined]
    assert res["a"].missing_current == 300 and res["a"].missing_drifted  # type: ignore[attr-defined]
    assert res["b"].status is Status.OK  # type: ignore[attr-defined]


def test_a_column_of_garbage_or_absent_is_not_testable() -> None:
    ref = pd.DataFrame({"a": np.arange(100.0), "b": np.arange(100.0)})
    cur = pd.DataFrame({"a": ["x"] * 100})
    result = check(fit_profile(ref), cur)
    by = {c.column: c for c in result.columns}
    assert by["a"].status is Status.NOT_TESTABLE and "'a'" in by["a"].reason
    assert by["b"].status is Status.NOT_TESTABLE and "missing from the current" in by["b"].reason
    assert result.total_columns == 0 and not result.dataset_drift


def test_missing_rate_change_is_tested_on_its_own() -> None:
    rng = np.random.default_rng(2)
    ref_x, cur_x = rng.normal(size=2000), rng.normal(size=2000)
    ref_x[:20] = np.nan
    cur_x[:400] = np.nan
    res = _run(pd.DataFrame({"x": ref_x}), pd.DataFrame({"x": cur_x}))["x"]
    assert res.missing_reference == 20 and res.missing_current == 400  # type: ignore[attr-defined]
    assert res.missing_drifted and res.missing_p_value < 1e-10  # type: ignore[attr-defined]
    assert res.n_current == 1600  # type: ignore[attr-defined]


def test_new_categories_and_out_of_range_values_are_reported() -> None:
    ref = pd.DataFrame({"c": ["a", "b"] * 100, "x": np.linspace(0, 1, 200)})
    cur = pd.DataFrame({"c": ["a", "b", "zz", "yy"] * 50, "x": np.linspace(0.5, 1.5, 200)})
    res = _run(ref, cur)
    assert res["c"].new_categories == ("yy", "zz")  # type: ignore[attr-defined]
    assert res["x"].out_of_range_current == int((np.linspace(0.5, 1.5, 200) > 1).sum())  # type: ignore[attr-defined]


def test_zero_inflated_move_is_seen_by_binned_methods() -> None:
    rng = np.random.default_rng(5)
    n = 20_000
    ref = np.where(rng.random(n) < 0.9, 0.0, rng.lognormal(0, 0.5, n))
    cur = np.where(rng.random(n) < 0.9, 0.0, rng.lognormal(1.5, 0.5, n))
    for method in (DriftMethod.PSI, DriftMethod.JENSEN_SHANNON, DriftMethod.HELLINGER, DriftMethod.KL_DIV):
        res = _run(pd.DataFrame({"x": ref}), pd.DataFrame({"x": cur}), method=method)["x"]
        assert res.drifted, method  # type: ignore[attr-defined]


def test_method_that_does_not_fit_the_column_type_is_refused_by_name() -> None:
    ref = pd.DataFrame({"plan": ["a", "b"] * 50})
    with pytest.raises(ConfigError, match="ks does not apply to categorical column 'plan'"):
        check(fit_profile(ref), ref, CheckOptions(method=DriftMethod.KS))
    with pytest.raises(ConfigError, match="'nope'"):
        check(fit_profile(ref), ref, CheckOptions(columns={"nope": ColumnOptions(method=DriftMethod.PSI)}))


def test_correction_adjusts_p_values_and_verdicts() -> None:
    rng = np.random.default_rng(11)
    ref = pd.DataFrame({f"x{i}": rng.normal(size=200) for i in range(8)})
    cur = pd.DataFrame({f"x{i}": rng.normal(0.25 * (i % 3), size=200) for i in range(8)})
    plain = check(fit_profile(ref), cur, CheckOptions(compat=Compat.EVIDENTLY))
    holm = check(fit_profile(ref), cur, CheckOptions(correction=Correction.HOLM, compat=Compat.EVIDENTLY))
    raw = [c.p_value for c in plain.columns]
    expected = adjust_p_values(raw, Correction.HOLM)
    assert [c.adjusted_p_value for c in holm.columns] == pytest.approx(expected.tolist())
    assert [c.drifted for c in holm.columns] == [bool(p <= 0.05) for p in expected]
    assert holm.drifted_columns <= plain.drifted_columns


def test_dataset_verdict_at_the_share_boundary() -> None:
    rng = np.random.default_rng(4)
    ref = pd.DataFrame({"a": rng.normal(size=300), "b": rng.normal(size=300)})
    cur = pd.DataFrame({"a": rng.normal(5, size=300), "b": ref["b"].to_numpy()})
    result = check(fit_profile(ref), cur, CheckOptions(drift_share=0.5))
    assert result.drifted_columns == 1 and result.total_columns == 2 and result.drift_share == 0.5
    assert result.dataset_drift


def test_row_order_does_not_change_the_result() -> None:
    rng = np.random.default_rng(9)
    ref = pd.DataFrame({"x": rng.normal(size=3000), "c": rng.choice(list("abcd"), 3000)})
    cur = pd.DataFrame({"x": rng.normal(0.1, size=3000), "c": rng.choice(list("abcd"), 3000)})
    a = check(fit_profile(ref), cur)
    b = check(fit_profile(ref.sample(frac=1, random_state=1)), cur.sample(frac=1, random_state=2))
    for x, y in zip(a.columns, b.columns, strict=True):
        assert x.statistic == pytest.approx(y.statistic, rel=1e-12) and x.drifted == y.drifted


def test_single_and_multi_threaded_checks_agree() -> None:
    rng = np.random.default_rng(8)
    ref = pd.DataFrame({f"x{i}": rng.normal(size=2000) for i in range(6)})
    cur = pd.DataFrame({f"x{i}": rng.normal(0.05 * i, size=2000) for i in range(6)})
    assert check(fit_profile(ref), cur, workers=1) == check(fit_profile(ref), cur, workers=2)
