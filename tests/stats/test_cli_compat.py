"""``driftline check --compat``: the verdict rule from the command line, and features-only counting."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitor.cli import main


def _files(tmp_path: Path) -> tuple[str, str, str]:
    rng = np.random.default_rng(30)
    ref = pd.DataFrame({"a": rng.normal(size=5000), "b": rng.normal(size=5000), "label": rng.normal(size=5000)})
    cur = pd.DataFrame({"a": rng.normal(size=30), "b": rng.normal(size=30), "label": rng.normal(4.0, 1.0, 30)})
    ref.to_csv(tmp_path / "ref.csv", index=False)
    cur.to_csv(tmp_path / "cur.csv", index=False)
    (tmp_path / "schema.yaml").write_text(
        "columns:\n  a: numerical\n  b: numerical\n  label: {type: numerical, role: target}\n")
    return str(tmp_path / "ref.csv"), str(tmp_path / "cur.csv"), str(tmp_path / "schema.yaml")


def _json(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    code = main(["check", *argv, "--format", "json"])
    assert code == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def test_compat_flag_selects_the_rule_and_the_default_is_calibrated(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    ref, cur, _ = _files(tmp_path)
    default = _json(capsys, ref, cur)
    evidently = _json(capsys, ref, cur, "--compat", "evidently")
    assert default["dataset"]["compat"] == "calibrated"  # type: ignore[index]
    assert evidently["dataset"]["compat"] == "evidently"  # type: ignore[index]
    rules = {c["rule"] for c in evidently["columns"]}  # type: ignore[attr-defined]
    assert rules == {"evidently"}
    # 30 rows of a and b from the reference's population: Evidently's fixed 0.1 flags them.
    by = {c["column"]: c for c in evidently["columns"]}  # type: ignore[attr-defined]
    assert by["a"]["drifted"] and by["b"]["drifted"]
    calibrated = {c["column"]: c for c in default["columns"]}  # type: ignore[attr-defined]
    assert not calibrated["a"]["drifted"] and not calibrated["b"]["drifted"]


def test_a_schema_target_is_tested_but_not_counted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref, cur, schema = _files(tmp_path)
    out = _json(capsys, ref, cur, "--schema", schema, "--drift-share", "0.3")
    assert out["dataset"]["counted_columns"] == ["a", "b"]  # type: ignore[index]
    assert out["dataset"]["total_columns"] == 2 and not out["dataset"]["dataset_drift"]  # type: ignore[index]
    assert {c["column"]: c["drifted"] for c in out["columns"]}["label"]  # type: ignore[attr-defined]


def test_a_bad_compat_value_exits_2(tmp_path: Path) -> None:
    ref, cur, _ = _files(tmp_path)
    with pytest.raises(SystemExit) as exc:
        main(["check", ref, cur, "--compat", "nope"])
    assert exc.value.code == 2
