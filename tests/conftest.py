"""Shared test configuration: hypothesis profiles (`dev` locally, `ci` under CI=true), real services."""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NoReturn

import pytest
from hypothesis import HealthCheck, settings

os.environ.setdefault("DO_NOT_TRACK", "1")  # Evidently's telemetry, before anything imports it

settings.register_profile("dev", max_examples=60, deadline=None)
settings.register_profile(
    "ci", max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci" if os.environ.get("CI") == "true" else "dev")


# -- real services: skip on a laptop without them, fail under CI=true -----------------------------

#: Where the development PostgreSQL listens (trust auth); each session creates its own database there.
POSTGRES_ADMIN_URL = os.environ.get("DRIFTLINE_TEST_POSTGRES_URL",
                                    "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def service_unavailable(reason: str) -> NoReturn:
    """Skip a test whose real service is missing, except under ``CI=true``, where CI must not skip."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: real services are required, tests never skip)", pytrace=False)
    pytest.skip(reason)


@contextmanager
def postgres_schema(postgres_url: str, prefix: str) -> Iterator[str]:
    """A URL of a schema of its own (``<prefix>_<random>``) in the session's PostgreSQL database,
    reached through ``search_path``; the schema is dropped afterwards, so tests never see each
    other's rows."""
    import sqlalchemy as sa

    base = sa.make_url(postgres_url)
    schema = f"{prefix}_{secrets.token_hex(6)}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        yield base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            # A killed client's backend may hold its locks until the server notices the closed socket.
            conn.exec_driver_sql("SET lock_timeout = '30s'")
            conn.exec_driver_sql(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL database for this test session (``driftline_test_<random>``), dropped at the end."""
    import sqlalchemy as sa

    admin = sa.create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"driftline_test_{secrets.token_hex(4)}"
    where = admin.url.render_as_string(hide_password=True)
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.SQLAlchemyError as exc:
        admin.dispose()
        first = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
        service_unavailable(f"PostgreSQL is not reachable at {where}: {first}")
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
