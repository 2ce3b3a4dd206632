"""The service's one-shot commands as a user runs them: `driftline db upgrade`, `run` and `backfill`.

Each test calls the installed console script in a subprocess, configured through the environment
(``DRIFTLINE_DATABASE_URL`` on a SQLite file in ``tmp_path``, ``DRIFTLINE_CONFIG``); predictions are
logged beforehand through :meth:`monitor.storage.Store.ingest_predictions` and the reference is the
monitor's ``reference: {type: file}``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from monitor.config import load_config
from monitor.domain import RunStatus
from monitor.storage import Store

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


def driftline(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    beside = Path(sys.executable).with_name("driftline")
    script = str(beside) if beside.exists() else shutil.which("driftline")
    assert script is not None, "the `driftline` console script is not installed (pip install -e .)"
    return subprocess.run([script, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=120)


def log(n: int, *, start: datetime, step: timedelta, shift: float = 0.0, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({
        "prediction_id": [f"p{seed}-{i}" for i in range(n)],
        "timestamp": [start + i * step for i in range(n)],
        "age": rng.normal(40 + shift, 5, n),
        "plan": rng.choice(["basic", "gold", "pro"], n, p=[0.6, 0.3, 0.1]),
        "prediction": rng.choice(["stay", "churn"], n),
    })


@dataclass(frozen=True)
class Deployment:
    """A configured driftline on a SQLite file: the environment to run commands with."""

    root: Path
    database_url: str
    config: Path
    env: dict[str, str]

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        return driftline(*args, env=self.env, cwd=self.root)

    def store(self) -> Store:
        return Store.from_url(self.database_url, load_config(self.config))


@pytest.fixture
def deployment(tmp_path: Path) -> Deployment:
    reference = tmp_path / "reference.parquet"
    log(600, start=T0 - timedelta(days=7), step=timedelta(seconds=1), seed=1) \
        .drop(columns=["prediction_id", "timestamp"]).to_parquet(reference, index=False)
    config = tmp_path / "driftline.yaml"
    config.write_text(f"""\
monitors:
  - name: churn
    model: churn-v3
    every: 1h
    window: {{last: 1h}}
    min_rows: 100
    reference: {{type: file, path: {reference}}}
    schema:
      numerical: [age]
      categorical: [plan]
      prediction: prediction
      target: null
""")
    database_url = f"sqlite:///{tmp_path / 'driftline.db'}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLINE_")}
    env.update(DRIFTLINE_DATABASE_URL=database_url, DRIFTLINE_CONFIG=str(config), NO_COLOR="1")
    return Deployment(root=tmp_path, database_url=database_url, config=config, env=env)


def ingest(deployment: Deployment, *frames: pd.DataFrame) -> None:
    store = deployment.store()
    try:
        store.upgrade()
        for frame in frames:
            assert store.ingest_predictions("churn-v3", frame).accepted == len(frame)
    finally:
        store.dispose()


def test_db_partition_on_sqlite_says_there_is_nothing_to_partition(deployment: Deployment) -> None:
    result = deployment.run("db", "partition")  # PostgreSQL's conversion: tests/storage/test_store_partitions.py
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "SQLite keeps no partitions: retention deletes in batches"


def stored_runs(deployment: Deployment) -> list[Any]:
    store = deployment.store()
    try:
        return sorted(store.list_runs("churn", limit=1000), key=lambda r: r.window_end)
    finally:
        store.dispose()


def test_db_upgrade_creates_the_schema_and_is_idempotent(deployment: Deployment) -> None:
    first = deployment.run("db", "upgrade")
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == "database is at the latest schema"
    engine = sa.create_engine(deployment.database_url)
    try:
        tables = set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"runs", "feature_results", "reference_versions", "driftline_alembic_version"} <= tables
    assert any("churn" in t for t in tables - {"runs", "feature_results", "reference_versions"}), tables
    again = deployment.run("db", "upgrade")
    assert again.returncode == 0, again.stderr
    store = deployment.store()  # usable as it is, without an upgrade of its own
    try:
        assert store.ingest_predictions("churn-v3", log(10, start=T0, step=timedelta(seconds=1))).accepted == 10
    finally:
        store.dispose()


def test_run_prints_the_run_as_json_and_stores_it(deployment: Deployment) -> None:
    ingest(deployment, log(300, start=T0 - timedelta(minutes=50), step=timedelta(seconds=10), shift=10.0, seed=2),
           log(50, start=T0, step=timedelta(seconds=10), seed=3))  # after the window: not read

    done = deployment.run("run", "churn", "--at", T0.isoformat())

    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    assert run["status"] == "drift" and run["rows"] == 300 and run["error"] is None
    assert datetime.fromisoformat(run["window_end"]) == T0
    assert datetime.fromisoformat(run["window_start"]) == T0 - timedelta(hours=1)
    assert run["reference_version"] == 1
    features = {f["column"]: f for f in run["features"]}
    assert set(features) == {"age", "plan", "prediction"}
    assert features["age"]["drifted"] is True and features["age"]["n_current"] == 300
    assert run["dataset"]["total_features"] == 2
    [stored] = stored_runs(deployment)
    assert stored.id == run["id"] and stored.status is RunStatus.DRIFT and len(stored.features) == 3


def test_run_of_an_unknown_monitor_exits_2_naming_it(deployment: Deployment) -> None:
    done = deployment.run("run", "nope", "--at", T0.isoformat())
    assert done.returncode == 2
    assert "no monitor named 'nope'" in done.stderr and "Traceback" not in done.stderr


def test_backfill_runs_every_window_with_progress_on_stderr_and_a_summary_on_stdout(deployment: Deployment) -> None:
    start = T0 - timedelta(hours=6)
    ingest(deployment,
           log(360, start=start, step=timedelta(seconds=20), seed=4),  # 2 hours like the reference
           log(20, start=start + timedelta(hours=2), step=timedelta(minutes=3), seed=5),  # 1 hour, 20 rows
           log(540, start=start + timedelta(hours=3), step=timedelta(seconds=20), shift=8.0, seed=6))  # 3 shifted

    done = deployment.run("backfill", "churn", "--from", (start + timedelta(hours=1)).isoformat(),
                          "--to", T0.isoformat(), "--step", "1h")

    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary == {"windows": 6, "statuses": {"ok": 2, "insufficient_data": 1, "drift": 3}}
    # Not a terminal: plain lines with counts, share and the window just run, never a carriage return.
    assert "\r" not in done.stderr
    shown = [line for line in done.stderr.splitlines() if line.startswith("backfill churn: ")]
    assert [line.split(": ", 1)[1].split(" (")[0] for line in shown] == [f"{i} of 6 windows" for i in range(1, 7)]
    assert shown[-1].startswith("backfill churn: 6 of 6 windows (100%), elapsed ")
    assert f"{T0.isoformat()} drift" in shown[-1] and "ETA" in shown[0]
    runs = stored_runs(deployment)
    assert [r.window_end for r in runs] == [start + timedelta(hours=h) for h in range(1, 7)]
    assert [str(r.status) for r in runs] == ["ok", "ok", "insufficient_data", "drift", "drift", "drift"]
    assert [r.rows for r in runs] == [180, 180, 20, 180, 180, 180]
    for r in runs:
        assert len(r.features) == (3 if r.status in (RunStatus.OK, RunStatus.DRIFT) else 0)

    again = deployment.run("backfill", "churn", "--from", (start + timedelta(hours=1)).isoformat(),
                           "--to", T0.isoformat(), "--step", "1h")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["windows"] == 6
    assert len(stored_runs(deployment)) == 6, "a backfill run twice wrote a window twice"


def test_backfill_with_a_bad_step_exits_2_with_a_one_line_message(deployment: Deployment) -> None:
    done = deployment.run("backfill", "churn", "--from", (T0 - timedelta(hours=2)).isoformat(),
                          "--to", T0.isoformat(), "--step", "5x")
    assert done.returncode == 2 and "'5x' is not a duration" in done.stderr
    assert "Traceback" not in done.stderr and "5x" in done.stderr.strip().splitlines()[-1]
