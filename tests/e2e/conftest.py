"""Real ``driftline`` processes on loopback ports, and a PostgreSQL schema per test.

``serve`` starts ``driftline serve`` with the documented environment (``DRIFTLINE_DATABASE_URL``,
``DRIFTLINE_API_KEYS``, ``DRIFTLINE_CONFIG``) and ``--host 127.0.0.1 --port N``; its stdout and
stderr go to a log file in ``tmp_path`` that tests read to know what it is doing. Every process
still running at the end of a test is killed, so a failing test never leaves one behind.
Tests reach all of this through fixtures and the :class:`ServeProcess` they return, never by
importing this module.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import postgres_schema

API_KEY = "k-e2e-5d0c9a31f7b24e68"


def driftline_script() -> str:
    """The ``driftline`` console script of the running interpreter's environment."""
    beside = Path(sys.executable).with_name("driftline")
    found = str(beside) if beside.exists() else shutil.which("driftline")
    if found is None:
        pytest.fail("the `driftline` console script is not installed (pip install -e .)", pytrace=False)
    return found


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def service_env(database_url: str, config: Path, **extra: str) -> dict[str, str]:
    """The environment of a driftline process: ours, without any DRIFTLINE_* of the caller's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLINE_")}
    env.update(DRIFTLINE_DATABASE_URL=database_url, DRIFTLINE_API_KEYS=API_KEY, DRIFTLINE_CONFIG=str(config),
               NO_COLOR="1", **extra)
    return env


class ServeProcess:
    """One ``driftline serve`` process and its log."""

    #: Headers of a write: the API key the process was started with.
    auth = {"Authorization": f"Bearer {API_KEY}"}

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        with log.open("wb") as out:  # the child keeps its own descriptor
            self.proc = subprocess.Popen(
                [driftline_script(), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                stdout=out, stderr=subprocess.STDOUT, env=env, cwd=log.parent)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def tail(self, chars: int = 4000) -> str:
        return self.text()[-chars:]

    def count(self, pattern: str) -> int:
        """How many log lines match ``pattern`` (a regular expression)."""
        return len(re.findall(pattern, self.text(), flags=re.MULTILINE))

    def wait_for_log(self, pattern: str, times: int = 1, timeout_seconds: float = 30.0) -> None:
        """Until ``pattern`` has appeared ``times`` times in the log (polled every 10 ms)."""
        deadline = time.monotonic() + timeout_seconds
        while self.count(pattern) < times:
            self._alive(f"waiting for {pattern!r} in its log")
            if time.monotonic() > deadline:
                raise AssertionError(f"no {times}x {pattern!r} in {timeout_seconds} s; log:\n{self.tail()}")
            time.sleep(0.01)

    def wait_ready(self, timeout_seconds: float = 60.0) -> None:
        """Until ``/readyz`` answers 200."""
        deadline = time.monotonic() + timeout_seconds
        while True:
            self._alive("starting")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=2).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError(f"not ready after {timeout_seconds} s; log:\n{self.tail()}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def stop(self, timeout_seconds: float = 20.0) -> None:
        """SIGTERM, and check that the app shut down cleanly.

        uvicorn re-raises the signal once its shutdown is complete, so a clean stop exits with
        -SIGTERM (or 0) after logging "Application shutdown complete".
        """
        self._alive("about to be stopped")
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout_seconds)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
            raise AssertionError(f"did not stop within {timeout_seconds} s of SIGTERM; log:\n{self.tail()}") from None
        clean = self.proc.returncode in (0, -signal.SIGTERM) and "Application shutdown complete" in self.text()
        assert clean, f"unclean stop (exit {self.proc.returncode}); log:\n{self.tail()}"

    def _alive(self, doing: str) -> None:
        if self.proc.poll() is not None:
            raise AssertionError(f"driftline serve exited with {self.proc.returncode} while {doing}; "
                                 f"log:\n{self.tail()}")


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., ServeProcess]]:
    """Start ``driftline serve`` processes: ``serve(database_url, config, **extra_env)``.

    Logs are ``tmp_path/serve-<n>.log``; processes still running at teardown are killed.
    """
    started: list[ServeProcess] = []

    def start(database_url: str, config: Path, **extra: str) -> ServeProcess:
        process = ServeProcess(service_env(database_url, config, **extra), tmp_path / f"serve-{len(started)}.log")
        started.append(process)
        return process

    yield start
    for process in started:
        if process.proc.poll() is None:
            process.proc.kill()
            process.proc.wait(timeout=10)


@pytest.fixture
def run_driftline(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """Run ``driftline ARGS`` to completion: ``run_driftline(args, database_url, config, **extra_env)``."""

    def run(args: list[str], database_url: str, config: Path, **extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([driftline_script(), *args], env=service_env(database_url, config, **extra),
                              capture_output=True, text=True, timeout=120, cwd=tmp_path)

    return run


@pytest.fixture
def pg_url(postgres_url: str) -> Iterator[str]:
    """A schema of its own in the session's PostgreSQL database (through ``search_path``), dropped after.

    Skips (or fails under ``CI=true``) without a PostgreSQL server, through ``postgres_url``.
    """
    with postgres_schema(postgres_url, "e2e") as url:
        yield url
