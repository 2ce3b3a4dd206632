"""``driftline check --multivariate``: the ``multivariate[]`` block of the JSON contract and the table rows."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitor.cli import main


def _frame(rng: np.random.Generator, n: int, rho: float) -> pd.DataFrame:
    z = rng.multivariate_normal([0.0, 0.0], [[1.0, rho], [rho, 1.0]], size=n)
    return pd.DataFrame({"a": z[:, 0], "b": z[:, 1], "noise": rng.normal(size=n),
                         "plan": rng.choice(["free", "pro"], size=n)})


def test_json_block_is_the_documented_contract(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(0)
    _frame(rng, 3000, 0.8).to_csv(tmp_path / "ref.csv", index=False)
    _frame(rng, 800, -0.8).to_csv(tmp_path / "cur.csv", index=False)
    args = ["check", str(tmp_path / "ref.csv"), str(tmp_path / "cur.csv"), "--format", "json",
            "--multivariate", "pca_reconstruction,mmd"]
    assert main(args) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["dataset"]["dataset_drift"] is False  # the marginals are unchanged
    assert [m["method"] for m in out["multivariate"]] == ["pca_reconstruction", "mmd"]
    for m in out["multivariate"]:
        assert {"method", "statistic", "threshold", "p_value", "drifted", "top_features"} <= set(m)
        assert m["drifted"] is True and 0 < m["p_value"] < 0.05 and m["statistic"] > m["threshold"]
    assert {f["feature"] for f in out["multivariate"][0]["top_features"][:2]} == {"a", "b"}
    assert main([*args, "--fail-on-drift"]) == 1  # a multivariate drift fails the gate too
    capsys.readouterr()
    assert main([*args[:4], "table", *args[5:]]) == 0
    assert "multivariate pca_reconstruction:" in capsys.readouterr().out


def test_without_the_flag_the_block_is_empty_and_a_bad_name_exits_2(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    rng = np.random.default_rng(1)
    _frame(rng, 500, 0.5).to_csv(tmp_path / "ref.csv", index=False)
    _frame(rng, 200, 0.5).to_csv(tmp_path / "cur.csv", index=False)
    base = ["check", str(tmp_path / "ref.csv"), str(tmp_path / "cur.csv"), "--format", "json"]
    assert main(base) == 0
    assert json.loads(capsys.readouterr().out)["multivariate"] == []
    with pytest.raises(SystemExit) as exc:
        main([*base, "--multivariate", "pca,mmd"])
    assert exc.value.code == 2
    assert "'pca' is not a multivariate method" in capsys.readouterr().err
