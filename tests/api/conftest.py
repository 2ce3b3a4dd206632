"""API test fixtures: a small configuration, fakes, and a client through the app's lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pydantic import SecretStr

from monitor.app import create_app
from monitor.config import DriftlineConfig, Settings
from tests.api.helpers import API_KEY, OTHER_KEY
from tests.conftest import postgres_schema
from tests.fakes import FakeService, FakeStore


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def config() -> DriftlineConfig:
    """Two monitors on one classification model (different features), one regression model."""
    return DriftlineConfig.model_validate({"monitors": [
        {"name": "churn", "model": "churn", "every": "15m", "window": {"last": "1h"},
         "schema": {"numerical": ["age", "income"], "categorical": ["plan"], "prediction_score": "score"}},
        {"name": "churn-daily", "model": "churn", "cron": "0 3 * * *", "window": {"rows": 5000},
         "schema": {"numerical": ["age"], "categorical": ["region"]}},
        {"name": "price", "model": "price", "every": "1h",
         "schema": {"numerical": ["sqft"], "categorical": ["city"], "task": "regression"}},
    ]})


@pytest.fixture
def settings() -> Settings:
    return Settings(api_keys=SecretStr(f"{API_KEY},{OTHER_KEY}"), max_body_bytes=1_000_000, scheduler=True)


@pytest.fixture
def store(config: DriftlineConfig) -> FakeStore:
    return FakeStore(config)


@pytest.fixture
def service(config: DriftlineConfig, store: FakeStore) -> FakeService:
    return FakeService(config, store)


@pytest.fixture
async def client(settings: Settings, config: DriftlineConfig, store: FakeStore,
                 service: FakeService) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings, config, store=store, service=service)
    async with LifespanManager(app) as manager:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://test") as c:
            yield c


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """SQLite in a temporary file, or a schema of its own in the session's PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'driftline.db'}"
        return
    with postgres_schema(request.getfixturevalue("postgres_url"), "api") as url:
        yield url  # skips (or fails under CI) without a server, through postgres_url
