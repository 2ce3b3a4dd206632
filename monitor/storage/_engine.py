"""Engines for the two supported databases, and the one place database errors become ours.

SQLite gets WAL (readers never wait for the writer), foreign keys (off by default there, and the
results' ON DELETE CASCADE needs them), a busy timeout, and explicit ``BEGIN``: Python's sqlite3
module would otherwise open transactions on its own schedule, outside SQLAlchemy's, and run DDL
outside any transaction. Writes say ``BEGIN IMMEDIATE`` so two writers queue on the busy timeout
instead of deadlocking when both upgrade a read lock to a write lock.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from monitor.errors import ConfigError, DriftlineError, StorageError

__all__ = ["WRITE", "check_dialect", "create_engine", "translate_errors"]

#: Execution option marking a connection that will write (SQLite: ``BEGIN IMMEDIATE``).
WRITE = "driftline_write"


def create_engine(url: str) -> sa.Engine:
    """An engine for ``url``; a bare ``postgresql://`` URL is read as ``postgresql+psycopg://``."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError as exc:
        raise ConfigError("the database URL is not a valid SQLAlchemy URL", path="database_url") from exc
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    _check(parsed.get_backend_name(), parsed.get_driver_name())  # before SQLAlchemy imports a driver
    options: dict[str, Any] = {"pool_pre_ping": True}
    if parsed.get_backend_name() == "sqlite":
        options = {"connect_args": {"timeout": 30}}
        if parsed.database in (None, "", ":memory:"):
            # Every new connection to :memory: is a new, empty database: share one (tests, demos).
            options = {"connect_args": {"check_same_thread": False}, "poolclass": sa.pool.StaticPool}
    engine = sa.create_engine(parsed, **options)
    check_dialect(engine)
    return engine


def _check(name: str, driver: str) -> None:
    if name == "postgresql" and driver != "psycopg":
        raise ConfigError(f"PostgreSQL needs the psycopg 3 driver (postgresql+psycopg://...), not {driver!r}",
                          path="database_url")
    if name not in ("postgresql", "sqlite"):
        raise ConfigError(f"unsupported database {name!r}; use PostgreSQL or SQLite", path="database_url")


def check_dialect(engine: sa.Engine) -> None:
    """Refuse databases the bulk paths do not support; install SQLite's connection settings."""
    _check(engine.dialect.name, engine.dialect.driver)
    if engine.dialect.name == "sqlite" and not event.contains(engine, "connect", _sqlite_connect):
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)


def _sqlite_connect(dbapi_connection: sqlite3.Connection, _record: object) -> None:
    dbapi_connection.isolation_level = None  # we send BEGIN ourselves, see _sqlite_begin
    cursor = dbapi_connection.cursor()
    try:
        for pragma in ("foreign_keys = ON", "busy_timeout = 30000", "journal_mode = WAL", "synchronous = NORMAL"):
            cursor.execute(f"PRAGMA {pragma}")
    finally:
        cursor.close()


def _sqlite_begin(connection: sa.Connection) -> None:
    mode = "IMMEDIATE" if connection.get_execution_options().get(WRITE) else "DEFERRED"
    connection.exec_driver_sql(f"BEGIN {mode}")


def _reason(exc: BaseException) -> str:
    root = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    lines = str(root).strip().splitlines()
    return f"{type(root).__name__}: {lines[0] if lines else 'no message'}"


def _public_reason(exc: BaseException) -> str:
    """Why, in words fit for a client: the failure's class, never the driver's text (it names the
    host, port, user and database of a refused connection, and row values of a refused statement)."""
    root = exc.orig if isinstance(exc, DBAPIError) and exc.orig is not None else exc
    unavailable = (sa.exc.OperationalError, sa.exc.InterfaceError, sa.exc.TimeoutError, sa.exc.DisconnectionError,
                   psycopg.OperationalError, psycopg.InterfaceError, sqlite3.OperationalError)
    what = "the database is unavailable" if isinstance(exc, unavailable) else "the database refused the statement"
    return f"{what} ({type(root).__name__})"


@contextmanager
def translate_errors(engine: sa.Engine, action: str) -> Iterator[None]:
    """Re-raise database errors as :class:`StorageError` naming ``action``, never the infrastructure.

    The message (public: API clients and stored runs see it) is ``action`` and the kind of
    failure; ``detail`` (for logs) adds the URL with its password masked and the driver's first
    line. SQLAlchemy's own messages carry the SQL and its parameters (feature values): neither
    keeps them.
    """
    try:
        yield
    except DriftlineError:
        raise
    except (SQLAlchemyError, psycopg.Error, sqlite3.Error) as exc:
        detail = f"{action} failed on {engine.url.render_as_string(hide_password=True)}: {_reason(exc)}"
        password = engine.url.password
        if password:
            detail = detail.replace(str(password), "***")
        raise StorageError(f"{action} failed: {_public_reason(exc)}", detail=detail) from exc
