"""`driftline check` as a CI gate and its first contact: incomplete checks, method names, help.

The list of Evidently's stattests comes from Evidently's own registry, so a test it adds or
renames fails here until the alias table says what to do with it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitor.aliases import EVIDENTLY_ALIASES, UNSUPPORTED, resolve_method
from monitor.cli import EXIT_INCOMPLETE, main
from monitor.stats.types import DriftMethod


@pytest.fixture()
def ref(tmp_path: Path) -> Path:
    rng = np.random.default_rng(1)
    pd.DataFrame({"age": rng.normal(40, 10, 300), "plan": rng.choice(["a", "b", "c"], 300)}).to_csv(
        tmp_path / "ref.csv", index=False)
    return tmp_path / "ref.csv"


def _current(tmp_path: Path, frame: pd.DataFrame) -> str:
    path = tmp_path / "cur.csv"
    frame.to_csv(path, index=False)
    return str(path)


def test_a_header_only_current_file_fails_the_gate_with_exit_3(
        ref: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "header_only.csv").write_text("age,plan\n")
    cur = str(tmp_path / "header_only.csv")
    assert EXIT_INCOMPLETE == 3
    assert main(["check", str(ref), cur, "--fail-on-drift"]) == 3
    out, err = capsys.readouterr()
    assert "0 of 0 columns drifted" in out
    assert err.strip().splitlines() == [
        "driftline: error: incomplete check (exit 3): the current data has no rows; no column was tested"]
    # Without the gate: the same verdict, exit 0, and the problem still said on stderr.
    assert main(["check", str(ref), cur]) == 0
    assert capsys.readouterr().err.startswith("driftline: warning: incomplete check: the current data has no rows")


def test_a_reference_column_missing_from_current_fails_the_gate(
        ref: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(2)
    cur = _current(tmp_path, pd.DataFrame({"age": rng.normal(40, 10, 300)}))
    assert main(["check", str(ref), cur, "--fail-on-drift", "--format", "json"]) == 3
    captured = capsys.readouterr()
    assert json.loads(captured.out)["dataset"]["total_columns"] == 1  # stdout stays valid JSON
    assert "1 reference column(s) missing from the current data: plan" in captured.err


def test_a_complete_check_exits_0_and_drift_still_exits_1(
        ref: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(ref), str(ref), "--fail-on-drift"]) == 0
    assert "incomplete" not in capsys.readouterr().err
    rng = np.random.default_rng(4)
    shifted = _current(tmp_path, pd.DataFrame({"age": rng.normal(70, 10, 300)}))
    # Drift is the definite finding: it takes precedence over the missing column.
    assert main(["check", str(ref), shifted, "--fail-on-drift"]) == 1


def test_an_unknown_method_lists_the_valid_names(ref: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["check", str(ref), str(ref), "--method", "nope"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert "invalid DriftMethod value" not in err
    assert "'nope' is not a drift method" in err and all(m.value in err for m in DriftMethod)


def test_empirical_mmd_is_refused_saying_it_is_not_supported(ref: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["check", str(ref), str(ref), "--method", "empirical_mmd"])
    assert "empirical_mmd (maximum mean discrepancy) is not supported" in capsys.readouterr().err


def test_every_evidently_stattest_is_an_alias_or_refused_by_name() -> None:
    from evidently.legacy.calculations.stattests.registry import _registered_stat_tests

    names = {test.name for by_type in _registered_stat_tests.values() for test in by_type.values()}
    assert names == set(EVIDENTLY_ALIASES) | set(UNSUPPORTED)
    for name in UNSUPPORTED:
        with pytest.raises(ValueError, match="not supported"):
            resolve_method(name)


@pytest.mark.parametrize(
    ("alias", "method"),
    [("jensenshannon", "jensen_shannon"), ("chisquare", "chi_square"), ("mannw", "mann_whitney"),
     ("ed", "energy_distance"), ("z", "z_test"), ("TVD", "tvd"), ("es", "epps_singleton"), ("ks", "ks"),
     ("wasserstein", "wasserstein"), ("psi", "psi"), ("kl_div", "kl_div"), ("t_test", "t_test"),
     ("anderson", "anderson"), ("cramer_von_mises", "cramer_von_mises"), ("fisher_exact", "fisher_exact"),
     ("g_test", "g_test"), ("hellinger", "hellinger")],
)
def test_evidently_names_work_on_the_command_line_and_in_schema_files(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], alias: str, method: str) -> None:
    rng = np.random.default_rng(9)
    column = "plan" if DriftMethod(method) not in {
        DriftMethod.KS, DriftMethod.WASSERSTEIN, DriftMethod.ENERGY_DISTANCE, DriftMethod.CRAMER_VON_MISES,
        DriftMethod.ANDERSON, DriftMethod.T_TEST, DriftMethod.MANN_WHITNEY, DriftMethod.EPPS_SINGLETON} else "age"
    values = rng.normal(40, 10, 300) if column == "age" else rng.choice(["a", "b"], 300)
    pd.DataFrame({column: values}).to_csv(tmp_path / "f.csv", index=False)
    f = str(tmp_path / "f.csv")
    assert main(["check", f, f, "--method", alias, "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["columns"][0]["method"] == method
    kind = "numerical" if column == "age" else "categorical"
    (tmp_path / "s.yaml").write_text(f"columns:\n  {column}: {{type: {kind}, method: {alias}}}\n")
    assert main(["check", f, f, "--schema", str(tmp_path / "s.yaml"), "--format", "json"]) == 0
    assert json.loads(capsys.readouterr().out)["columns"][0]["method"] == method


def test_a_bad_method_in_a_schema_file_names_the_key_and_the_valid_names(
        ref: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "s.yaml").write_text("columns:\n  age: {type: numerical, method: kss}\n")
    assert main(["check", str(ref), str(ref), "--schema", str(tmp_path / "s.yaml")]) == 2
    err = capsys.readouterr().err
    assert "columns.age.method: 'kss' is not a drift method" in err and "jensen_shannon" in err
    assert len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["check", "--help"], ["reference data (.parquet or .csv)", "jensen_shannon", "mannw=mann_whitney",
                               "exit 1 when the dataset drifted, 3 when the check is incomplete"]),
        (["check-config", "--help"], ["the driftline.yaml to validate"]),
        (["run", "--help"], ["the name of a monitor", "ISO 8601"]),
        (["backfill", "--help"], ["first window end, ISO 8601", "2024-01-31T12:00:00Z", "30s, 15m, 1h, 7d"]),
        (["report", "--help"], ["reference data (.parquet or .csv)", "kuiper"]),
    ],
    ids=["check", "check-config", "run", "backfill", "report"],
)
def test_help_describes_positionals_formats_and_method_names(
        capsys: pytest.CaptureFixture[str], argv: list[str], expected: list[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 0
    out = " ".join(capsys.readouterr().out.split())  # argparse wraps lines
    missing = [e for e in expected if e not in out]
    assert not missing, out
