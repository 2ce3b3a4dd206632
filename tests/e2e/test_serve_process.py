"""``driftline serve`` as a real process: killed mid-run, cut off from its database, refusing a bad config.

Each test starts the console script on a free loopback port with the documented environment
and talks HTTP to it. PostgreSQL cases use a schema of their own in the session's database
(``pg_url``); they skip on a laptop without the server and fail under ``CI=true``.
"""

from __future__ import annotations

import io
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

if TYPE_CHECKING:
    import subprocess

    from tests.e2e.conftest import ServeProcess

PARQUET = "application/vnd.apache.parquet"

NUMERICAL = tuple(f"n{i:02d}" for i in range(15))
CATEGORICAL = tuple(f"c{i:02d}" for i in range(5))


def log_frame(n: int, *, start: datetime, numerical: tuple[str, ...], categorical: tuple[str, ...],
              shift: float = 0.0, seed: int = 0, step: str = "10ms") -> pd.DataFrame:
    """A prediction log: numbers ~ N(shift, 1), categories uniform over a, b, c, a 0/1 prediction."""
    rng = np.random.default_rng(seed)
    columns: dict[str, Any] = {"prediction_id": [f"p{seed}-{i}" for i in range(n)],
                               "timestamp": pd.date_range(start, periods=n, freq=step, tz="UTC")}
    columns.update({c: rng.normal(shift, 1.0, n) for c in numerical})
    columns.update({c: rng.choice(["a", "b", "c"], n) for c in categorical})
    columns["prediction"] = rng.choice(["0", "1"], n)
    return pd.DataFrame(columns)


def write_config(path: Path, *, name: str, reference: Path, numerical: tuple[str, ...],
                 categorical: tuple[str, ...], min_rows: int) -> Path:
    path.write_text(f"""\
monitors:
  - name: {name}
    model: {name}-model
    every: 1s
    window: {{last: 1h}}
    min_rows: {min_rows}
    reference: {{type: file, path: {reference}}}
    schema:
      target: null
      numerical: [{", ".join(numerical)}]
      categorical: [{", ".join(categorical)}]
""")
    return path


def parquet(frame: pd.DataFrame) -> bytes:
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


def wait_until(check: Callable[[], Any], what: str, timeout_seconds: float = 30.0, every: float = 0.1) -> Any:
    deadline = time.monotonic() + timeout_seconds
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_seconds} s waiting for {what}")
        time.sleep(every)


def runs(process: ServeProcess, monitor: str) -> list[dict[str, Any]]:
    response = httpx.get(f"{process.url}/v1/monitors/{monitor}/runs", params={"limit": 1000}, timeout=30)
    assert response.status_code == 200, response.text
    return list(response.json())


def run_detail(process: ServeProcess, run_id: str) -> dict[str, Any]:
    response = httpx.get(f"{process.url}/v1/runs/{run_id}", timeout=30)
    assert response.status_code == 200, response.text
    return dict(response.json())


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def assert_complete(detail: dict[str, Any], *, features: int, rows: int, status: str) -> None:
    """A stored ok/drift run carries every feature's result plus the prediction's, and its dataset verdict."""
    assert detail["status"] == status, detail
    assert detail["rows"] == rows, detail
    assert detail["error"] is None
    assert len(detail["features"]) == features + 1, [f["column"] for f in detail["features"]]
    assert sorted(f["role"] for f in detail["features"]).count("prediction") == 1
    assert detail["dataset"]["total_features"] == features


def _database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'driftline.db'}"
    return str(request.getfixturevalue("pg_url"))  # skips (or fails under CI=true) without PostgreSQL


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return _database_url(request, tmp_path)


# --- a. SIGKILL while runs are happening ---------------------------------------------------------

ROWS = 100_000
#: When to kill, as fractions of the last run's duration after the next "run started" line: early, in
#: the middle, and around the end, where the run is being written. Fewer on SQLite, to keep time.
KILL_AT = {"postgresql": (0.1, 0.5, 0.9, 0.97), "sqlite": (0.4, 0.95)}


def _last_run_seconds(process: ServeProcess) -> float:
    """Wall time of the last finished run, from the log's millisecond timestamps."""
    stamps = re.findall(r"^(\S+ \S+) INFO monitor\.run\.execute: run (started|finished)(?: .*)?$", process.text(), re.MULTILINE)
    pairs = [(a, b) for (a, ka), (b, kb) in zip(stamps, stamps[1:], strict=False)
             if ka == "started" and kb == "finished"]
    start, end = (datetime.strptime(t, "%Y-%m-%d %H:%M:%S,%f") for t in pairs[-1])
    return (end - start).total_seconds()


def test_kill_9_during_runs_leaves_only_complete_runs(serve: Callable[..., ServeProcess], database_url: str,
                                                      tmp_path: Path) -> None:
    now = datetime.now(UTC)
    reference = tmp_path / "reference.parquet"
    log_frame(20_000, start=now - timedelta(days=1), numerical=NUMERICAL, categorical=CATEGORICAL, seed=1) \
        .drop(columns=["prediction_id", "timestamp"]).to_parquet(reference)
    config = write_config(tmp_path / "driftline.yaml", name="big", reference=reference,
                          numerical=NUMERICAL, categorical=CATEGORICAL, min_rows=1000)

    # The log first, with the scheduler off, so every stored run sees the same 100k rows.
    loader = serve(database_url, config, DRIFTLINE_SCHEDULER="false")
    loader.wait_ready()
    current = log_frame(ROWS, start=now - timedelta(minutes=30), numerical=NUMERICAL, categorical=CATEGORICAL,
                        shift=0.5, seed=2)  # 100k rows over 17 minutes, all inside every window of the test
    response = httpx.post(f"{loader.url}/v1/models/big-model/predictions", content=parquet(current),
                          headers={**loader.auth, "Content-Type": PARQUET}, timeout=120)
    assert response.json() == {"accepted": ROWS, "duplicates": 0}, response.text
    loader.stop()

    kill_at = list(KILL_AT[sa.make_url(database_url).get_backend_name()])
    interrupted, finished, kills = 0, 0, 0
    # A run's duration varies with the machine's load, so a planned kill can land between runs.
    # Kills at mid-run are added (at most 4) until half the planned ones hit a run in progress.
    wanted, extra = len(kill_at) // 2, 4
    while kill_at:
        fraction = kill_at.pop(0)
        kills += 1
        process = serve(database_url, config)
        process.wait_ready()
        process.wait_for_log(r"run finished( |$)")  # past the first run's warm-up: time the next one like it
        duration = _last_run_seconds(process)
        started = process.count(r"run started( |$)")
        process.wait_for_log(r"run started( |$)", times=started + 1)
        time.sleep(fraction * duration)
        process.kill()
        finished += process.count(r"run finished( |$)")
        interrupted += process.count(r"run started( |$)") > process.count(r"run finished( |$)")
        if not kill_at and interrupted < wanted and extra:
            kill_at.append(0.3)
            extra -= 1
    assert interrupted >= wanted, f"only {interrupted} of {kills} kills hit a run in progress"

    final = serve(database_url, config)
    restarted = datetime.now(UTC)
    final.wait_ready()
    fresh = wait_until(lambda: [r for r in runs(final, "big") if utc(r["started_at"]) >= restarted],
                       "a run of the restarted service")
    detail = run_detail(final, fresh[-1]["id"])  # newest first: the first run after the restart
    assert_complete(detail, features=20, rows=ROWS, status="drift")
    drifted = {f["column"] for f in detail["features"] if f["drifted"]}
    assert set(NUMERICAL) <= drifted and detail["dataset"]["dataset_drift"] is True

    stored = runs(final, "big")
    older = [r for r in stored if utc(r["started_at"]) < restarted]
    # Every run a killed process logged as finished was committed; a kill can at most add one
    # committed run per process that it did not live to log.
    assert finished <= len(older) <= finished + kills, (finished, len(older))
    window_ends = [r["window_end"] for r in stored]
    assert len(set(window_ends)) == len(window_ends), "a window was stored twice"
    assert all(utc(end).microsecond == 0 for end in window_ends), "scheduled windows end on whole seconds"
    for summary in stored:
        assert_complete(run_detail(final, summary["id"]), features=20, rows=ROWS, status="drift")
    references = httpx.get(f"{final.url}/v1/monitors/big/references", timeout=10).json()
    assert len(references) == 1, "a restart registered the same reference file again"
    assert "Traceback" not in final.text(), final.tail()
    final.stop()


# --- b. the database goes away and comes back ----------------------------------------------------


class TcpProxy:
    """A loopback TCP forwarder that can be stopped (connections cut, port closed) and restarted."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        self.upstream = upstream
        self.port = 0  # chosen by the first start, kept by restarts
        self._listener: socket.socket | None = None
        self._acceptor: threading.Thread | None = None
        self._pumps: list[threading.Thread] = []
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def start(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._acceptor = threading.Thread(target=self._accept, args=(listener,), daemon=True)
        self._acceptor.start()

    def stop(self) -> None:
        """Close the port and cut every connection through it, as a dead server would."""
        if self._listener is None or self._acceptor is None:
            return
        self._listener.shutdown(socket.SHUT_RDWR)  # wakes the acceptor's accept()
        self._acceptor.join(timeout=5)
        self._listener.close()
        self._listener = self._acceptor = None
        with self._lock:
            sockets, self._sockets = self._sockets, []
            pumps, self._pumps = self._pumps, []
        for s in sockets:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for pump in pumps:
            pump.join(timeout=5)
        for s in sockets:
            s.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            pumps = [threading.Thread(target=self._pump, args=pair, daemon=True)
                     for pair in ((client, upstream), (upstream, client))]
            with self._lock:
                self._sockets += [client, upstream]
                self._pumps += pumps
            for pump in pumps:
                pump.start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        for s in (source, target):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


@pytest.fixture
def proxied_pg_url(pg_url: str) -> Iterator[tuple[TcpProxy, str]]:
    """The test's PostgreSQL schema, reached through a :class:`TcpProxy` (started)."""
    url = sa.make_url(pg_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    proxy.start()
    try:
        yield proxy, url.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    finally:
        proxy.stop()


def test_database_outage_keeps_the_service_up_and_records_the_failed_runs(
    serve: Callable[..., ServeProcess], proxied_pg_url: tuple[TcpProxy, str], tmp_path: Path
) -> None:
    proxy, url = proxied_pg_url
    numerical, categorical = ("age", "income"), ("plan",)
    now = datetime.now(UTC)
    reference = tmp_path / "reference.parquet"
    log_frame(2000, start=now - timedelta(days=1), numerical=numerical, categorical=categorical, seed=1) \
        .drop(columns=["prediction_id", "timestamp"]).to_parquet(reference)
    config = write_config(tmp_path / "driftline.yaml", name="churn", reference=reference,
                          numerical=numerical, categorical=categorical, min_rows=100)
    process = serve(url, config)
    process.wait_ready()
    current = log_frame(3000, start=now - timedelta(minutes=20), numerical=numerical, categorical=categorical,
                        shift=1.0, seed=2)
    response = httpx.post(f"{process.url}/v1/models/churn-model/predictions", content=parquet(current),
                          headers={**process.auth, "Content-Type": PARQUET}, timeout=60)
    assert response.status_code == 200, response.text
    ingested = datetime.now(UTC)
    wait_until(lambda: any(r["status"] == "drift" for r in runs(process, "churn")), "a drift run before the outage")

    proxy.stop()
    down = datetime.now(UTC)
    wait_until(lambda: httpx.get(f"{process.url}/readyz", timeout=10).status_code == 503, "/readyz to fail")
    assert httpx.get(f"{process.url}/readyz", timeout=10).json()["checks"]["store"] == "failed"
    assert httpx.get(f"{process.url}/healthz", timeout=10).status_code == 200
    listed = httpx.get(f"{process.url}/v1/monitors/churn/runs", timeout=10)
    assert listed.status_code == 503 and listed.json() == {"detail": "storage unavailable"}
    posted = httpx.post(f"{process.url}/v1/monitors/churn/runs", headers=process.auth, timeout=30)
    assert posted.status_code == 201 and posted.json()["status"] == "error", posted.text
    kept = r"kept until the database is back"
    process.wait_for_log(kept, times=3, timeout_seconds=15)  # the posted run and scheduled ones
    # Stay down past a tick of the 5 s flush job, whose failed attempt must keep the runs too.
    time.sleep(max(0.0, 5.5 - (datetime.now(UTC) - down).total_seconds()))
    assert process.proc.poll() is None
    assert httpx.get(f"{process.url}/healthz", timeout=10).status_code == 200

    proxy.start()
    up = datetime.now(UTC)
    wait_until(lambda: httpx.get(f"{process.url}/readyz", timeout=10).status_code == 200, "/readyz to recover")
    kept_ids = set(re.findall(r"run (\w+) of monitor churn " + kept, process.text()))
    assert posted.json()["run_id"] in kept_ids

    def flushed() -> list[dict[str, Any]] | None:
        stored = runs(process, "churn")
        ids = {r["id"] for r in stored}
        after = [r for r in stored if utc(r["window_end"]) > up and r["status"] in ("ok", "drift")]
        return stored if kept_ids <= ids and after else None

    stored = wait_until(flushed, "the kept runs to be written and a run after the outage", timeout_seconds=20)
    window_ends = [r["window_end"] for r in stored]
    assert len(set(window_ends)) == len(window_ends)
    errors = [r for r in stored if r["status"] == "error"]
    assert {r["id"] for r in errors} >= kept_ids
    for r in errors:
        assert down - timedelta(seconds=2) <= utc(r["window_end"]) <= up + timedelta(seconds=2), r
        assert r["error"], r
        assert run_detail(process, r["id"])["features"] == []
    for r in stored:
        if r["status"] == "insufficient_data":  # a run on the empty log, before the predictions were in
            assert utc(r["started_at"]) < ingested and r["rows"] == 0, r
        elif r["status"] != "error":
            assert_complete(run_detail(process, r["id"]), features=3, rows=3000, status="drift")
    assert any(utc(r["window_end"]) > up and r["status"] == "drift" for r in stored)
    process.stop()


# --- c. an invalid driftline.yaml is refused at start ----------------------------------------------


def test_serve_refuses_an_invalid_config_naming_file_line_and_key(
    run_driftline: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    config = tmp_path / "driftline.yaml"
    config.write_text("""\
monitors:
  - name: churn
    model: churn
    every: 1s
    schema:
      numerical: [age]
    features:
      age: {method: ks, alpah: 0.01}
    window: {last: 5x}
""")
    database = tmp_path / "never-created.db"
    done = run_driftline(["serve", "--host", "127.0.0.1", "--port", "0"], f"sqlite:///{database}", config)
    assert done.returncode != 0
    assert f"{config}:8 monitors.0.features.age.alpah" in done.stderr, done.stderr
    assert f"{config}:9 monitors.0.window.last" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    assert not database.exists(), "the database was opened before the configuration was checked"
