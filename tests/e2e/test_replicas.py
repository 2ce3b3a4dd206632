"""N ``driftline serve`` replicas on one PostgreSQL share the work; one is SIGKILLed mid-run.

Three real processes, 20 monitors of one model on a 2 s schedule, a feed that switches between
undrifted and drifted rows so dataset-drift episodes keep starting (alerts and retraining
triggers, both through the outbox to a loopback receiver). Replica 0 is killed with SIGKILL while
it runs. Then, over everything the replicas did:

- every (monitor, window_end) was run to the end exactly once (``run finished`` in the logs of all
  replicas) and stored once, and every monitor's stored windows have no gap (the killed replica's
  window was taken over when its lease expired);
- no replica found a window already stored (``not written twice``): the work was not duplicated;
- every outbox message was delivered, and each idempotency key reached the receiver once;
- at most one retraining job per monitor was started within its cooldown.

Waits are on conditions (polls with deadlines), never fixed sleeps.
"""

from __future__ import annotations

import csv
import json
import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import sqlalchemy as sa

from tests.e2e.conftest import API_KEY, ServeProcess

MODEL = "replicas-model"
MONITORS = [f"m{i:02d}" for i in range(20)]
EVERY = 2  # seconds
SECRET_ENV = "DL_REPLICAS_SECRET"
LEASE = "6"  # seconds: a run here takes well under a second


def _frame(n: int, drifted: bool, rng: np.random.Generator) -> list[dict[str, Any]]:
    shift = 2.0 if drifted else 0.0
    x = rng.normal(shift, 1.0, (n, 2))
    plan = rng.choice(["a", "b", "c"], n, p=[0.8, 0.1, 0.1] if drifted else None)
    return [{"x1": float(x[i, 0]), "x2": float(x[i, 1]), "plan": str(plan[i]), "prediction": str(i % 2)}
            for i in range(n)]


def _config(tmp: Path, receiver: str) -> Path:
    reference = tmp / "reference.csv"
    with reference.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["x1", "x2", "plan", "prediction"])
        writer.writeheader()
        writer.writerows(_frame(600, False, np.random.default_rng(1)))
    monitors = "".join(f"""\
  - name: {name}
    model: {MODEL}
    every: {EVERY}s
    window: {{last: {EVERY}s}}
    min_rows: 30
    reference: {{type: file, path: {reference}}}
    schema: {{target: null, numerical: [x1, x2], categorical: [plan]}}
    alerts:
      - {{name: dataset-drift, when: dataset_drift, webhooks: [hook]}}
    retrain:
      on: [dataset-drift]
      cooldown: 1h
      max_per_day: 5
      action: {{type: http, webhook: hook}}
""" for name in MONITORS)
    path = tmp / "driftline.yaml"
    path.write_text(f"""\
webhooks:
  - name: hook
    url: {receiver}/hook
    secret_env: {SECRET_ENV}
    timeout: 2s
    max_attempts: 30
    backoff: 1s
    backoff_max: 2s
monitors:
{monitors}""", encoding="utf-8")
    return path


class Receiver:
    """A loopback webhook receiver counting deliveries by ``Idempotency-Key``."""

    def __init__(self) -> None:
        self.keys: Counter[str] = Counter()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with receiver._lock:
                    receiver.keys[self.headers.get("Idempotency-Key", "")] += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def counts(self) -> Counter[str]:
        with self._lock:
            return Counter(self.keys)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class Feed:
    """Posts 40 rows every 0.25 s to the live replicas in turn; drifted for 4 s, then not for 4 s."""

    def __init__(self, replicas: list[ServeProcess]) -> None:
        self.replicas = replicas
        self.sent = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        rng = np.random.default_rng(2)
        headers = {"Authorization": f"Bearer {API_KEY}"}
        n = 0
        with httpx.Client(timeout=10, headers=headers) as client:
            while not self._stop.wait(0.25):
                live = [r for r in self.replicas if r.proc.poll() is None]
                drifted = int(time.time() // 4) % 2 == 1
                now = datetime.now(UTC)
                batch = [{**row, "prediction_id": f"p{n}-{j}", "timestamp": (now - timedelta(milliseconds=5 * j))
                          .isoformat()} for j, row in enumerate(_frame(40, drifted, rng))]
                try:
                    response = client.post(f"{live[n % len(live)].url}/v1/models/{MODEL}/predictions", json=batch)
                    if response.status_code == 200:
                        self.sent += 1
                    else:
                        self.errors.append(f"HTTP {response.status_code}: {response.text[:200]}")
                except httpx.TransportError:
                    pass  # a replica just killed: the next post goes to another
                n += 1

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=15)


def _as_utc(when: str | datetime) -> datetime:
    """A time from a log line (ISO text) or the database (naive means UTC), as an aware UTC time."""
    moment = datetime.fromisoformat(when) if isinstance(when, str) else when
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _records(process: ServeProcess) -> list[dict[str, Any]]:
    out = []
    for line in process.text().splitlines():
        if line.startswith("{"):
            try:
                out.append(json.loads(line))
            except json.JSONDecodeError:
                pass  # the last line of a killed process may be cut
    return out


def _wait(check: Callable[[], object], what: str, seconds: float, replicas: list[ServeProcess]) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- replica {i} ---\n{r.tail(2500)}" for i, r in enumerate(replicas))
            raise AssertionError(f"timed out after {seconds} s waiting for {what}\n{logs}")
        time.sleep(0.1)


def test_three_replicas_run_each_window_once_and_send_each_message_once(
        pg_url: str, serve: Callable[..., ServeProcess], tmp_path: Path) -> None:
    receiver = Receiver()
    engine = sa.create_engine(pg_url)
    try:
        config = _config(tmp_path, receiver.url)
        env = {SECRET_ENV: "s3cret-replicas", "DRIFTLINE_LOG_FORMAT": "json", "DRIFTLINE_WINDOW_LEASE_SECONDS": LEASE,
               "DRIFTLINE_OUTBOX_CLAIM_SECONDS": LEASE}
        replicas = [serve(pg_url, config, **env) for _ in range(3)]
        for r in replicas:
            r.wait_ready(90)
        started = datetime.now(UTC)
        feed = Feed(replicas)

        def runs() -> list[tuple[str, datetime, str]]:
            with engine.connect() as conn:
                return [(m, e, s) for m, e, s in conn.execute(sa.text("SELECT monitor, window_end, status FROM runs"))]

        def finished_by(i: int) -> int:
            return sum(r.get("message") == "run finished" for r in _records(replicas[i]))

        # Each replica has run windows (the work is shared), then replica 0 is killed in the middle of one.
        _wait(lambda: all(finished_by(i) >= 10 for i in range(3)), "every replica to run windows", 60, replicas)
        _wait(lambda: any(r.get("message") == "run started" for r in _records(replicas[0])[-3:]),
              "replica 0 to be inside a run", 20, replicas)
        replicas[0].kill()
        killed_at = datetime.now(UTC)
        with engine.connect() as conn:  # what replica 0 held when it died (holder host:pid:uuid)
            held = list(conn.execute(sa.text("SELECT monitor, window_end FROM window_leases WHERE NOT done "
                                             "AND holder LIKE :pid"), {"pid": f"%:{replicas[0].proc.pid}:%"}))
        # Two leases' worth of ticks after the kill: the survivors take over what replica 0 held.
        _wait(lambda: datetime.now(UTC) > killed_at + timedelta(seconds=2 * float(LEASE) + EVERY),
              "the killed replica's leases to expire and be taken over", 60, replicas)
        feed.stop()
        stopped_at = datetime.now(UTC)
        # The outbox drains: nothing pending, every message delivered.
        def drained() -> bool:
            with engine.connect() as conn:
                return not conn.execute(sa.text("SELECT count(*) FROM outbox WHERE status <> 'delivered'")).scalar()
        _wait(drained, "the outbox to be delivered", 30, replicas)
        stopping_at = datetime.now(UTC)
        for r in replicas[1:]:
            r.stop()
        feed_batches = feed.sent
        assert not feed.errors, feed.errors[:3]

        # -- windows: each run to the end once, stored once, no gap --------------------------------------
        stored = runs()
        per_window = Counter((m, e) for m, e, _ in stored)
        assert max(per_window.values()) == 1
        finished = Counter((r["monitor"], r["window_end"]) for p in replicas for r in _records(p)
                           if r.get("message") == "run finished")
        assert finished and max(finished.values()) == 1, [k for k, n in finished.items() if n > 1][:5]
        def key(monitor: str, end: Any) -> tuple[str, datetime]:
            return monitor, _as_utc(end)

        done = {key(m, e) for m, e in finished}
        kept = {key(m, e) for m, e in per_window}
        assert done <= kept  # every finished run is the stored one
        # A stored run without its "run finished" line: replica 0 wrote it and was killed before
        # logging it (a window it held), or a survivor was stopped between writing a run and
        # logging it (a window ending within two steps of the stop); no other may be one.
        unlogged = {(m, e) for m, e in kept - done if e < stopping_at - 2 * timedelta(seconds=EVERY)}
        assert unlogged <= {key(m, e) for m, e in held}, sorted(unlogged)[:5]
        duplicates = sum(p.count("not written twice") for p in replicas)
        assert duplicates == 0, "a replica ran a window another had already run"
        step = timedelta(seconds=EVERY)
        for name in MONITORS:
            ends = sorted(e for m, e, _ in stored if m == name and started + step < e < stopped_at - step)
            gaps = [(a, b) for a, b in zip(ends, ends[1:], strict=False) if b - a != step]
            assert not gaps, f"monitor {name}: windows missing between {gaps[:3]}"
        assert {(m, e) for m, e in held} <= set(per_window), "a window the killed replica held was never run"
        takeovers = sum(p.count("taken over: its replica's lease expired") for p in replicas[1:])
        skipped = sum(p.count("is run by another replica") for p in replicas)
        assert skipped > 0  # the replicas did meet on the same windows, and the lease sent all but one away

        # -- outbox: every message delivered, each key received once -----------------------------------
        with engine.connect() as conn:
            outbox = list(conn.execute(sa.text("SELECT target, idempotency_key, status, created_at FROM outbox")))
            jobs = list(conn.execute(sa.text("SELECT monitor, outcome, created_at FROM retrain_jobs")))
        received = receiver.counts()
        assert outbox, "no alert fired: the feed's drift did not reach the monitors"
        keys = {k for _, k, _, _ in outbox}
        delivered = {k for _, k, status, _ in outbox if status == "delivered"}
        assert set(received) <= keys, "a message was received that no run wrote"
        assert delivered <= set(received), "a message marked delivered never arrived"
        # The outbox was drained before the survivors stopped; a run between that moment and the stop
        # may enqueue a message the stopping replica no longer sends. It stays pending for the next
        # replica (nothing is lost or given up), and no message from before the drain may be one.
        unsent = [(k, status, _as_utc(c)) for _, k, status, c in outbox if k not in received]
        assert all(status == "pending" and c >= stopping_at - timedelta(seconds=EVERY) for _, status, c in unsent), \
            [(k, s, c.isoformat()) for k, s, c in unsent][:5]
        assert max(received.values()) == 1, [k for k, n in received.items() if n > 1][:5]

        # -- cooldown (1 h): at most one started job per monitor, however many triggers -------------------
        triggered = Counter(m for m, outcome, _ in jobs if outcome == "triggered")
        assert triggered and max(triggered.values()) == 1
        cooled = sum(outcome == "cooldown" for _, outcome, _ in jobs)
        print(f"\n3 replicas, {len(MONITORS)} monitors every {EVERY}s: {len(stored)} windows run once each "
              f"(by replica: {[finished_by(i) for i in range(3)]}), {skipped} claims sent away, "
              f"{len(held)} window(s) held by the killed replica, {takeovers} lease(s) taken over; {len(outbox)} outbox messages, each "
              f"received once ({len(unsent)} enqueued after the drain, left pending); {sum(triggered.values())} retrain jobs started, {cooled} refused by the cooldown; "
              f"{feed_batches} batches fed")
    finally:
        receiver.close()
        engine.dispose()


def test_a_second_serve_of_one_sqlite_file_exits_2_saying_why(serve: Callable[..., ServeProcess],
                                                              tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'driftline.db'}"
    config = _config(tmp_path, "http://127.0.0.1:9")
    first = serve(url, config, DRIFTLINE_SCHEDULER="false")
    first.wait_ready(90)
    second = serve(url, config, DRIFTLINE_SCHEDULER="false")
    assert second.proc.wait(timeout=90) == 2
    assert f"already served by pid {first.proc.pid}: SQLite runs one `driftline serve`" in second.text()
    first.kill()  # SIGKILL: the kernel drops its lock with the process
    third = serve(url, config, DRIFTLINE_SCHEDULER="false")
    third.wait_ready(90)
    third.stop()
