"""The composition root: what the lifespan builds, starts and closes."""

from __future__ import annotations

import sys
import types

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pydantic import SecretStr

from monitor.app import create_app
from monitor.config import DriftlineConfig, Settings
from tests.fakes import FakeService, FakeStore

pytestmark = pytest.mark.anyio


async def test_given_store_and_service_are_started_stopped_and_on_state(config: DriftlineConfig, store: FakeStore,
                                                                       service: FakeService) -> None:
    settings = Settings(api_keys=SecretStr("k-1234567890"))
    app = create_app(settings, config, store=store, service=service)
    assert not service.started  # nothing happens before the lifespan
    async with LifespanManager(app):
        assert service.started and not service.stopped
        state = app.state
        assert (state.store, state.service, state.config, state.settings) == (store, service, config, settings)
    assert service.stopped
    assert not store.disposed and not store.upgraded  # a store passed in belongs to the caller


async def test_without_a_store_one_is_opened_upgraded_and_disposed(monkeypatch: pytest.MonkeyPatch,
                                                                   config: DriftlineConfig) -> None:
    opened: list[tuple[str, FakeStore]] = []
    built: list[FakeService] = []

    class Store(FakeStore):
        @classmethod
        def from_url(cls, url: str, config: DriftlineConfig) -> FakeStore:
            store = cls(config)
            opened.append((url, store))
            return store

    from monitor.service import SystemClock

    class MonitorService(FakeService):
        def __init__(self, settings: Settings, config: DriftlineConfig, store: FakeStore, **wiring: object) -> None:
            super().__init__(config, store)
            self.wiring = wiring
            built.append(self)

    monkeypatch.setitem(sys.modules, "monitor.storage.store", types.SimpleNamespace(Store=Store))
    monkeypatch.setitem(sys.modules, "monitor.service",
                        types.SimpleNamespace(MonitorService=MonitorService, SystemClock=SystemClock))
    settings = Settings(database_url="sqlite:///:memory:", api_keys=SecretStr("k-1234567890"))
    app = create_app(settings, config)
    async with LifespanManager(app) as manager:
        (url, store), = opened
        assert url == "sqlite:///:memory:" and store.upgraded and not store.disposed
        service, = built
        assert service.store is store and service.started
        assert service.wiring["alerts"] is app.state.alerts is not None  # type: ignore[attr-defined]
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://t") as c:
            assert (await c.get("/readyz")).status_code == 200
    assert service.stopped and store.disposed


async def test_a_failing_upgrade_disposes_of_the_store(monkeypatch: pytest.MonkeyPatch,
                                                       config: DriftlineConfig) -> None:
    from monitor.errors import StorageError

    stores: list[FakeStore] = []

    class Store(FakeStore):
        @classmethod
        def from_url(cls, url: str, config: DriftlineConfig) -> FakeStore:
            stores.append(cls(config))
            stores[-1].fail = "migration failed"
            return stores[-1]

    monkeypatch.setitem(sys.modules, "monitor.storage.store", types.SimpleNamespace(Store=Store))
    with pytest.raises(StorageError):
        async with LifespanManager(create_app(Settings(), config)):
            pass
    assert stores[0].disposed


def test_importing_the_app_creates_nothing() -> None:
    import monitor.app

    assert not [v for v in vars(monitor.app).values() if type(v).__name__ in ("FastAPI", "Store", "MonitorService")]
