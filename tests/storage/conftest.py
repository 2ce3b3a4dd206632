"""One parametrised fixture runs every storage contract test on the fake, SQLite and a real PostgreSQL.

``backend`` is ``fake`` (tests/fakes.py's in-memory ``FakeStore``), ``sqlite`` or ``postgresql``.
A test that exercises what only a database has (raw SQL, migrations, the engine and its pool,
the outbox and the other alerting tables the fake does not implement) carries
``@pytest.mark.real_backends("why")``: it is then parametrised over the two databases only, so the
fake never shows up as a skip that counts as a pass. Everything else also runs on the fake, so a
fake that lies to the API tests fails here.

PostgreSQL tests share the session's database (see ``postgres_url`` in tests/conftest.py) but
each test gets a schema of its own through ``search_path``, dropped afterwards, so tests never
see each other's rows. Teardown asserts that no pooled connection was left checked out.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from monitor.config import DriftlineConfig
from monitor.storage import Store
from tests.conftest import postgres_schema
from tests.fakes import FakeStore
from tests.storage.builders import CHURN, CHURN_BY_ROWS, PRICE, config_of


@pytest.fixture
def config() -> DriftlineConfig:
    return config_of(CHURN, CHURN_BY_ROWS, PRICE)


#: Every backend of the contract, and the real databases among them.
BACKENDS = ("fake", "sqlite", "postgresql")
DATABASES = ("sqlite", "postgresql")

StoreUnderTest = Store | FakeStore


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Parametrise ``backend`` for every test that uses it: the databases only if marked ``real_backends``."""
    if "backend" not in metafunc.fixturenames:
        return
    marker = metafunc.definition.get_closest_marker("real_backends")
    if marker is not None and not (marker.args and str(marker.args[0]).strip()):
        raise pytest.UsageError(f"{metafunc.definition.nodeid}: real_backends needs a reason")
    metafunc.parametrize("backend", DATABASES if marker else BACKENDS, indirect=True)


@pytest.fixture
def backend(request: pytest.FixtureRequest) -> str:
    """Which store the test runs on (parametrised by ``pytest_generate_tests`` above)."""
    return str(request.param)


@pytest.fixture
def database_url(backend: str, request: pytest.FixtureRequest, tmp_path: Any) -> Iterator[str]:
    """A URL of an empty database: a SQLite file, or a fresh schema in the session's PostgreSQL."""
    if backend == "fake":
        raise pytest.UsageError(f"{request.node.nodeid}: the fake has no database URL; mark the test real_backends")
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'driftline.db'}"
        return
    with postgres_schema(request.getfixturevalue("postgres_url"), "t") as url:
        yield url  # skips (or fails under CI) without a server, through postgres_url


@pytest.fixture
def make_store(backend: str, request: pytest.FixtureRequest) -> Iterator[Callable[[DriftlineConfig], StoreUnderTest]]:
    """Build stores on the test backend; real ones are checked for leaked connections and disposed."""
    if backend == "fake":
        yield FakeStore
        return
    database_url = str(request.getfixturevalue("database_url"))
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
def store(make_store: Callable[[DriftlineConfig], StoreUnderTest], config: DriftlineConfig) -> StoreUnderTest:
    s = make_store(config)
    s.upgrade()
    return s
