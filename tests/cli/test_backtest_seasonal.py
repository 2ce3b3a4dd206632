"""``driftline backtest --reference-kind``: dynamic references replayed window by window.

A stream with a daily cycle (the mean of ``x`` follows the hour of the day, 3 standard deviations
peak to peak) is written to a real SQLite store. Two-hour windows against a fixed reference that
holds whole days drift almost always: each window is one slice of the day, the reference all of
it. Against ``same_period:1d:5`` (the same two hours on the five days before) they meet the
false-alarm budget: at most the 99% Clopper-Pearson upper bound (SciPy's ``binomtest``) of a 5%
rate at the number of clean windows (35 or so). A shift injected inside the season is found in the first
window after it. The files form replays the same stream from a CSV and gives the same counts.
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

T0 = datetime(2024, 3, 1, tzinfo=UTC)
DAYS = 10
PER_HOUR = 30
WINDOW = timedelta(hours=2)
#: Replayed window ends: from day 5 (five earlier days for same_period) to the end.
FIRST, LAST = T0 + timedelta(days=5, hours=2), T0 + timedelta(days=DAYS)
#: The injected change (1.5 reference standard deviations), on a window boundary.
AT = T0 + timedelta(days=8)

CONFIG = """\
monitors:
  - name: daily
    model: daily-v1
    every: 2h
    window: {last: 2h}
    min_rows: 50
    reference: {type: same_period, every: 1d, periods: 5}
    schema:
      numerical: [x]
      task: regression
      prediction: prediction
      target: null
"""


def _history(seed: int) -> pd.DataFrame:
    """PER_HOUR rows in every hour; ``x`` around 1.5 sin(2 pi hour / 24), the prediction without a cycle."""
    rng = np.random.default_rng(seed)
    n = DAYS * 24 * PER_HOUR
    seconds = np.sort(rng.uniform(0, DAYS * 86_400, n))
    times = pd.Timestamp(T0) + pd.to_timedelta(seconds, unit="s")
    hour = (seconds % 86_400) / 3600
    return pd.DataFrame({"prediction_id": [f"p{i}" for i in range(n)], "timestamp": times,
                         "x": 1.5 * np.sin(2 * np.pi * hour / 24) + rng.normal(0, 0.5, n),
                         "prediction": rng.normal(0, 1, n)})


def _budget(windows: int) -> int:
    """The most false alarms a 5% rate allows at ``windows`` clean windows (99% Clopper-Pearson upper bound)."""
    return next(k for k in range(windows + 1) if stats.binomtest(k, windows, 0.05).proportion_ci(0.99).low > 0.05) - 1


@pytest.fixture()
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, pd.DataFrame]:
    """A config and a SQLite store with the stream; days 0-4 registered as the fixed reference."""
    path = tmp_path / "driftline.yaml"
    path.write_text(CONFIG)
    config = load_config(path)
    url = f"sqlite:///{tmp_path / 'driftline.db'}"
    store = Store.from_url(url, config)
    store.upgrade()
    history = _history(3)
    store.ingest_predictions("daily-v1", history)
    fixed = history[history["timestamp"] < pd.Timestamp(T0 + timedelta(days=5))]
    monitor = config.to_domain().monitor("daily")
    ReferenceRegistry(store).register(monitor, fixed.drop(columns=["prediction_id"]), "days 0-4")
    store.dispose()
    monkeypatch.setenv("DRIFTLINE_DATABASE_URL", url)
    monkeypatch.delenv("DRIFTLINE_CONFIG", raising=False)
    return path, history


def _json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> dict[str, object]:
    code = main(["backtest", *argv, "--format", "json", "--quiet"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    out: dict[str, object] = json.loads(captured.out)
    return out


def _by_kind(result: dict[str, object]) -> dict[str, dict[str, object]]:
    refs = result["references"]
    assert isinstance(refs, list)
    return {r["kind"]: r for r in refs}


def _check_rates(kinds: dict[str, dict[str, object]]) -> None:
    fixed, seasonal = kinds["fixed"]["dataset"]["calibrated"], kinds["same_period:1d:5"]["dataset"]["calibrated"]
    # the same windows before the change under both references (a few are under min_rows, skipped)
    assert fixed["windows_clean"] == seasonal["windows_clean"] >= 30
    assert fixed["alarms_clean"] >= 0.8 * fixed["windows_clean"]
    assert seasonal["alarms_clean"] <= _budget(seasonal["windows_clean"])
    # the injected shift is seen at once (delay counted to the end of the first flagged window)
    assert seasonal["delay_windows"] == 0 and seasonal["delay_seconds"] == WINDOW.total_seconds()
    # the first day after it is all flagged; later the same hours of changed days enter the reference
    assert seasonal["alarms_injected"] >= 9


def test_same_period_meets_the_budget_where_a_fixed_reference_cries_wolf(
        deployment: tuple[Path, pd.DataFrame], capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = deployment
    result = _json(capsys, ["--config", str(path), "--monitor", "daily", "--from", FIRST.isoformat(),
                            "--to", LAST.isoformat(), "--inject", f"shift:x:1.5@{AT.isoformat()}",
                            "--reference-kind", "same_period:1d:5", "--reference-kind", "fixed"])
    assert result["reference"] == "same_period:1d:5"
    assert result["monitor"]["reference_version"] is None  # fitted per window, no stored version
    kinds = _by_kind(result)
    _check_rates(kinds)
    assert kinds["same_period:1d:5"]["windows"]["reference_short"] == 0
    # the top level is the first kind's
    assert result["dataset"]["calibrated"] == kinds["same_period:1d:5"]["dataset"]["calibrated"]


def test_the_monitors_own_kind_is_the_default_and_previous_window_is_no_seasonal_reference(
        deployment: tuple[Path, pd.DataFrame], capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = deployment
    span = ["--config", str(path), "--monitor", "daily", "--from", FIRST.isoformat(), "--to", LAST.isoformat(),
            "--inject", f"shift:x:1.5@{AT.isoformat()}"]
    own = _json(capsys, span)
    assert own["reference"] == "same_period:1d:5" and [r["kind"] for r in own["references"]] == ["same_period:1d:5"]
    previous = _json(capsys, [*span, "--reference-kind", "previous_window"])["dataset"]["calibrated"]
    # the window before is another slice of the day: on this cycle it cries wolf too (the docs say so)
    assert previous["alarms_clean"] > _budget(previous["windows_clean"])


def test_the_files_form_replays_the_same_kinds(deployment: tuple[Path, pd.DataFrame], tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    _, history = deployment
    reference, log = tmp_path / "reference.csv", tmp_path / "history.csv"
    frame = history.drop(columns=["prediction_id"])
    frame[frame["timestamp"] < pd.Timestamp(T0 + timedelta(days=5))].drop(columns=["timestamp"]).to_csv(reference,
                                                                                                       index=False)
    frame[frame["timestamp"] >= pd.Timestamp(FIRST - WINDOW - timedelta(days=5))].to_csv(log, index=False)
    result = _json(capsys, [str(reference), str(log), "--time-column", "timestamp", "--window", "2h",
                            "--min-rows", "50", "--inject", f"shift:x:1.5@{AT.isoformat()}",
                            "--reference-kind", "fixed", "--reference-kind", "same_period:1d:5"])
    kinds = _by_kind(result)
    # the file's first five days have no five earlier days: their windows are skipped, counted
    assert kinds["same_period:1d:5"]["windows"]["reference_short"] > 0
    fixed, seasonal = kinds["fixed"]["dataset"]["calibrated"], kinds["same_period:1d:5"]["dataset"]["calibrated"]
    assert fixed["alarms_clean"] >= 0.8 * fixed["windows_clean"]
    assert seasonal["windows_clean"] >= 30
    assert seasonal["alarms_clean"] <= _budget(seasonal["windows_clean"])
    assert seasonal["delay_windows"] == 0


@pytest.mark.parametrize(("kind", "message"), [
    ("same_period:1d", "same_period:EVERY:PERIODS"),
    ("same_period:1h:3", "every (1h) is shorter than the window (2h)"),
    ("rolling:1d:2d", "refit (2d) is longer than last (1d)"),
    ("seasonal", "expected fixed, previous_window"),
])
def test_a_bad_reference_kind_exits_2_naming_the_flag(deployment: tuple[Path, pd.DataFrame], kind: str, message: str,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    path, _ = deployment
    code = main(["backtest", "--config", str(path), "--monitor", "daily", "--from", FIRST.isoformat(),
                 "--to", LAST.isoformat(), "--reference-kind", kind, "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "--reference-kind" in err and message in err, err
