"""``driftline estimate``: the JSON contract, realized null without labels, and one-line refusals (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score

from monitor.cli import main


def _binary(rng: np.random.Generator, n: int, shift: float = 0.0) -> pd.DataFrame:
    x = rng.normal(shift, 1.0, size=n)
    p = 1 / (1 + np.exp(-2 * x))
    y = (rng.uniform(size=n) < p).astype(int)
    return pd.DataFrame({"x": x, "label": y, "pred": (p > 0.5).astype(int), "p_1": p})


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path, pd.DataFrame]:
    rng = np.random.default_rng(0)
    ref, cur = tmp_path / "ref.csv", tmp_path / "cur.csv"
    _binary(rng, 3000).to_csv(ref, index=False)
    current = _binary(rng, 500, shift=0.5)
    current.to_csv(cur, index=False)
    return ref, cur, current


def test_json_contract_with_labels(files: tuple[Path, Path, pd.DataFrame], capsys: pytest.CaptureFixture[str]) -> None:
    ref, cur, current = files
    code, out, _ = _run(capsys, "estimate", str(ref), str(cur), "--task", "classification", "--target", "label",
                        "--prediction", "pred", "--score", "p_1", "--format", "json")
    assert code == 0
    body = json.loads(out)
    assert [m["metric"] for m in body["metrics"]] == ["accuracy", "precision", "recall", "f1", "specificity", "roc_auc"]
    acc = body["metrics"][0]
    assert set(acc) >= {"metric", "estimated", "lower", "upper", "realized"}
    assert acc["realized"] == pytest.approx(accuracy_score(current["label"], current["pred"]))
    assert acc["lower"] <= acc["estimated"] <= acc["upper"]
    assert (body["status"], body["coverage"], body["labelled"]) == ("realized", 1.0, 500)
    assert isinstance(body["warnings"], list)


def test_realized_is_null_without_labels(files: tuple[Path, Path, pd.DataFrame], tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    ref, _, current = files
    for name, frame in (("absent.csv", current.drop(columns="label")), ("empty.csv", current.assign(label=np.nan))):
        path = tmp_path / name
        frame.to_csv(path, index=False)
        code, out, _ = _run(capsys, "estimate", str(ref), str(path), "--task", "classification", "--target", "label",
                            "--prediction", "pred", "--score", "1=p_1", "--format", "json")
        body = json.loads(out)
        assert code == 0 and body["status"] == "estimated"
        assert all(m["realized"] is None and m["estimated"] is not None for m in body["metrics"])


def test_multiclass_scores_by_name_suffix(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(1)
    frames = []
    for n in (3000, 400):
        q = rng.dirichlet([2, 2, 2], size=n)
        y = (rng.uniform(size=(n, 1)) > q.cumsum(axis=1)).sum(axis=1)
        frames.append(pd.DataFrame({"y": np.array(list("abc"))[y], "pred": np.array(list("abc"))[q.argmax(axis=1)],
                                    "p_a": q[:, 0], "p_b": q[:, 1], "p_c": q[:, 2]}))
    ref, cur = tmp_path / "ref.parquet", tmp_path / "cur.parquet"
    frames[0].to_parquet(ref)
    frames[1].drop(columns="y").to_parquet(cur)
    code, out, _ = _run(capsys, "estimate", str(ref), str(cur), "--task", "classification", "--target", "y",
                        "--prediction", "pred", "--score", "p_a", "--score", "p_b", "--score", "p_c")
    assert code == 0 and out.startswith("metric") and "accuracy" in out and "400 rows, 0 labelled" in out
    code, _, err = _run(capsys, "estimate", str(ref), str(cur), "--task", "classification", "--target", "y",
                        "--prediction", "pred", "--score", "p_a", "--score", "p_b")
    assert code == 2 and "none for c" in err and len(err.strip().splitlines()) == 1


@pytest.mark.parametrize(("flag", "value", "names"), [
    ("--prediction", "nope", "'nope'"),
    ("--score", "p_nope", "p_nope"),
    ("--target", "missing", "'missing'"),
])
def test_bad_column_exits_2_naming_it(files: tuple[Path, Path, pd.DataFrame], capsys: pytest.CaptureFixture[str],
                                      flag: str, value: str, names: str) -> None:
    ref, cur, _ = files
    args = {"--target": "label", "--prediction": "pred", "--score": "p_1", flag: value}
    argv = ["estimate", str(ref), str(cur), "--task", "classification"]
    for k, v in args.items():
        argv += [k, v]
    code, out, err = _run(capsys, *argv)
    assert code == 2 and out == ""
    assert names in err and err.startswith("driftline: error:") and len(err.strip().splitlines()) == 1


def test_bad_file_exits_2_naming_it(files: tuple[Path, Path, pd.DataFrame], tmp_path: Path,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    ref, _, _ = files
    code, _, err = _run(capsys, "estimate", str(ref), str(tmp_path / "gone.csv"), "--task", "classification",
                        "--target", "label", "--prediction", "pred", "--score", "p_1")
    assert code == 2 and "gone.csv" in err


def test_regression_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(2)
    frames = []
    for n in (1500, 300):
        x = rng.normal(size=n)
        frames.append(pd.DataFrame({"x": x, "y": 2 * x + rng.normal(size=n) * (0.2 + np.abs(x)), "yhat": 2 * x}))
    ref, cur = tmp_path / "ref.csv", tmp_path / "cur.csv"
    frames[0].to_csv(ref, index=False)
    frames[1].to_csv(cur, index=False)
    code, out, _ = _run(capsys, "estimate", str(ref), str(cur), "--task", "regression", "--target", "y",
                        "--prediction", "yhat", "--format", "json")
    body = json.loads(out)
    assert code == 0 and [m["metric"] for m in body["metrics"]] == ["mae", "rmse"]
    mae = body["metrics"][0]
    assert mae["realized"] == pytest.approx(float(np.abs(frames[1]["y"] - frames[1]["yhat"]).mean()))
