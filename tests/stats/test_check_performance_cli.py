"""``driftline check --task --target --prediction [--score]``: the performance block of the contract."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from monitor.cli import main


def _frame(rng: np.random.Generator, n: int, separation: float) -> pd.DataFrame:
    y = rng.integers(0, 2, n)
    score = separation * y + rng.normal(0, 1, n)
    return pd.DataFrame({"x": rng.normal(0, 1, n), "label": y, "pred": (score > separation / 2).astype(int),
                         "score": score})


def test_json_performance_block_is_the_documented_contract(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    ref, cur = _frame(rng, 3000, 2.0), _frame(rng, 3000, 0.8)
    ref.to_csv(tmp_path / "ref.csv", index=False)
    cur.to_csv(tmp_path / "cur.csv", index=False)
    args = ["check", str(tmp_path / "ref.csv"), str(tmp_path / "cur.csv"), "--format", "json", "--task",
            "classification", "--target", "label", "--prediction", "pred", "--score", "score"]
    assert main(args) == 0
    (perf,) = json.loads(capsys.readouterr().out)["performance"]
    assert set(perf) == {"metric", "reference", "current", "lower", "upper", "p_value", "degraded", "warning"}
    assert perf["metric"] == "roc_auc" and perf["degraded"] is True
    assert perf["reference"] == pytest.approx(roc_auc_score(ref.label, ref.score))
    assert perf["current"] == pytest.approx(roc_auc_score(cur.label, cur.score))
    assert perf["lower"] < perf["current"] - perf["reference"] < perf["upper"] < 0
    assert main([*args[:4], "table", *args[5:], "--metric", "f1"]) == 0
    assert "performance f1:" in capsys.readouterr().out


def test_performance_options_go_together_and_name_the_field(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _frame(np.random.default_rng(1), 200, 1.0).to_csv(tmp_path / "a.csv", index=False)
    a = str(tmp_path / "a.csv")
    assert main(["check", a, a, "--task", "classification", "--target", "label"]) == 2
    assert "--prediction" in capsys.readouterr().err
    assert main(["check", a, a, "--task", "classification", "--target", "nope", "--prediction", "pred"]) == 2
    assert "'nope'" in capsys.readouterr().err
    assert main(["check", a, a, "--task", "regression", "--target", "label", "--prediction", "pred",
                 "--metric", "roc_auc"]) == 2
    assert "regression" in capsys.readouterr().err
