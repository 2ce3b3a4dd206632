"""Retention: the policy each monitor gets, the cutoff per shared model, and a pass through the service."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitor.config import DriftlineConfig, Settings, load_config
from monitor.domain import Retention
from monitor.errors import ConfigErrors
from monitor.run.retention import prediction_cutoffs
from monitor.service import MonitorService
from monitor.storage import Store
from tests.storage.builders import make_run

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


def monitor(name: str, model: str, **extra: object) -> dict[str, object]:
    return {"name": name, "model": model, "every": "1h", "schema": {"numerical": ["x"], "target": None}, **extra}


def test_a_monitors_retention_overrides_the_top_level_key_by_key() -> None:
    cfg = DriftlineConfig.model_validate({"retention": {"predictions": "30d", "runs": "90d"}, "monitors": [
        monitor("a", "m"), monitor("b", "m", retention={"runs": "7d"}), monitor("c", "n", retention={"predictions": "2d"})]})
    got = {m.name: m.retention for m in cfg.to_domain().monitors}
    assert got == {"a": Retention(predictions=timedelta(days=30), runs=timedelta(days=90)),
                   "b": Retention(predictions=timedelta(days=30), runs=timedelta(days=7)),
                   "c": Retention(predictions=timedelta(days=2), runs=timedelta(days=90))}
    assert DriftlineConfig.model_validate({"monitors": [monitor("a", "m")]}).to_domain().monitors[0].retention == \
        Retention()  # unset: kept forever


def test_retention_shorter_than_what_the_monitor_reads_is_refused_at_its_line(tmp_path: Path) -> None:
    path = tmp_path / "driftline.yaml"
    path.write_text("retention:\n  predictions: 12h\nmonitors:\n  - name: a\n    model: m\n    every: 1h\n"
                    "    window: {last: 2h}\n    schema: {numerical: [x], target: null}\n")
    with pytest.raises(ConfigErrors) as info:
        load_config(path)
    text = str(info.value)
    assert "retention.predictions" in text and "performance.label_lookback reaches back 1 day" in text


def test_monitors_sharing_a_model_keep_its_predictions_as_long_as_the_longest() -> None:
    cfg = DriftlineConfig.model_validate({"monitors": [
        monitor("a", "m", retention={"predictions": "30d"}), monitor("b", "m", retention={"predictions": "60d"}),
        monitor("c", "n", retention={"predictions": "30d"}), monitor("d", "n"),  # d keeps n's forever
        monitor("e", "o", retention={"predictions": "2d"})]})
    assert prediction_cutoffs(cfg.to_domain().monitors, NOW) == {"m": NOW - timedelta(days=60),
                                                                  "o": NOW - timedelta(days=2)}


@pytest.fixture()
def anyio_backend() -> str:
    return "asyncio"


@pytest.mark.anyio
async def test_the_service_deletes_what_retention_lets_go(tmp_path: Path) -> None:
    cfg = DriftlineConfig.model_validate({"retention": {"predictions": "2d", "runs": "3d"}, "monitors": [{
        "name": "churn", "model": "churn-v3", "every": "1h",
        "schema": {"numerical": ["age"], "categorical": ["plan"], "target": None}}]})
    store = Store.from_url(f"sqlite:///{tmp_path / 'r.db'}", cfg)
    store.upgrade()
    rng = np.random.default_rng(0)
    times = pd.Series([NOW - timedelta(hours=h) for h in range(100)], dtype="datetime64[us, UTC]")
    store.ingest_predictions("churn-v3", pd.DataFrame({
        "prediction_id": [f"p{h}" for h in range(100)], "timestamp": times, "age": rng.normal(40, 5, 100),
        "plan": rng.choice(["a", "b"], 100), "prediction": rng.choice(["0", "1"], 100)}))
    for days in range(6):
        store.save_run(make_run(window_end=NOW - timedelta(days=days, hours=1)))

    class Clock:
        def now(self) -> datetime:
            return NOW

    svc = MonitorService(Settings(scheduler=False), cfg, store, clock=Clock())
    result = await svc.apply_retention()
    assert result.predictions == {"churn-v3": 51}  # hours 49..99 are older than 2 days (48 is the cutoff itself)
    assert result.runs == {"churn": 3}  # days 3, 4 and 5
    assert len(store.list_runs("churn")) == 3
    store.dispose()


@pytest.mark.parametrize(("reference", "reach"), [
    ({"type": "previous_window"}, timedelta(hours=4)),
    ({"type": "rolling", "last": "3d"}, timedelta(days=3, hours=2)),
    ({"type": "rolling", "last": "3d", "refit": "1d"}, timedelta(days=4, hours=2)),
    ({"type": "same_period", "every": "1d", "periods": 7}, timedelta(days=7, hours=2)),
], ids=["previous_window", "rolling", "rolling-refit", "same_period"])
def test_retention_shorter_than_a_dynamic_reference_reaches_is_refused_at_its_line(
        tmp_path: Path, reference: dict[str, object], reach: timedelta) -> None:
    import yaml

    def write(kept: timedelta) -> Path:
        path = tmp_path / "driftline.yaml"
        doc = {"monitors": [{"name": "a", "model": "m", "every": "1h", "window": {"last": "2h"},
                             "schema": {"numerical": ["x"], "target": None}, "reference": reference,
                             "performance": {"label_lookback": "1h"},
                             "retention": {"predictions": f"{int(kept.total_seconds() // 60)}m"}}]}
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        return path

    # The last minute short of the reach is refused, at the line of the key ...
    path = write(reach - timedelta(minutes=1))
    with pytest.raises(ConfigErrors) as info:
        load_config(path)
    text = str(info.value)
    line = next(n for n, row in enumerate(path.read_text().splitlines(), 1) if "predictions:" in row)
    assert f"driftline.yaml:{line}" in text and "monitors.0.retention.predictions" in text
    assert f"its reference ({reference['type']}) reaches back {reach}" in text
    # ... the reach itself is enough.
    assert load_config(write(reach)).to_domain().monitors[0].retention.predictions == reach
