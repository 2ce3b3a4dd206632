"""``driftline serve --workers N``: N uvicorn worker processes, the scheduler in exactly one.

uvicorn's supervisor (the parent process) binds the socket and starts N workers, restarting any
that dies. Each worker builds the app from the environment (:func:`worker_app`, a factory uvicorn
calls in the worker) and takes part in an election on PostgreSQL: the worker that holds the
session-level advisory lock :data:`LOCK_KEY` runs the scheduler (monitor runs, the outbox
deliverer, retention, the flush of runs kept through an outage); the others only serve HTTP.

- The lock is taken when a worker starts (tried for :data:`ELECT_SECONDS`), on a connection of
  its own held for the life of the process; PostgreSQL releases it when that connection ends,
  which a killed process's does at once.
- When the leader dies, the supervisor starts a replacement, which takes the lock at start and
  so runs the scheduler; the other workers go on serving. A worker without the lock checks it
  every :data:`RETRY_SECONDS` (and lets it go at once); should it find it free :data:`FREE_CHECKS`
  times in a row (no replacement took it, e.g. the database was down when it started), it shuts
  itself down gracefully (SIGTERM: requests in flight finish) and its own replacement takes the
  lock at start. A running service never starts its scheduler late, so the rule "scheduler iff
  lock held at start" stays simple.
- The leader checks its lock connection as often; lost (a PostgreSQL restart), it takes the lock
  again, or, if another worker has it by then, shuts itself down the same way.

Two schedulers can overlap only for those few seconds after a database restart, and a window
is never run twice even then: a second run of one window is refused (``DuplicateRun``).
SQLite has one writer and no advisory locks: ``serve`` refuses ``--workers`` above 1 on it.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import threading
import time
from typing import TYPE_CHECKING

import sqlalchemy as sa

if TYPE_CHECKING:
    from fastapi import FastAPI

__all__ = ["ELECT_SECONDS", "FREE_CHECKS", "LOCK_KEY", "RETRY_SECONDS", "Election", "worker_app"]

logger = logging.getLogger(__name__)

#: The advisory lock of the scheduler (any fixed 64-bit number; "driftline" in ASCII, truncated).
LOCK_KEY = 0x647269_66746C
#: How long a starting worker tries to take the lock.
ELECT_SECONDS = 1.0
#: How often a worker checks the lock after start.
RETRY_SECONDS = 3.0
#: Consecutive checks (about a minute) a follower must find the lock free before it restarts to take it:
#: longer than a replacement takes to start on a loaded machine.
FREE_CHECKS = 20


class Election:
    """The scheduler lock of one worker process: who holds it, and a thread that watches it."""

    def __init__(self, database_url: str) -> None:
        from sqlalchemy.pool import NullPool

        from monitor.storage._engine import create_engine

        self._engine = sa.create_engine(create_engine(database_url).url, poolclass=NullPool)
        self._conn: sa.Connection | None = None
        self.leader = False
        self._stop = threading.Event()

    def _try(self) -> bool:
        """Take the lock on a fresh connection (kept while held); False if another process has it."""
        conn = self._engine.connect()
        try:
            won = bool(conn.scalar(sa.select(sa.func.pg_try_advisory_lock(LOCK_KEY))))
            conn.commit()  # a session lock outlives the transaction
        except BaseException:
            conn.close()
            raise
        if won:
            self._conn = conn
        else:
            conn.close()
        return won

    def _held(self) -> bool:
        """Whether the lock connection still answers (a PostgreSQL restart ends it, and the lock)."""
        if self._conn is None:
            return False
        try:
            self._conn.exec_driver_sql("SELECT 1")
            self._conn.commit()
            return True
        except sa.exc.SQLAlchemyError:
            self._conn.invalidate()
            self._conn = None
            return False

    def elect(self) -> bool:
        """At start: try to take the lock for :data:`ELECT_SECONDS`; whether this worker leads."""
        deadline = time.monotonic() + ELECT_SECONDS
        while True:
            try:
                self.leader = self._try()
            except sa.exc.SQLAlchemyError as exc:
                logger.warning("scheduler election: the database is unreachable (%s)", type(exc).__name__)
                self.leader = False
            if self.leader or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        logger.info("scheduler election: this worker %s the scheduler",
                    "runs" if self.leader else "does not run", extra={"pid": os.getpid(), "leader": self.leader})
        threading.Thread(target=self._watch, name="scheduler-election", daemon=True).start()
        return self.leader

    def _release(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            conn.close()  # the session ends, and its lock with it

    def _watch(self) -> None:
        free = 0  # consecutive checks a follower found the lock free
        while not self._stop.wait(RETRY_SECONDS * random.uniform(0.8, 1.2)):  # jitter: workers do not retry in step
            try:
                if self.leader and self._held():
                    continue
                if self._try():
                    if self.leader:
                        logger.warning("scheduler election: lock lost and taken again")
                        continue
                    # Free: the leader died. Its replacement (the supervisor restarts it) takes the lock
                    # at start; only if nobody has for FREE_CHECKS checks does this worker restart to.
                    self._release()
                    free += 1
                    if free < FREE_CHECKS:
                        continue
                    logger.warning("scheduler election: no worker runs the scheduler; restarting this worker "
                                   "to run it")
                elif self.leader:
                    logger.warning("scheduler election: another worker holds the lock now; restarting")
                else:
                    free = 0
                    continue
            except sa.exc.SQLAlchemyError:
                continue  # the database is down: keep what we are, try again later
            self._stop.set()
            os.kill(os.getpid(), signal.SIGTERM)  # uvicorn shuts down gracefully; the supervisor restarts us

    def close(self) -> None:
        self._stop.set()
        if self._conn is not None:
            try:
                self._conn.close()
            except sa.exc.SQLAlchemyError:
                pass
        self._engine.dispose()


def worker_app() -> FastAPI:
    """The app of one worker of ``serve --workers N`` (a factory uvicorn calls in each worker).

    Settings and ``driftline.yaml`` come from the environment, as for ``serve`` (the parent sets
    ``DRIFTLINE_CONFIG`` from ``--config``); the scheduler runs iff this worker wins the election.
    """
    from monitor import logs
    from monitor.app import create_app
    from monitor.config import Settings, load_config

    logs.configure(None)
    settings = Settings()
    config = load_config(settings.config)
    election = Election(settings.database_url)
    leader = election.elect() and settings.scheduler
    app = create_app(settings.model_copy(update={"scheduler": leader}), config)
    app.state.election = election
    return app
