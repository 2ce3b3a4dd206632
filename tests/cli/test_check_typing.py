"""`driftline check` types that survive CSV: integer codes, datetimes, partial schemas, warnings.

CSV carries no types: the same categorical reads as text from Parquet, as integers from a CSV,
and as floats once a value is missing. These tests put such pairs of files through the command
and check the categories it compares against counts computed independently with pandas and
SciPy's contingency test.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from monitor.cli import main
from monitor.schema import DATETIME_REASON


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, dict[str, dict[str, object]], str]:
    code = main(["check", *argv, "--format", "json"])
    captured = capsys.readouterr()
    doc = json.loads(captured.out)
    return code, {c["column"]: c for c in doc["columns"]}, captured.err


def _write_schema(tmp_path: Path, text: str) -> str:
    path = tmp_path / "schema.yaml"
    path.write_text(text)
    return str(path)


def test_integer_codes_declared_categorical_are_the_same_categories_on_both_sides(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(7)
    ref_codes = rng.choice([1, 2, 3], 600, p=[0.5, 0.3, 0.2])
    cur_codes = rng.choice([1, 2, 3], 500, p=[0.4, 0.3, 0.3]).astype(float)
    cur_codes[:25] = np.nan  # one missing value turns a CSV column into floats: 1.0, 2.0, 3.0
    # Reference from Parquet as text ("1", "2", "3"), current from CSV (read back as floats).
    pd.DataFrame({"plan": ref_codes.astype(str)}).to_parquet(tmp_path / "ref.parquet")
    pd.DataFrame({"plan": cur_codes}).to_csv(tmp_path / "cur.csv", index=False)
    assert pd.read_csv(tmp_path / "cur.csv")["plan"].dtype == np.float64
    schema = _write_schema(tmp_path, "columns:\n  plan: {type: categorical, method: chi_square}\n")

    code, cols, _ = _run(capsys, str(tmp_path / "ref.parquet"), str(tmp_path / "cur.csv"), "--schema", schema,
                         "--compat", "evidently")
    assert code == 0
    plan = cols["plan"]
    assert plan["status"] == "ok" and plan["type"] == "categorical" and plan["new_categories"] == []
    assert (plan["n_reference"], plan["n_current"], plan["missing_current"]) == (600, 475, 25)
    # Oracle: SciPy's test of independence on counts taken straight from the codes.
    ref_counts = pd.Series(ref_codes).value_counts().sort_index()
    cur_counts = pd.Series(cur_codes).dropna().astype(int).value_counts().sort_index()
    expected = stats.chi2_contingency(np.vstack([ref_counts.to_numpy(), cur_counts.to_numpy()]), correction=False)
    assert plan["statistic"] == pytest.approx(float(expected.statistic), rel=1e-9)
    assert plan["p_value"] == pytest.approx(float(expected.pvalue), rel=1e-9)


def test_integer_codes_from_two_csv_files_are_reported_as_text_categories(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Reference codes read as int64, current codes as float64 (a missing value): new ones named "4".
    pd.DataFrame({"plan": [1, 2, 3] * 100}).to_csv(tmp_path / "ref.csv", index=False)
    pd.DataFrame({"plan": [1.0, 2.0, 3.0, 4.0, None] * 60}).to_csv(tmp_path / "cur.csv", index=False)
    schema = _write_schema(tmp_path, "columns:\n  plan: categorical\n")
    _, cols, _ = _run(capsys, str(tmp_path / "ref.csv"), str(tmp_path / "cur.csv"), "--schema", schema)
    assert cols["plan"]["new_categories"] == ["4"]
    assert cols["plan"]["missing_current"] == 60 and cols["plan"]["n_current"] == 240


def test_a_declared_datetime_column_is_not_testable_and_not_counted(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    days = pd.date_range("2024-01-01", periods=300, freq="D").strftime("%Y-%m-%d")
    rng = np.random.default_rng(3)
    pd.DataFrame({"signup": days, "age": rng.normal(40, 5, 300)}).to_csv(tmp_path / "ref.csv", index=False)
    pd.DataFrame({"signup": days[::-1], "age": rng.normal(40, 5, 300)}).to_csv(tmp_path / "cur.csv", index=False)
    schema = _write_schema(tmp_path, "columns:\n  signup: datetime\n")
    code, cols, _ = _run(capsys, str(tmp_path / "ref.csv"), str(tmp_path / "cur.csv"), "--schema", schema)
    assert code == 0
    assert (cols["signup"]["status"], cols["signup"]["reason"], cols["signup"]["method"]) == (
        "not_testable", DATETIME_REASON, None)
    assert cols["age"]["status"] == "ok"  # the unlisted column is inferred and tested


def test_a_datetime_column_takes_no_method(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pd.DataFrame({"signup": ["2024-01-01"] * 10}).to_csv(tmp_path / "f.csv", index=False)
    schema = _write_schema(tmp_path, "columns:\n  signup: {type: datetime, method: ks}\n")
    assert main(["check", str(tmp_path / "f.csv"), str(tmp_path / "f.csv"), "--schema", schema]) == 2
    assert "columns.signup.method: a datetime column is not tested" in capsys.readouterr().err


def test_a_schema_listing_3_of_6_columns_tests_all_6_with_its_types_overriding(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(11)
    n = 400

    def frame() -> pd.DataFrame:
        return pd.DataFrame({
            "age": rng.normal(40, 10, n), "income": rng.lognormal(10, 1, n), "plan": rng.choice(["a", "b"], n),
            "stars": rng.integers(1, 6, n),  # 5 integer values: inferred categorical
            "region": rng.choice(["n", "s", "e"], n), "score": rng.uniform(0, 1, n),
        })

    frame().to_csv(tmp_path / "ref.csv", index=False)
    frame().to_csv(tmp_path / "cur.csv", index=False)
    schema = _write_schema(tmp_path, "columns:\n  age: numerical\n  stars: numerical\n"
                                     "  plan: {type: categorical, method: psi}\n")
    _, cols, _ = _run(capsys, str(tmp_path / "ref.csv"), str(tmp_path / "cur.csv"), "--schema", schema)
    assert list(cols) == ["age", "income", "plan", "stars", "region", "score"]  # the file's order
    assert {c: cols[c]["type"] for c in cols} == {
        "age": "numerical", "income": "numerical", "plan": "categorical",
        "stars": "numerical",  # declared: overrides the inferred categorical
        "region": "categorical", "score": "numerical"}
    assert all(c["status"] == "ok" for c in cols.values()) and cols["plan"]["method"] == "psi"


@pytest.mark.parametrize("declared", [False, True], ids=["undeclared", "declared-numerical"])
def test_low_cardinality_integers_tested_as_numbers_draw_a_warning(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], declared: bool) -> None:
    rng = np.random.default_rng(5)
    codes = rng.integers(1, 8, 500).astype(float)
    codes[::50] = np.nan  # CSV reads the column as float64: inferred numerical
    pd.DataFrame({"rating": codes, "x": rng.normal(0, 1, 500)}).to_csv(tmp_path / "ref.csv", index=False)
    args = [str(tmp_path / "ref.csv"), str(tmp_path / "ref.csv")]
    if declared:
        args += ["--schema", _write_schema(tmp_path, "columns:\n  rating: numerical\n")]
    _, cols, err = _run(capsys, *args)
    assert cols["rating"]["type"] == "numerical"
    warning = ("column rating has 7 distinct integer values; if they are codes, declare it categorical "
               "in a --schema file")
    assert (warning in err) is not declared
    assert "column x" not in err  # continuous values are not codes


def test_an_undeclared_integer_column_with_many_values_draws_no_warning(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pd.DataFrame({"n": np.arange(500) % 21}).to_csv(tmp_path / "ref.csv", index=False)  # 21 values
    _, cols, err = _run(capsys, str(tmp_path / "ref.csv"), str(tmp_path / "ref.csv"))
    assert cols["n"]["type"] == "numerical" and "distinct integer values" not in err
