"""One ``driftline serve`` per SQLite file: a second one would run every window again.

SQLite has one writer and no shared leases, so replicas are PostgreSQL's (docs/scaling.md). A
serving process holds an exclusive ``flock`` on ``<database>.serve.lock`` beside the file for
its life; the kernel drops it when the process ends, however it ends (SIGKILL included), so a
crashed server never leaves a stale lock behind. A second ``serve`` finds it held and refuses.
"""

from __future__ import annotations

import fcntl
import os
from typing import IO

import sqlalchemy as sa

from monitor.errors import ConfigError

__all__ = ["hold_sqlite_serve_lock"]


def hold_sqlite_serve_lock(database_url: str) -> IO[str] | None:
    """Lock the SQLite file of ``database_url`` for this process (the open lock file; keep it), or None.

    None for PostgreSQL and for an in-memory SQLite database. :class:`ConfigError` (exit 2) if
    another process serves the same file.
    """
    url = sa.make_url(database_url)
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    path = os.path.abspath(url.database)
    lock = open(f"{path}.serve.lock", "a+", encoding="utf-8")  # held for the life of the process
    try:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "another process"
        lock.close()
        raise ConfigError(f"the SQLite database {path} is already served by {holder}: SQLite runs one "
                          "`driftline serve` process (a second would run every window again); stop it, or "
                          "use PostgreSQL for several replicas (docs/scaling.md)", path="database_url") from None
    lock.truncate(0)
    lock.write(f"pid {os.getpid()}\n")
    lock.flush()
    return lock
