"""``driftline backtest --config --monitor --from --to``: a monitor replayed over its stored history.

The history is written to a real SQLite store through ``Store.ingest_predictions`` and the
reference registered through ``ReferenceRegistry``; the CLI reads both back through the service's
ports. Oracles: Evidently's rule on a numerical column of a > 1000-row reference (the Wasserstein
distance normed by the reference's standard deviation, against 0.1) recomputed with SciPy on the
same ``[end - 6h, end)`` windows cut here with pandas, which also checks that each window read
is exactly the right rows; the insufficient windows are counted from the written frame.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from monitor.cli import main
from monitor.config import load_config
from monitor.run import ReferenceRegistry
from monitor.storage import Store

T0 = datetime(2024, 1, 1, tzinfo=UTC)
DAYS = 30
BLOCK = timedelta(hours=6)
PER_BLOCK = 60
#: Blocks 40-43 (day 10) hold 20 rows, under the monitor's min_rows of 50.
THIN = range(40, 44)

CONFIG = """\
monitors:
  - name: churn
    model: churn-v3
    every: 6h
    window: {last: 6h}
    min_rows: 50
    schema:
      numerical: [age]
      categorical: [plan]
      task: classification
      prediction: prediction
      target: label
  - name: fresh
    model: fresh-v1
    every: 1h
    window: {last: 1h}
    schema:
      numerical: [age]
      task: classification
      prediction: prediction
"""


def _rows(rng: np.random.Generator, times: pd.DatetimeIndex, prefix: str) -> pd.DataFrame:
    n = len(times)
    return pd.DataFrame({
        "prediction_id": [f"{prefix}-{i}" for i in range(n)],
        "timestamp": times,
        "age": rng.normal(40.0, 10.0, n),
        "plan": rng.choice(["basic", "pro", "team"], n, p=[0.5, 0.3, 0.2]),
        "prediction": rng.choice(["0", "1"], n),
        "label": pd.Series([np.nan] * n, dtype=object),
    })


def _history(seed: int) -> pd.DataFrame:
    """A stationary log: PER_BLOCK rows at random times in every 6-hour block, fewer in THIN."""
    rng = np.random.default_rng(seed)
    seconds = []
    for b in range(DAYS * 4):
        n = 20 if b in THIN else PER_BLOCK
        seconds.append(b * BLOCK.total_seconds() + np.sort(rng.uniform(0, BLOCK.total_seconds(), n)))
    times = pd.DatetimeIndex(pd.Timestamp(T0) + pd.to_timedelta(np.concatenate(seconds), unit="s"))
    return _rows(rng, times, "h")


@pytest.fixture()
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, pd.DataFrame, pd.DataFrame]:
    """A config file and a SQLite store holding the churn monitor's history and active reference."""
    config_path = tmp_path / "driftline.yaml"
    config_path.write_text(CONFIG)
    config = load_config(config_path)
    url = f"sqlite:///{tmp_path / 'driftline.db'}"
    store = Store.from_url(url, config)
    store.upgrade()
    history = _history(1)
    store.ingest_predictions("churn-v3", history)
    rng = np.random.default_rng(2)
    reference = _rows(rng, pd.date_range(T0 - timedelta(days=7), periods=3000, freq="1min", tz="UTC"), "r")
    reference["label"] = reference["prediction"].astype(object)
    ReferenceRegistry(store).register(config.to_domain().monitor("churn"), reference, "test")
    store.dispose()
    monkeypatch.setenv("DRIFTLINE_DATABASE_URL", url)
    monkeypatch.delenv("DRIFTLINE_CONFIG", raising=False)
    return config_path, history, reference


def _span() -> list[str]:
    return ["--from", (T0 + BLOCK).isoformat(), "--to", (T0 + timedelta(days=DAYS)).isoformat()]


def _run(capsys: pytest.CaptureFixture[str], config: Path, *argv: str) -> dict[str, object]:
    code = main(["backtest", "--config", str(config), "--monitor", "churn", *_span(), *argv,
                 "--format", "json", "--quiet"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    parsed: dict[str, object] = json.loads(captured.out)
    return parsed


def _feature(result: dict[str, object], name: str) -> dict[str, dict[str, object]]:
    features = result["features"]
    assert isinstance(features, list)
    return next(f for f in features if f["column"] == name)


def test_stationary_store_history_counts_windows_and_few_calibrated_false_alarms(deployment, capsys):
    config, history, reference = deployment
    result = _run(capsys, config)
    windows = result["windows"]
    assert isinstance(windows, dict)
    # Ends every 6h (the monitor's schedule, the default --step) from T0+6h to T0+30d: 120 windows.
    assert windows["total"] == DAYS * 4
    assert windows["skipped"] == len(THIN) and windows["checked"] == DAYS * 4 - len(THIN)
    assert windows["rows"] == len(history)
    assert windows["per_month"] == pytest.approx(120.0)
    assert windows["first_start"] == T0.isoformat() and windows["last_end"] == (T0 + timedelta(days=DAYS)).isoformat()
    monitor = result["monitor"]
    assert isinstance(monitor, dict)
    assert (monitor["name"], monitor["rule"], monitor["reference_version"], monitor["min_rows"]) == \
        ("churn", "calibrated", 1, 50)
    assert monitor["step_seconds"] == BLOCK.total_seconds()
    doc = (Path(__file__).parents[2] / "docs" / "json-output.md").read_text().split("## `driftline backtest")[1]
    row = next(line for line in doc.splitlines() if line.startswith("| `monitor` |"))
    assert all(f"`{k}`" in row for k in monitor), row  # every key of the monitor block is documented
    assert all(f"`windows.{k}`" in doc for k in windows), windows
    assert {f["column"] for f in result["features"]} == {"age", "plan", "prediction"}  # type: ignore[union-attr]
    for name in ("age", "plan"):
        calibrated = _feature(result, name)["calibrated"]
        assert calibrated["windows_clean"] == DAYS * 4 - len(THIN)
        # The null quantile at alpha 0.05 bounds the per-window rate: 116 windows at 5% give at most
        # 13 alarms with probability 0.999 (binomial), i.e. 13 / 116 * 120 = 13.4 per 30 days.
        assert calibrated["alarms_clean"] <= 13
    # Oracle: Evidently's verdict on age recomputed with SciPy on the same windows, cut here.
    std = float(np.std(reference["age"]))
    expected = 0
    for b in range(DAYS * 4):
        start = pd.Timestamp(T0 + b * BLOCK)
        rows = history["age"][(history["timestamp"] >= start) & (history["timestamp"] < start + BLOCK)]
        if len(rows) >= 50:
            expected += stats.wasserstein_distance(reference["age"], rows) / std >= 0.1
    evidently = _feature(result, "age")["evidently"]
    assert evidently["alarms_clean"] == expected
    assert evidently["alarms_clean"] > 3 * _feature(result, "age")["calibrated"]["alarms_clean"]


def test_an_injected_shift_is_detected_and_the_budget_applies(deployment, capsys):
    config, _, _ = deployment
    at = T0 + timedelta(days=20)
    result = _run(capsys, config, "--inject", f"shift:age:1@{at.isoformat()}", "--budget", "2/month")
    windows = result["windows"]
    assert isinstance(windows, dict)
    # Windows [end - 6h, end): 80 end at or before day 20 (4 of them thin), 40 start at or after it.
    assert (windows["clean"], windows["injected"], windows["boundary"]) == (80 - len(THIN), 40, 0)
    age = _feature(result, "age")["calibrated"]
    assert age["power"] >= 0.95 and age["delay_windows"] in (0, 1)
    assert age["delay_seconds"] == BLOCK.total_seconds() * (age["delay_windows"] + 1)
    assert _feature(result, "plan")["calibrated"]["power"] <= 0.25  # untouched
    budget = result["budget"]
    assert isinstance(budget, dict)
    assert budget["allowed_alarms"] == int(2 * (80 - len(THIN)) / 120)  # 2 per 30 days over 19 days: 1
    for p in budget["proposals"]:
        if p["value"] is not None:
            assert p["after"]["alarms_clean"] <= budget["allowed_alarms"]


def test_table_names_the_monitor_and_the_insufficient_windows(deployment, capsys):
    config, _, _ = deployment
    assert main(["backtest", "--config", str(config), "--monitor", "churn", *_span(), "--step", "12h"]) == 0
    captured = capsys.readouterr()
    assert "60/60 windows" in captured.err  # --step 12h: ends every 12h, every other block
    first, second = captured.out.splitlines()[:2]
    assert first.startswith("monitor churn (model churn-v3, its rule calibrated), reference version 1")
    assert second.startswith("58 windows checked (2 insufficient: fewer than min_rows 50 rows")


def _error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = main(["backtest", *argv, "--quiet"])
    captured = capsys.readouterr()
    assert code == 2, captured
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    return lines[0]


@pytest.mark.parametrize(("argv", "message"), [
    (["--monitor", "nope"], "no monitor named 'nope'"),
    (["--monitor", "fresh"], "monitor 'fresh' has no active reference"),
    (["--monitor", "churn", "--from", "yesterday", "--to", "2024-01-02"], "--from 'yesterday' is not an ISO 8601"),
    (["--monitor", "churn", "--from", "2024-01-03", "--to", "2024-01-02"], "is after --to"),
    (["--monitor", "churn", "--from", "2024-01-01"], "--to TIME is required"),
    (["--monitor", "churn", "--from", "2024-01-01", "--to", "2024-01-02", "--step", "0s"], "--step"),
    (["--monitor", "churn", "--from", "2024-01-01", "--to", "2024-01-02", "--window", "1h"], "--window replays"),
    (["--monitor", "churn", "--from", "2024-01-01", "--to", "2024-01-02", "--inject", "shift:nope:1@2024-01-01"],
     "column 'nope' is not a tested column"),
], ids=["unknown-monitor", "no-reference", "bad-time", "from-after-to", "no-to", "zero-step", "file-option",
        "bad-inject"])
def test_bad_requests_exit_2_with_one_line(deployment, capsys, argv, message):
    config, _, _ = deployment
    times = [] if "--from" in argv else ["--from", "2024-01-01", "--to", "2024-01-02"]
    line = _error(capsys, "--config", str(config), *argv, *times)
    assert line.startswith("driftline: error: ") and message in line


def test_from_without_monitor_is_refused(deployment, capsys):
    line = _error(capsys, "--from", "2024-01-01", "--to", "2024-01-02")
    assert "--from replays a stored monitor: give --monitor NAME" in line


@pytest.mark.parametrize("url", [
    "sqlite:///{tmp}/no/such/folder/driftline.db",
    "postgresql+psycopg://driftline:hunter2@127.0.0.1:1/driftline",
], ids=["sqlite-missing-folder", "postgresql-closed-port"])
def test_an_unreachable_database_exits_2_without_the_url(deployment, capsys, monkeypatch, tmp_path, url):
    config, _, _ = deployment
    url = url.format(tmp=tmp_path)
    monkeypatch.setenv("DRIFTLINE_DATABASE_URL", url)
    line = _error(capsys, "--config", str(config), "--monitor", "churn", *_span())
    assert "failed: the database is unavailable" in line
    for secret in ("hunter2", "127.0.0.1:1", str(tmp_path), "sqlite://", "postgresql"):
        assert secret not in line
