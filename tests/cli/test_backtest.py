"""``driftline backtest``: false alarms, detection delay and power, budgets, JSON, bad input.

Oracles: Evidently's rule for a > 1000-row reference is the Wasserstein distance normed by the
reference's standard deviation against 0.1, recomputed here with SciPy on the same windows;
injections are checked by their definition on the written frames; budget proposals are checked
by re-running the backtest with them in a schema file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from monitor.backtest import apply_injections, parse_budget, parse_injection
from monitor.cli import main
from monitor.stats.profile import fit_profile

START = pd.Timestamp("2024-01-01", tz="UTC")


def _frames(seed: int, *, days: int = 90, per_day: int = 30, n_ref: int = 3000) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A reference and a stationary history of ``days`` daily windows, drawn from one population."""
    rng = np.random.default_rng(seed)
    ref = pd.DataFrame({"x": rng.normal(size=n_ref), "y": rng.normal(5.0, 2.0, size=n_ref)})
    m = days * per_day
    offsets = np.repeat(np.arange(days), per_day) * 86_400.0 + rng.uniform(0, 86_400, m)
    hist = pd.DataFrame({"ts": START + pd.to_timedelta(offsets, unit="s"),
                         "x": rng.normal(size=m), "y": rng.normal(5.0, 2.0, size=m)})
    return ref, hist


def _write(tmp_path: Path, ref: pd.DataFrame, hist: pd.DataFrame) -> tuple[str, str]:
    r, h = tmp_path / "ref.parquet", tmp_path / "hist.parquet"
    ref.to_parquet(r)
    hist.to_parquet(h)
    return str(r), str(h)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> dict[str, object]:
    code = main(["backtest", *argv, "--format", "json", "--quiet"])
    out = capsys.readouterr().out
    assert code == 0, out
    parsed: dict[str, object] = json.loads(out)
    return parsed


def _feature(result: dict[str, object], name: str) -> dict[str, dict[str, object]]:
    features = result["features"]
    assert isinstance(features, list)
    return next(f for f in features if f["column"] == name)


def test_stationary_history_few_false_alarms_calibrated_many_evidently(tmp_path, capsys):
    ref, hist = _frames(1)
    r, h = _write(tmp_path, ref, hist)
    result = _run(capsys, r, h, "--time-column", "ts", "--window", "1d")
    windows = result["windows"]
    assert isinstance(windows, dict)
    assert windows["checked"] == 90 and windows["clean"] == 90 and windows["per_month"] == pytest.approx(30.0)
    for name in ("x", "y"):
        f = _feature(result, name)
        calibrated, evidently = f["calibrated"], f["evidently"]
        # Calibrated: the null quantile at alpha 0.05 bounds the per-window rate; 90 windows at 5%
        # give at most ~11 alarms with probability 0.999, i.e. 3.7 per 30 days.
        assert calibrated["false_alarms_per_month"] <= 3.7
        # Evidently's fixed 0.1 on 30-row windows fires on most of them (docs/statistics.md).
        assert evidently["false_alarms_per_month"] >= 15.0
        assert evidently["false_alarms_per_month"] > 4 * calibrated["false_alarms_per_month"]
        assert calibrated["power"] is None and calibrated["delay_windows"] is None
    # Oracle: Evidently's verdicts recomputed with SciPy on the same daily windows.
    day = ((hist["ts"] - START) // pd.Timedelta(days=1)).to_numpy()
    for name in ("x", "y"):
        std = float(np.std(ref[name]))
        expected = sum(stats.wasserstein_distance(ref[name], hist[name][day == d]) / std >= 0.1 for d in range(90))
        assert _feature(result, name)["evidently"]["alarms_clean"] == expected


def test_one_sigma_shift_is_detected_at_once(tmp_path, capsys):
    ref, hist = _frames(2)
    r, h = _write(tmp_path, ref, hist)
    result = _run(capsys, r, h, "--time-column", "ts", "--window", "1d", "--inject", "shift:x:1@2024-03-01")
    assert result["injected_at"] == "2024-03-01T00:00:00+00:00"
    windows = result["windows"]
    assert isinstance(windows, dict)
    assert (windows["clean"], windows["injected"], windows["boundary"]) == (60, 30, 0)
    x = _feature(result, "x")["calibrated"]
    assert x["delay_windows"] in (0, 1)
    assert x["delay_seconds"] == 86_400.0 * (x["delay_windows"] + 1)  # the alarm is raised at window end
    assert x["power"] >= 0.95
    # y is untouched: its power on the injected stretch is its false-alarm rate, small.
    assert _feature(result, "y")["calibrated"]["power"] <= 0.2
    # One of two features drifted meets drift_share 0.5: the dataset verdict follows x.
    dataset = result["dataset"]
    assert isinstance(dataset, dict)
    assert dataset["calibrated"]["power"] >= 0.95 and dataset["calibrated"]["delay_windows"] in (0, 1)


def test_budget_proposals_meet_the_budget_when_reapplied(tmp_path, capsys):
    ref, hist = _frames(3, per_day=20)
    r, h = _write(tmp_path, ref, hist)
    budget = 0.5
    result = _run(capsys, r, h, "--time-column", "ts", "--window", "1d", "--budget", f"{budget}/month")
    block = result["budget"]
    assert isinstance(block, dict)
    assert block["allowed_alarms"] == 1  # 0.5 per 30 days over 90 days
    proposals = {p["column"]: p for p in block["proposals"]}
    assert set(proposals) == {"x", "y"}
    for p in proposals.values():
        assert p["key"] == "threshold" and p["value"] is not None
        assert p["after"]["false_alarms_per_month"] <= budget
    schema = tmp_path / "schema.yaml"
    schema.write_text(block["schema"])
    again = _run(capsys, r, h, "--time-column", "ts", "--window", "1d", "--schema", str(schema))
    for name, p in proposals.items():
        calibrated = _feature(again, name)["calibrated"]
        assert calibrated["false_alarms_per_month"] <= budget
        assert calibrated["alarms_clean"] == p["after"]["alarms_clean"]  # the re-evaluation is the re-run
    assert block["yaml"].startswith("features:\n")


def test_budget_for_a_p_value_test_proposes_alpha(tmp_path, capsys):
    ref, hist = _frames(4, per_day=200)
    r, h = _write(tmp_path, ref, hist)
    schema = tmp_path / "ks.yaml"
    schema.write_text("columns:\n  x: {type: numerical, method: ks}\n  y: {type: numerical, method: ks}\n")
    result = _run(capsys, r, h, "--time-column", "ts", "--window", "1d", "--schema", str(schema),
                  "--budget", "1/month")
    block = result["budget"]
    assert isinstance(block, dict)
    for p in block["proposals"]:
        assert p["method"] == "ks" and p["key"] == "alpha"
        assert 0 < p["value"] <= 0.2
        assert p["after"]["false_alarms_per_month"] <= 1.0
    assert "x: {method: ks, alpha: " in block["yaml"]


def test_json_has_the_documented_keys(tmp_path, capsys):
    ref, hist = _frames(5, days=20)
    r, h = _write(tmp_path, ref, hist)
    result = _run(capsys, r, h, "--time-column", "ts", "--window", "1d", "--step", "12h",
                  "--inject", "missing:y:0.5@2024-01-11", "--budget", "1/month")
    doc = (Path(__file__).parents[2] / "docs" / "json-output.md").read_text()
    first_cells = [line.split("|")[1] for line in doc.split("## `driftline backtest")[1].splitlines()
                   if line.startswith("| `")]
    documented = {key for cell in first_cells for key in cell.split("`")[1::2]}
    rate_keys = {"windows_clean", "alarms_clean", "false_alarms_per_month", "windows_injected",
                 "alarms_injected", "power", "delay_windows", "delay_seconds"}
    assert set(result) == {"monitor", "windows", "injections", "injected_at", "rules", "dataset", "features",
                           "concept", "budget", "reference", "references"}
    assert {"reference", "references[]"} <= documented and result["reference"] == "fixed"
    assert "concept" in documented
    assert result["monitor"] is None and result["concept"] is None  # a history file, not a stored monitor
    assert {f"windows.{k}" for k in result["windows"]} <= documented  # type: ignore[union-attr]
    assert {f"budget.{k}" for k in result["budget"]} <= documented  # type: ignore[union-attr]
    assert {f"rates.{k}" for k in rate_keys} <= documented
    assert set(result["dataset"]["calibrated"]) == rate_keys  # type: ignore[index]
    y = _feature(result, "y")
    assert set(y) == {"column", "type", "calibrated", "evidently"}
    assert set(y["calibrated"]) == rate_keys | {"method", "missing"}
    # Overlapping 1-day windows every 12 hours: one straddles the injection time.
    assert result["windows"]["boundary"] == 1  # type: ignore[index]
    # A 50% missing burst is found by the missing-rate test.
    assert y["calibrated"]["missing"]["power"] >= 0.9


def test_table_output_and_progress_bar(tmp_path, capsys):
    ref, hist = _frames(6, days=10)
    r, h = _write(tmp_path, ref, hist)
    assert main(["backtest", r, h, "--time-column", "ts", "--rows", "30", "--budget", "1/month"]) == 0
    captured = capsys.readouterr()
    assert "10/10 windows" in captured.err
    assert captured.out.startswith("10 windows checked")
    assert "# driftline.yaml" in captured.out


@pytest.mark.parametrize(("extra", "message"), [
    (["--inject", "shift:x@2024-03-01"], "is not a number"),
    (["--inject", "shift:x:1"], "no @TIME"),
    (["--inject", "tilt:x:1@2024-03-01"], "unknown kind 'tilt'"),
    (["--inject", "shift:nope:1@2024-03-01"], "'nope' is not a tested column"),
    (["--inject", "swap:x@2024-03-01"], "swap needs a categorical column"),
    (["--inject", "missing:x:1.5@2024-03-01"], "must be in (0, 1]"),
    (["--inject", "concept:flip@2024-03-01"], "expected concept:SHARE@TIME"),
    (["--inject", "concept:0.2@2024-03-01"], "give --monitor NAME"),
    (["--budget", "many"], "--budget 'many'"),
    (["--window", "1x"], "is not a duration"),
    (["--time-column", "when"], "no time column 'when'"),
], ids=["no-size", "no-time", "unknown-kind", "unknown-column", "swap-numerical", "missing-share",
        "concept", "concept-needs-monitor", "budget", "window", "time-column"])
def test_bad_input_exits_2_with_one_line(tmp_path, capsys, extra, message):
    ref, hist = _frames(7, days=5)
    r, h = _write(tmp_path, ref, hist)
    argv = ["backtest", r, h, "--time-column", "ts", "--window", "1d", "--quiet", *extra]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("driftline: error:") and message in err


def test_missing_column_and_empty_history_exit_2(tmp_path, capsys):
    ref, hist = _frames(8, days=5)
    r, h = _write(tmp_path, ref, hist.drop(columns=["y"]))
    assert main(["backtest", r, h, "--time-column", "ts", "--window", "1d", "--quiet"]) == 2
    assert "column 'y' of the reference is missing" in capsys.readouterr().err
    r, h = _write(tmp_path, ref, hist.iloc[:0])
    assert main(["backtest", r, h, "--time-column", "ts", "--window", "1d", "--quiet"]) == 2
    assert "the history has no rows" in capsys.readouterr().err


def test_injections_do_what_they_say():
    rng = np.random.default_rng(9)
    n = 4000
    ref = pd.DataFrame({"x": rng.normal(2.0, 3.0, n), "c": rng.choice(["a", "b", "c"], p=[0.5, 0.3, 0.2], size=n)})
    profile = fit_profile(ref)
    hist = pd.DataFrame({"x": rng.normal(2.0, 3.0, n), "c": rng.choice(["a", "b", "c"], p=[0.5, 0.3, 0.2], size=n)})
    times = np.arange(n, dtype=np.int64) * 10**9
    at = pd.Timestamp(times[n // 2], tz="UTC").isoformat()
    late = times >= times[n // 2]
    sd = float(np.std(ref["x"], ddof=1))

    shifted = apply_injections(hist, times, profile, [parse_injection(f"shift:x:0.5@{at}")], rng)
    np.testing.assert_allclose(shifted["x"][late] - hist["x"][late], 0.5 * sd, rtol=1e-3)
    np.testing.assert_array_equal(shifted["x"][~late], hist["x"][~late])

    scaled = apply_injections(hist, times, profile, [parse_injection(f"scale:x:2@{at}")], rng)
    assert np.std(scaled["x"][late]) / np.std(hist["x"][late]) == pytest.approx(2.0)

    swapped = apply_injections(hist, times, profile, [parse_injection(f"swap:c@{at}")], rng)
    assert ((swapped["c"][late] == "b") == (hist["c"][late] == "a")).all()
    assert ((swapped["c"][late] == "a") == (hist["c"][late] == "b")).all()
    assert (swapped["c"][~late] == hist["c"][~late]).all()

    blanked = apply_injections(hist, times, profile, [parse_injection(f"missing:c:0.3@{at}")],
                               np.random.default_rng(0))
    share = blanked["c"][late].isna().mean()
    assert abs(share - 0.3) < 4 * np.sqrt(0.3 * 0.7 / late.sum())  # binomial, 4 standard errors
    assert not blanked["c"][~late].isna().any()


def test_parse_budget_units():
    assert parse_budget("2/week") == pytest.approx(2 * 30 / 7)
    assert parse_budget("0.1/day") == pytest.approx(3.0)
