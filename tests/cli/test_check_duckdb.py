"""`driftline check --engine duckdb`: the current file aggregated by DuckDB, the same verdicts as pandas.

The oracle is the same command with the default engine on the same files: equal verdicts and
methods, exact statistics (categorical, few-distinct, histogram) to 1e-12, bounded ones (KS,
Wasserstein) within their stated bound. Bad uses exit 2 naming the option.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from monitor.cli import EXIT_INCOMPLETE, main


def _frame(n: int, shift: float, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(shift, 1.0, n)
    x[rng.random(n) < 0.03] = np.nan
    return pd.DataFrame({
        "x": x,
        "zero": np.where(rng.random(n) < 0.5, 0.0, rng.exponential(1.0 + shift, n)),
        "plan": rng.choice(["basic", "gold", "pro"], n, p=[0.6 - shift / 4, 0.3, 0.1 + shift / 4]),
        "code": rng.integers(0, 3, n),
        "flag": rng.random(n) < 0.3,
    })


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, Any]:
    assert main(argv) == 0
    out: dict[str, Any] = json.loads(capsys.readouterr().out)
    return out


@pytest.mark.parametrize("suffix", ["csv", "parquet"])
@pytest.mark.parametrize("shift", [0.0, 0.4])
def test_duckdb_engine_gives_the_pandas_verdicts(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                 suffix: str, shift: float) -> None:
    ref, cur = tmp_path / f"ref.{suffix}", tmp_path / f"cur.{suffix}"
    for path, frame in ((ref, _frame(30_000, 0.0, 1)), (cur, _frame(25_000, shift, 2))):
        frame.to_csv(path, index=False) if suffix == "csv" else frame.to_parquet(path, index=False)
    rows = _json(capsys, ["check", str(ref), str(cur), "--format", "json"])
    duck = _json(capsys, ["check", str(ref), str(cur), "--format", "json", "--engine", "duckdb"])
    assert duck["dataset"] == rows["dataset"]
    assert duck["dataset"]["dataset_drift"] is (shift > 0)
    for a, b in zip(duck["columns"], rows["columns"], strict=True):
        assert (a["column"], a["method"], a["drifted"], a["n_current"], a["missing_current"]) == (
            b["column"], b["method"], b["drifted"], b["n_current"], b["missing_current"])
        if a["basis"] == "bounded":
            assert abs(a["statistic"] - b["statistic"]) <= a["statistic_error_bound"] + 1e-12, a["column"]
        else:
            assert a["basis"] in ("aggregates", "rows")
            assert a["statistic"] == pytest.approx(b["statistic"], rel=1e-12, abs=1e-12), a["column"]
    assert {c["column"]: c["basis"] for c in duck["columns"]}["plan"] == "aggregates"
    assert duck["sampled"] is None


def test_duckdb_engine_samples_undecided_columns_above_max_rows(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    _frame(20_000, 0.0, 1)[["x"]].to_csv(tmp_path / "ref.csv", index=False)
    _frame(20_000, 0.0, 3)[["x"]].to_csv(tmp_path / "cur.csv", index=False)
    argv = ["check", str(tmp_path / "ref.csv"), str(tmp_path / "cur.csv"), "--format", "json", "--engine",
            "duckdb", "--method", "anderson", "--max-rows", "5000"]
    first = _json(capsys, argv)
    x = next(c for c in first["columns"] if c["column"] == "x")
    assert x["basis"] == "sample" and first["sampled"]["current"] == {"rows": 5000, "of": 20_000}
    assert _json(capsys, argv)["columns"] == first["columns"]  # seeded


def test_duckdb_engine_refuses_what_needs_rows_and_reports_missing_columns(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _frame(2_000, 0.0, 1).to_csv(tmp_path / "ref.csv", index=False)
    _frame(2_000, 0.0, 2).drop(columns=["zero"]).to_csv(tmp_path / "cur.csv", index=False)
    ref, cur = str(tmp_path / "ref.csv"), str(tmp_path / "cur.csv")
    assert main(["check", ref, cur, "--engine", "duckdb", "--task", "regression", "--target", "x",
                 "--prediction", "zero"]) == 2
    assert "--engine" in capsys.readouterr().err
    assert main(["check", ref, cur, "--engine", "duckdb", "--fail-on-drift"]) == EXIT_INCOMPLETE
    assert "zero" in capsys.readouterr().err
    assert main(["check", ref, str(tmp_path / "none-*.csv"), "--engine", "duckdb"]) == 2
    assert "no file matches" in capsys.readouterr().err
