"""`driftline demo` (the README's first command): completed runs within a minute, the full loop, and
every prediction of the replay labelled (none lost on the way)."""

from __future__ import annotations

import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_demo_runs_ingests_alerts_retrains_and_serves_everything(tmp_path: Path) -> None:
    port = _free_port()
    while True:  # the demo's retraining service takes port + 1
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port + 1))
                break
            except OSError:
                port = _free_port()
    script = Path(sys.executable).parent / "driftline"
    proc = subprocess.Popen([str(script), "demo", "--port", str(port), "--seconds", "45"], cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    try:
        completed = None
        promoted = None
        with httpx.Client(base_url=base, timeout=10) as client:
            while time.monotonic() - started < 60 and (completed is None or promoted is None):
                try:
                    monitors = client.get("/v1/monitors").json()
                    latest = monitors[0].get("latest_run")
                    if completed is None and latest and latest["status"] in ("ok", "drift"):
                        completed = time.monotonic() - started
                    jobs = client.get("/v1/retrain-jobs").json()
                    if promoted is None and any(j["status"] == "succeeded" and j["reference_version"] for j in jobs):
                        promoted = time.monotonic() - started
                except (httpx.TransportError, ValueError, IndexError, KeyError):
                    pass
                time.sleep(0.5)
            assert completed is not None and completed < 60, "no completed run within a minute"
            assert promoted is not None, "the retraining loop did not promote a new reference"
            assert [r["version"] for r in client.get("/v1/monitors/approval/references").json()][:2] != []
            metrics = client.get("/metrics").text
            assert "driftline_runs_total" in metrics and "driftline_retrain_triggers_total" in metrics
            report = client.get("/v1/monitors/approval/report")
            assert report.status_code == 200 and "dataset-verdict" in report.text
            assert client.get("/").status_code == 200
    finally:
        out, _ = proc.communicate(timeout=90)
    assert proc.returncode == 0, out
    assert "Driftline is up" in out and "reference v2 promoted" in out
    assert (tmp_path / "driftline-demo" / "driftline.db").exists()
    predictions, labelled = label_coverage(tmp_path / "driftline-demo" / "driftline.db")
    assert predictions >= 30, out  # about 10 a second on an idle machine, fewer on a loaded one
    # Each label is posted 3 s after its prediction, and the rest when the replay stops: all arrive.
    assert labelled == predictions, f"{predictions - labelled} of {predictions} labels were never sent"
    shown = [int(part.split("%")[0]) for line in out.splitlines() if "  labels " in line
             for part in [line.rsplit("  labels ", 1)[1]]]
    assert shown and min(shown[len(shown) // 2:]) >= 60, shown  # a 30 s window, labels 3 s behind: ~90%
    trained = (tmp_path / "driftline-demo" / "logged.csv").read_text().splitlines()
    assert len(trained) - 1 == labelled  # the retraining service trains on the labelled rows


def label_coverage(database: Path) -> tuple[int, int]:
    """Predictions stored in the demo's database, and how many of them have their label."""
    with sqlite3.connect(database) as db:
        tables = [name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
                  if {"prediction_id", "label"} <= {row[1] for row in db.execute(f'PRAGMA table_info("{name}")')}]
        assert len(tables) == 1, tables
        total, labelled = db.execute(f'SELECT count(*), count(label) FROM "{tables[0]}"').fetchone()
    return int(total), int(labelled)
