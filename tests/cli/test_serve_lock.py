"""One ``driftline serve`` per SQLite file (monitor.serve_lock): a second refuses, a dead one's lock is gone."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from monitor.errors import ConfigError
from monitor.serve_lock import hold_sqlite_serve_lock

_HOLD = "import sys; from monitor.serve_lock import hold_sqlite_serve_lock as h; l = h(sys.argv[1]); print('held', flush=True); sys.stdin.read()"


def test_a_second_server_of_one_sqlite_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'driftline.db'}"
    first = hold_sqlite_serve_lock(url)
    assert first is not None
    try:
        with pytest.raises(ConfigError, match=r"already served by pid \d+: SQLite runs one `driftline serve`") as err:
            hold_sqlite_serve_lock(url)
        assert str(tmp_path / "driftline.db") in str(err.value) and err.value.path == "database_url"
        other = hold_sqlite_serve_lock(f"sqlite:///{tmp_path / 'other.db'}")  # another file is free
        assert other is not None
        other.close()
    finally:
        first.close()
    again = hold_sqlite_serve_lock(url)  # released with its file
    assert again is not None
    again.close()


def test_the_lock_of_a_killed_server_is_released_by_the_kernel(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'driftline.db'}"
    with subprocess.Popen([sys.executable, "-c", _HOLD, url], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          text=True) as holder:
        try:
            assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
            with pytest.raises(ConfigError, match=f"already served by pid {holder.pid}"):
                hold_sqlite_serve_lock(url)
        finally:
            holder.kill()  # SIGKILL: no cleanup code runs
            holder.wait(timeout=10)
    lock = hold_sqlite_serve_lock(url)
    assert lock is not None
    lock.close()


def test_postgresql_and_in_memory_sqlite_take_no_lock() -> None:
    assert hold_sqlite_serve_lock("postgresql+psycopg://u@127.0.0.1:5432/db") is None
    assert hold_sqlite_serve_lock("sqlite://") is None
    assert hold_sqlite_serve_lock("sqlite:///:memory:") is None
