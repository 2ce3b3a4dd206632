"""Helpers of the alerting end-to-end test: real processes, a retraining endpoint, a prediction feed.

Everything binds to loopback ports picked at start-up and writes under the test's ``tmp_path``.
The configs handed to Prometheus and Alertmanager are the committed ones from ``prometheus/``,
rewritten only for ports, intervals, temporary paths and the token file.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import httpx
import numpy as np
import yaml

from tests.conftest import service_unavailable

REPO = Path(__file__).resolve().parents[2]
PROM_DIR = REPO / "prometheus"

T = TypeVar("T")


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def binary(name: str) -> str:
    """The path of an installed program; skips (fails under CI=true) when it is missing."""
    if name == "driftline":
        beside = Path(sys.executable).with_name("driftline")
        found = str(beside) if beside.exists() else shutil.which("driftline")
    else:
        found = shutil.which(name)
    if found is None:
        service_unavailable(f"{name} is not installed (scripts/install-monitoring.sh, or pip install -e .)")
    return found


def wait_for(check: Callable[[], T | None], what: str, timeout_seconds: float, every: float = 0.1,
             diagnose: Callable[[], str] | None = None) -> T:
    """Poll ``check`` until it returns something truthy; transport errors count as not yet."""
    deadline = time.monotonic() + timeout_seconds
    while True:
        try:
            result = check()
        except (httpx.TransportError, OSError):
            result = None
        if result:
            return result
        if time.monotonic() > deadline:
            extra = f"\n{diagnose()}" if diagnose else ""
            raise AssertionError(f"timed out after {timeout_seconds} s waiting for {what}{extra}")
        time.sleep(every)


# --- processes -------------------------------------------------------------------------------------


class Proc:
    """A child process with its output in a log file; stopped (and reaped) by :meth:`stop`."""

    def __init__(self, name: str, args: list[str], log: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.log = log
        with log.open("wb") as out:
            self.proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, cwd=log.parent, env=env,
                                         start_new_session=True)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def tail(self, chars: int = 4000) -> str:
        return f"--- {self.name} log ({self.log}) ---\n{self.text()[-chars:]}"

    def alive(self) -> bool:
        return self.proc.poll() is None

    def check_alive(self) -> None:
        if not self.alive():
            raise AssertionError(f"{self.name} exited with {self.proc.returncode}\n{self.tail()}")

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 10 s; the process is reaped either way."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


# --- the retraining endpoint ------------------------------------------------------------------------


@dataclass(frozen=True)
class Received:
    """One request the endpoint answered, with the wall-clock time it arrived."""

    at: float
    path: str
    headers: dict[str, str]
    body: bytes
    status: int

    def json(self) -> Any:
        return json.loads(self.body)


class RetrainEndpoint:
    """A retraining service stand-in: records every request; answers 200, or 503 when told to.

    :meth:`stop` closes the socket (connections are refused); :meth:`start` opens it again on the
    same port.
    """

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.status = 200
        self._received: list[Received] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def start(self) -> None:
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                status = endpoint.status
                with endpoint._lock:
                    endpoint._received.append(Received(at=time.time(), path=self.path, headers=dict(self.headers),
                                                       body=body, status=status))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:  # quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="retrain-endpoint", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            assert self._thread is not None
            self._thread.join(timeout=5)
            self._server = self._thread = None


# --- the prediction feed ------------------------------------------------------------------------------

NUMERICAL = ("x1", "x2", "x3")
CATEGORICAL = ("plan", "region")
_PLANS = np.array(["basic", "plus", "pro"])
_REGIONS = np.array(["eu", "us", "apac"])
#: Share of rows whose label differs from the prediction, drifted or not.
LABEL_ERROR_RATE = 0.1


def rows(n: int, *, drifted: bool, rng: np.random.Generator, start: datetime | None = None,
         prefix: str = "", step: timedelta = timedelta(milliseconds=1)) -> list[dict[str, Any]]:
    """Logged predictions with their labels: undrifted features ~ N(0, 1) and uniform categories;
    drifted, every feature shifts (numbers by two standard deviations, categories towards one value).

    The label is the prediction, flipped in 10 % of rows whatever the distribution: the error rate
    stays the same, so performance, label coverage and concept drift are computed but neither
    degradation nor concept drift is (meant to be) detected."""
    shift, plans, regions = (2.0, [0.1, 0.1, 0.8], [0.7, 0.2, 0.1]) if drifted else (0.0, None, None)
    x = rng.normal(shift, 1.0, (n, len(NUMERICAL)))
    plan = rng.choice(_PLANS, n, p=plans)
    region = rng.choice(_REGIONS, n, p=regions)
    prediction = (x[:, 0] + rng.normal(0, 0.5, n) > 0).astype(int)
    label = np.where(rng.random(n) < LABEL_ERROR_RATE, 1 - prediction, prediction)
    out = []
    for i in range(n):
        row: dict[str, Any] = {f: float(x[i, j]) for j, f in enumerate(NUMERICAL)}
        row.update(plan=str(plan[i]), region=str(region[i]), prediction=str(prediction[i]), label=str(label[i]))
        if start is not None:
            row.update(prediction_id=f"{prefix}{i}", timestamp=(start + i * step).isoformat())
        out.append(row)
    return out


class Feeder:
    """Posts a batch of fresh prediction rows every ``every_seconds``; ``drifted`` switches the distribution."""

    def __init__(self, base_url: str, model: str, api_key: str, *, batch: int = 20, every_seconds: float = 0.2,
                 seed: int = 0) -> None:
        self.drifted = False
        self.batches = 0
        self.errors: list[str] = []
        self._url = f"{base_url}/v1/models/{model}/predictions"
        self._headers = {"Authorization": f"Bearer {api_key}"}
        self._model = model
        self._batch = batch
        self._every = every_seconds
        self._rng = np.random.default_rng(seed)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"feed-{model}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _loop(self) -> None:
        with httpx.Client(timeout=10) as client:
            while not self._stop.is_set():
                began = time.monotonic()
                step = timedelta(seconds=self._every / self._batch)
                start = datetime.now(UTC) - self._batch * step  # this batch covers the last `every` seconds
                batch = rows(self._batch, drifted=self.drifted, rng=self._rng, start=start,
                             prefix=f"{self._model}-{self.batches}-", step=step)
                try:
                    response = client.post(self._url, json=batch, headers=self._headers)
                    if response.status_code != 200:
                        self.errors.append(f"HTTP {response.status_code}: {response.text[:300]}")
                except httpx.HTTPError as exc:
                    self.errors.append(repr(exc))
                self.batches += 1
                self._stop.wait(max(0.0, self._every - (time.monotonic() - began)))


# --- the committed configs, rewritten for the test ------------------------------------------------------


def fast_rules(out_dir: Path, for_duration: str = "2s") -> list[Path]:
    """Copies of the committed rule files with every ``for:`` shortened; nothing else changes."""
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path in sorted((PROM_DIR / "rules").glob("*.yml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        for group in data["groups"]:
            for rule in group["rules"]:
                if "for" in rule:
                    rule["for"] = for_duration
        target = out_dir / path.name
        target.write_text(yaml.safe_dump(data, sort_keys=False, width=1000), encoding="utf-8")
        written.append(target)
    return written


def prometheus_config(path: Path, *, rules: list[Path], driftline: str, alertmanager: str) -> Path:
    """The committed prometheus.yml: 1 s scrapes and evaluations, loopback targets, absolute rule paths.

    Driftline's URL is not in it: the rules read it from the driftline_public_url_info Driftline serves."""
    config = yaml.safe_load((PROM_DIR / "prometheus.yml").read_text(encoding="utf-8"))
    config["global"].update(scrape_interval="1s", evaluation_interval="1s")
    config["rule_files"] = [str(p) for p in rules]
    config["alerting"]["alertmanagers"][0]["static_configs"] = [{"targets": [alertmanager]}]
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "driftline"]
    job["scrape_interval"] = "1s"
    job["static_configs"][0]["targets"] = [driftline]  # and its app label, which DriftlineDown looks for
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def alertmanager_config(path: Path, *, driftline_url: str, token_file: Path) -> Path:
    """The committed alertmanager.yml: receiver at the test's driftline, the token file in tmp, 1 s
    group wait and interval, and a 2 s repeat interval so firing alerts are re-sent while they last."""
    config = yaml.safe_load((PROM_DIR / "alertmanager.yml").read_text(encoding="utf-8"))
    config["route"].update(group_wait="1s", group_interval="1s", repeat_interval="2s")
    (receiver,) = [r for r in config["receivers"] if r["name"] == "driftline"]
    (hook,) = receiver["webhook_configs"]
    hook["url"] = hook["url"].replace("http://driftline:8000", driftline_url)
    hook["http_config"]["authorization"]["credentials_file"] = str(token_file)
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def driftline_env(**values: str) -> dict[str, str]:
    """The caller's environment without its DRIFTLINE_*, plus ``values``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLINE_")}
    env.update(NO_COLOR="1", **values)
    return env
