"""One parametrised fixture runs every storage contract test on SQLite and on a real PostgreSQL.

PostgreSQL tests share the session's database (see ``postgres_url`` in tests/conftest.py) but
each test gets a schema of its own through ``search_path``, dropped afterwards, so tests never
see each other's rows. Teardown asserts that no pooled connection was left checked out.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from monitor.config import DriftlineConfig
from monitor.storage import Store
from tests.storage.builders import CHURN, CHURN_BY_ROWS, PRICE, config_of


@pytest.fixture
def config() -> DriftlineConfig:
    return config_of(CHURN, CHURN_BY_ROWS, PRICE)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """A URL of an empty database: a SQLite file, or a fresh schema in the session's PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'driftline.db'}"
        return
    base = sa.make_url(request.getfixturevalue("postgres_url"))
    schema = f"t_{secrets.token_hex(6)}"
    admin = sa.create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        yield base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def make_store(database_url: str) -> Iterator[Callable[[DriftlineConfig], Store]]:
    """Build stores on the test database; each is checked for leaked connections and disposed."""
    stores: list[Store] = []

    def make(config: DriftlineConfig) -> Store:
        store = Store.from_url(database_url, config)
        stores.append(store)
        return store

    yield make
    for store in stores:
        assert store.engine.pool.checkedout() == 0, "a connection was left checked out"  # type: ignore[attr-defined]
        store.dispose()


@pytest.fixture
def store(make_store: Callable[[DriftlineConfig], Store], config: DriftlineConfig) -> Store:
    s = make_store(config)
    s.upgrade()
    return s
