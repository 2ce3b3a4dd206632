"""The service commands' logs: level filtering, JSON lines with a run's fields, uvicorn's lines in the
same format, and no secret (API key, database password) written.

The commands run as a user runs them (the console script in a subprocess, configured through the
environment); :mod:`monitor.logs`'s formatters are also checked directly on records.
"""

from __future__ import annotations

import io
import json
import logging
import socket
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor import logs
from monitor.errors import InputError
from tests.cli.test_service_commands import T0, Deployment, deployment, driftline, ingest, log

__all__ = ["deployment"]  # the fixture, imported from the service-command tests

API_KEY = "k-" + "7f3a9c0d2e" * 3
PASSWORD = "Pw-9q8w7e6r5t4y"


def json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of ``text`` as a JSON object (a line that is not one fails the test)."""
    lines = []
    for line in text.splitlines():
        if line.strip():
            value = json.loads(line)
            assert isinstance(value, dict), line
            lines.append(value)
    return lines


def _logged_window(deployment: Deployment) -> None:
    ingest(deployment, log(300, start=T0 - timedelta(minutes=50), step=timedelta(seconds=10), shift=10.0, seed=2))


def test_json_logs_of_a_run_carry_monitor_run_id_window_end_status_and_duration(deployment: Deployment) -> None:
    _logged_window(deployment)
    env = {**deployment.env, "DRIFTLINE_LOG_FORMAT": "json"}

    done = driftline("run", "churn", "--at", T0.isoformat(), env=env, cwd=deployment.root)

    assert done.returncode == 0, done.stderr
    run = json.loads(done.stdout)
    lines = json_lines(done.stderr)
    for line in lines:
        assert {"ts", "level", "logger", "message"} <= set(line), line
        assert datetime.fromisoformat(line["ts"]).utcoffset() == timedelta(0)
    [started] = [x for x in lines if x["message"] == "run started"]
    [finished] = [x for x in lines if x["message"] == "run finished"]
    for line in (started, finished):
        assert line["logger"] == "monitor.run.execute" and line["level"] == "info"
        assert line["monitor"] == "churn" and line["run_id"] == run["id"]
        assert datetime.fromisoformat(line["window_end"]) == T0
    assert finished["status"] == "drift" == run["status"]
    assert finished["rows"] == 300
    assert isinstance(finished["duration_seconds"], float) and 0 <= finished["duration_seconds"] < 60
    assert not any(x["logger"].startswith("apscheduler") and x["level"] == "info" for x in lines)


def test_text_logs_say_which_monitor_a_run_line_is_about(deployment: Deployment) -> None:
    _logged_window(deployment)
    done = deployment.run("run", "churn", "--at", T0.isoformat())
    assert done.returncode == 0, done.stderr
    [finished] = [x for x in done.stderr.splitlines() if "run finished" in x]
    run_id = json.loads(done.stdout)["id"]
    assert " INFO monitor.run.execute: run finished " in finished
    assert "monitor=churn" in finished and f"run_id={run_id}" in finished and "status=drift" in finished
    assert f"window_end={T0.isoformat()}" in finished and "duration_seconds=" in finished


@pytest.mark.parametrize("how", ["flag", "env"])
def test_log_level_warning_drops_info_lines(deployment: Deployment, how: str) -> None:
    _logged_window(deployment)
    env = {**deployment.env, "DRIFTLINE_LOG_FORMAT": "json"}
    args = ["run", "churn", "--at", T0.isoformat()]
    if how == "flag":
        args += ["--log-level", "warning"]
    else:
        env["DRIFTLINE_LOG_LEVEL"] = "WARNING"

    done = driftline(*args, env=env, cwd=deployment.root)

    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["status"] == "drift"
    assert all(x["level"] in ("warning", "error", "critical") for x in json_lines(done.stderr)), done.stderr
    debug = driftline("run", "churn", "--at", (T0 + timedelta(hours=1)).isoformat(), "--log-level", "debug",
                      env={**deployment.env, "DRIFTLINE_LOG_FORMAT": "json"}, cwd=deployment.root)
    assert debug.returncode == 0, debug.stderr
    levels = {x["level"] for x in json_lines(debug.stderr)}
    assert "info" in levels  # the lower level lets the run lines through again
    assert "run finished" in {x["message"] for x in json_lines(debug.stderr)}


def test_a_bad_log_level_or_format_exits_2_naming_the_setting(deployment: Deployment) -> None:
    bad_level = driftline("db", "upgrade", env={**deployment.env, "DRIFTLINE_LOG_LEVEL": "loud"}, cwd=deployment.root)
    assert bad_level.returncode == 2
    assert "DRIFTLINE_LOG_LEVEL" in bad_level.stderr and "'loud'" in bad_level.stderr
    assert "Traceback" not in bad_level.stderr
    bad_format = driftline("db", "upgrade", env={**deployment.env, "DRIFTLINE_LOG_FORMAT": "xml"}, cwd=deployment.root)
    assert bad_format.returncode == 2 and "DRIFTLINE_LOG_FORMAT" in bad_format.stderr and "'xml'" in bad_format.stderr
    flag = driftline("db", "upgrade", "--log-level", "loud", env=deployment.env, cwd=deployment.root)
    assert flag.returncode == 2 and "--log-level" in flag.stderr


def test_an_unreachable_database_is_logged_without_its_password(deployment: Deployment) -> None:
    with socket.socket() as s:  # a loopback port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"postgresql+psycopg://driftline:{PASSWORD}@127.0.0.1:{port}/driftline?connect_timeout=2"
    for fmt in ("json", "text"):
        env = {**deployment.env, "DRIFTLINE_DATABASE_URL": url, "DRIFTLINE_LOG_FORMAT": fmt}
        done = driftline("run", "churn", "--at", T0.isoformat(), env=env, cwd=deployment.root)
        assert done.returncode == 2, done.stderr
        assert f"127.0.0.1:{port}" in done.stderr  # the detail is there, the password is not
        assert PASSWORD not in done.stderr and PASSWORD not in done.stdout


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_writes_json_lines_for_uvicorn_access_and_runs_with_query_secrets_masked(deployment: Deployment) -> None:
    ingest(deployment, log(300, start=datetime.now(T0.tzinfo) - timedelta(minutes=30), step=timedelta(seconds=5),
                           shift=10.0, seed=7))
    port = _free_port()
    env = {**deployment.env, "DRIFTLINE_LOG_FORMAT": "json", "DRIFTLINE_API_KEYS": API_KEY}
    script = Path(sys.executable).with_name("driftline")
    proc = subprocess.Popen([str(script), "serve", "--port", str(port)], env=env, cwd=deployment.root,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        with httpx.Client(base_url=base, timeout=10) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if proc.poll() is not None or time.monotonic() > deadline:
                    proc.kill()
                    raise AssertionError(f"driftline serve did not become ready: {proc.communicate()[1][-3000:]}")
                time.sleep(0.1)
            client.get("/v1/monitors", params={"api_key": API_KEY, "limit": "5"})
            created = client.post("/v1/monitors/churn/runs", headers={"Authorization": f"Bearer {API_KEY}"})
            assert created.status_code == 201, created.text
            run_id = created.json()["run_id"]
    finally:
        proc.terminate()
        out, err = proc.communicate(timeout=30)
    assert API_KEY not in err and API_KEY not in out
    lines = json_lines(err)
    access = [x for x in lines if x["logger"] == "uvicorn.access"]
    assert any(x["path"] == "/v1/monitors?api_key=***&limit=5" and x["method"] == "GET" for x in access), access
    assert any(x["path"] == "/v1/monitors/churn/runs" and x["status_code"] == 201 for x in access), access
    assert any(x["logger"] == "uvicorn.error" and "Uvicorn running" in x["message"] for x in lines)
    [finished] = [x for x in lines if x["message"] == "run finished" and x["run_id"] == run_id]
    assert finished["monitor"] == "churn" and finished["status"] == "drift"
    assert {"window_end", "duration_seconds"} <= set(finished)
    # APScheduler's chatter stays silent: the deliverer runs every second while the server is up.
    assert not [x for x in lines if x["logger"].startswith("apscheduler") and x["level"] == "info"]


def test_json_formatter_keeps_fields_tracebacks_and_odd_values_as_json() -> None:
    stream = io.StringIO()
    record = logging.LogRecord("monitor.x", logging.ERROR, __file__, 1, "failed %s", ("once",), None)
    record.monitor, record.when, record.path = "churn", T0, Path("/tmp/x")
    try:
        raise ValueError("boom")
    except ValueError:
        record.exc_info = sys.exc_info()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logs.JsonFormatter())
    handler.emit(record)
    [line] = json_lines(stream.getvalue())
    assert line["message"] == "failed once" and line["level"] == "error" and line["logger"] == "monitor.x"
    assert line["monitor"] == "churn" and line["when"] == T0.isoformat() and line["path"] == "/tmp/x"
    assert "ValueError: boom" in line["exc_info"]


def test_resolve_reads_the_environment_and_refuses_unknown_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTLINE_LOG_LEVEL", "error")
    monkeypatch.setenv("DRIFTLINE_LOG_FORMAT", "JSON")
    assert logs.resolve() == (logs.LogLevel.ERROR, logs.LogFormat.JSON)
    assert logs.resolve("debug") == (logs.LogLevel.DEBUG, logs.LogFormat.JSON)  # the flag wins
    monkeypatch.setenv("DRIFTLINE_LOG_FORMAT", "yaml")
    with pytest.raises(InputError, match="DRIFTLINE_LOG_FORMAT") as caught:
        logs.resolve()
    assert caught.value.field == "log_format"
