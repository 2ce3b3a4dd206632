"""``driftline backtest --monitor``: the concept-drift detector replayed over a stored, labelled history.

Labels agree with the predictions 90 % of the time in the reference and the history; ``--inject
concept:S@T`` flips a share of the labels from day 20. The detector is the one a scheduled run
advances (its state carried from window to window): no alarm on the clean stretch, the first
injected window alarms, and the JSON and the table carry the ``concept`` signal.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitor.cli import main
from monitor.config import load_config
from monitor.run import ReferenceRegistry
from monitor.storage import Store

T0 = datetime(2024, 1, 1, tzinfo=UTC)
DAYS = 30

CONFIG = """\
monitors:
  - name: churn
    model: churn-v3
    every: 6h
    window: {last: 1d}
    min_rows: 50
    schema:
      numerical: [age]
      task: classification
      prediction: prediction
      target: label
    performance: {bucket: 200 rows}
"""


def _rows(rng: np.random.Generator, times: pd.DatetimeIndex, prefix: str) -> pd.DataFrame:
    n = len(times)
    prediction = rng.choice(["0", "1"], n)
    wrong = rng.random(n) < 0.1
    return pd.DataFrame({
        "prediction_id": [f"{prefix}-{i}" for i in range(n)], "timestamp": times,
        "age": rng.normal(40.0, 10.0, n), "prediction": prediction,
        "label": np.where(wrong, np.where(prediction == "1", "0", "1"), prediction).astype(object),
    })


@pytest.fixture()
def deployment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    path = tmp_path / "driftline.yaml"
    path.write_text(CONFIG)
    config = load_config(path)
    url = f"sqlite:///{tmp_path / 'driftline.db'}"
    store = Store.from_url(url, config)
    store.upgrade()
    rng = np.random.default_rng(1)
    store.ingest_predictions("churn-v3", _rows(rng, pd.date_range(T0, periods=DAYS * 24 * 10, freq="6min", tz="UTC"),
                                               "h"))
    reference = _rows(rng, pd.date_range(T0 - timedelta(days=7), periods=5000, freq="1min", tz="UTC"), "r")
    ReferenceRegistry(store).register(config.to_domain().monitor("churn"), reference, "test")
    store.dispose()
    monkeypatch.setenv("DRIFTLINE_DATABASE_URL", url)
    monkeypatch.delenv("DRIFTLINE_CONFIG", raising=False)
    return path


def _run(capsys: pytest.CaptureFixture[str], config: Path, *argv: str) -> dict[str, object]:
    code = main(["backtest", "--config", str(config), "--monitor", "churn", "--from", (T0 + timedelta(days=1)).isoformat(),
                 "--to", (T0 + timedelta(days=DAYS)).isoformat(), *argv, "--format", "json", "--quiet"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    parsed: dict[str, object] = json.loads(captured.out)
    return parsed


def test_concept_signal_without_and_with_flipped_labels(deployment: Path, capsys: pytest.CaptureFixture[str]) -> None:
    clean = _run(capsys, deployment)["concept"]
    assert isinstance(clean, dict)
    assert clean["detector"] == "cusum" and clean["windows_clean"] == 4 * (DAYS - 1) + 1
    assert clean["alarms_clean"] == 0 and clean["delay_windows"] is None
    at = T0 + timedelta(days=20)
    flipped = _run(capsys, deployment, "--inject", f"concept:0.2@{at.isoformat()}")["concept"]
    assert isinstance(flipped, dict)
    assert flipped["alarms_clean"] == 0
    # 20 % of labels flipped: the error rate goes from 10 % to 26 %, 60 labelled rows per 6 hours.
    # The CUSUM gains E[LLR] = 0.26 ln(p1/p0) + 0.74 ln((1-p1)/(1-p0)) = 0.085 nat a row (p0 0.1,
    # p1 0.18), so it needs ~106 rows to reach 9 nats: the second window after the change (12 h)
    # reports it, and no later window reports it again.
    assert (flipped["alarms_injected"], flipped["power"], flipped["delay_windows"]) == (1, 1.0, 1)
    assert flipped["delay_seconds"] == 12 * 3600

def test_concept_injection_needs_a_stored_monitor(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ref, hist = tmp_path / "r.csv", tmp_path / "h.csv"
    pd.DataFrame({"ts": ["2024-01-01"], "age": [1.0]}).to_csv(ref, index=False)
    pd.DataFrame({"ts": ["2024-01-02"], "age": [1.0]}).to_csv(hist, index=False)
    code = main(["backtest", str(ref), str(hist), "--time-column", "ts", "--window", "1d",
                 "--inject", "concept:0.2@2024-01-02", "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "--monitor" in err
