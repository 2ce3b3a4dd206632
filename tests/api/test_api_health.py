"""/healthz, /readyz and the OpenAPI document."""

from __future__ import annotations

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pydantic import SecretStr

from monitor.app import create_app
from monitor.config import DriftlineConfig, Settings
from tests.fakes import FakeService, FakeStore

pytestmark = pytest.mark.anyio


async def test_healthz_is_ok_even_when_the_store_is_down(client: httpx.AsyncClient, store: FakeStore) -> None:
    store.fail = "down"
    r = await client.get("/healthz")
    assert (r.status_code, r.json()) == (200, {"status": "ok"})


async def test_readyz_is_ready_when_store_and_scheduler_are(client: httpx.AsyncClient) -> None:
    r = await client.get("/readyz")
    assert (r.status_code, r.json()) == (200, {"status": "ready", "checks": {"store": "ok", "store_writes": "ok", "scheduler": "ok"}})


async def test_readyz_is_503_naming_the_store_without_its_error(client: httpx.AsyncClient, store: FakeStore) -> None:
    store.fail = "could not connect to postgresql://driftline:s3cret@10.0.0.5/driftline"
    r = await client.get("/readyz")
    assert r.status_code == 503
    assert r.json() == {"status": "unavailable", "checks": {"store": "failed", "store_writes": "failed",
                                                     "scheduler": "ok"}}
    assert "s3cret" not in r.text and "10.0.0.5" not in r.text


async def test_readyz_is_503_when_the_scheduler_stopped(client: httpx.AsyncClient, service: FakeService) -> None:
    service.running = False
    r = await client.get("/readyz")
    assert r.status_code == 503
    assert r.json()["checks"] == {"store": "ok", "store_writes": "ok", "scheduler": "stopped"}


async def test_readyz_ignores_a_disabled_scheduler(config: DriftlineConfig, store: FakeStore,
                                                   service: FakeService) -> None:
    service.running = False
    settings = Settings(api_keys=SecretStr("k-1234567890"), scheduler=False)
    async with LifespanManager(create_app(settings, config, store=store, service=service)) as manager:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://test") as c:
            r = await c.get("/readyz")
    assert (r.status_code, r.json()["checks"]) == (200, {"store": "ok", "store_writes": "ok", "scheduler": "disabled"})


async def test_the_openapi_document_lists_every_route(client: httpx.AsyncClient) -> None:
    doc = (await client.get("/openapi.json")).json()
    routes = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert routes == {
        ("/v1/models/{model}/predictions", "post"), ("/v1/models/{model}/labels", "post"),
        ("/v1/monitors", "get"), ("/v1/monitors/{name}/runs", "get"), ("/v1/monitors/{name}/runs", "post"),
        ("/v1/monitors/{name}/reference", "post"), ("/v1/monitors/{name}/references", "get"),
        ("/v1/runs/{run_id}", "get"), ("/v1/runs/{run_id}/report", "get"), ("/v1/monitors/{name}/report", "get"),
        ("/healthz", "get"), ("/readyz", "get"),
        ("/v1/alertmanager/webhook", "post"), ("/v1/alertmanager/notifications", "get"), ("/v1/retrain-jobs", "get"), ("/v1/retrain-jobs/{job_id}", "get"),
        ("/v1/retrain-jobs/{job_id}/complete", "post"), ("/v1/deliveries", "get"), ("/metrics", "get"),
    }
    ingest = doc["paths"]["/v1/models/{model}/predictions"]["post"]
    assert set(ingest["requestBody"]["content"]) >= {"application/json", "application/x-ndjson", "text/csv",
                                                     "application/vnd.apache.parquet"}
    assert ingest["security"] == [{"apiKey": []}]
    assert "security" not in doc["paths"]["/v1/monitors"]["get"]
    assert ingest["responses"]["422"]["content"]["application/json"]["schema"]["$ref"].endswith(
        "ValidationErrorBody")
    assert (await client.get("/docs")).status_code == 200
