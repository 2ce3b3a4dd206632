"""`driftline check`: both output formats, the JSON contract, exit codes and one-line errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitor.cli import main

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
COLUMN_KEYS = {
    "column", "type", "method", "reason", "statistic", "p_value", "adjusted_p_value", "threshold",
    "drifted", "status", "n_reference", "n_current", "missing_reference", "missing_current",
    "missing_p_value", "missing_drifted", "effect", "effect_floor", "null_threshold", "alpha", "rule",
    "statistic_error_bound", "basis",
}


@pytest.fixture()
def files(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    ref = pd.DataFrame({"age": rng.normal(40, 10, 400), "plan": rng.choice(["a", "b", "c"], 400)})
    cur = pd.DataFrame({"age": rng.normal(55, 10, 400), "plan": rng.choice(["a", "b", "c", "d"], 400)})
    ref.to_parquet(tmp_path / "ref.parquet")
    cur.to_csv(tmp_path / "cur.csv", index=False)
    return tmp_path / "ref.parquet", tmp_path / "cur.csv"


def test_json_output_is_the_documented_contract(files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    # Evidently's automatic choice (ks at 400 rows) is the evidently compatibility mode's promise.
    assert main(["check", str(files[0]), str(files[1]), "--format", "json", "--compat", "evidently"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert set(doc["dataset"]) == {"drift_share", "drifted_columns", "total_columns", "dataset_drift",
                                   "threshold", "correction", "compat", "min_features", "counted_columns"}
    cols = {c["column"]: c for c in doc["columns"]}
    assert COLUMN_KEYS | {"out_of_range_current"} == set(cols["age"])
    assert COLUMN_KEYS | {"new_categories"} == set(cols["plan"])
    assert cols["age"]["method"] == "ks" and cols["age"]["drifted"] is True
    assert cols["plan"]["new_categories"] == ["d"]
    assert doc["dataset"]["dataset_drift"] is True


def test_fail_on_drift_exits_1(files: tuple[Path, Path]) -> None:
    assert main(["check", str(files[0]), str(files[1]), "--fail-on-drift"]) == 1
    assert main(["check", str(files[0]), str(files[0]), "--fail-on-drift"]) == 0


def test_table_lists_every_column_and_the_verdict(files: tuple[Path, Path], capsys: pytest.CaptureFixture[str]) -> None:
    main(["check", str(files[0]), str(files[1])])
    out = capsys.readouterr().out
    assert "age" in out and "plan" in out and "DATASET DRIFT" in out and "\033[" not in out


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--method", "chi_square"], "chi_square does not apply to numerical column 'age'"),
        (["--schema", "SCHEMA_UNKNOWN"], "'salary'"),
        (["--schema", "SCHEMA_BADMETHOD"], "columns.age.method"),
        (["--drift-share", "1.5"], "drift_share (1.5)"),
    ],
    ids=["method-type", "unknown-column", "bad-method", "bad-share"],
)
def test_bad_options_give_one_line_errors_and_exit_2(
    files: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str], message: str
) -> None:
    (tmp_path / "unknown.yaml").write_text("columns:\n  salary: numerical\n")
    (tmp_path / "badmethod.yaml").write_text("columns:\n  age: {type: numerical, method: kss}\n")
    extra = [{"SCHEMA_UNKNOWN": str(tmp_path / "unknown.yaml"),
              "SCHEMA_BADMETHOD": str(tmp_path / "badmethod.yaml")}.get(e, e) for e in extra]
    assert main(["check", str(files[0]), str(files[1]), *extra]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize("name", ["missing.csv", "data.txt", "broken.parquet"])
def test_unreadable_files_are_named(tmp_path: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    (tmp_path / "data.txt").write_text("x\n1\n")
    (tmp_path / "broken.parquet").write_bytes(b"not parquet at all")
    good = tmp_path / "good.csv"
    good.write_text("x\n1\n2\n")
    assert main(["check", str(good), str(tmp_path / name)]) == 2
    err = capsys.readouterr().err
    assert name in err and len(err.strip().splitlines()) == 1


def test_schema_declares_types_and_per_column_methods(files: tuple[Path, Path], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    schema = tmp_path / "schema.yaml"
    schema.write_text("columns:\n  age: {type: numerical, method: psi, threshold: 0.2}\n")
    assert main(["check", str(files[0]), str(files[1]), "--schema", str(schema), "--format", "json"]) == 0
    cols = json.loads(capsys.readouterr().out)["columns"]
    assert [(c["column"], c["method"], c["threshold"]) for c in cols][0] == ("age", "psi", 0.2)
    # The unlisted column is not dropped: it is typed by inference, as without a schema.
    assert [(c["column"], c["type"], c["status"]) for c in cols][1:] == [("plan", "categorical", "ok")]


def test_installed_script_runs_the_bundled_example() -> None:
    script = shutil.which("driftline", path=str(Path(sys.executable).parent))
    assert script, "the driftline console script is not installed in this environment"
    proc = subprocess.run([script, "check", str(EXAMPLES / "reference.csv"), str(EXAMPLES / "current.csv"),
                           "--format", "json"], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["dataset"]["total_columns"] == 6 and doc["dataset"]["dataset_drift"] is True
