"""API keys: every write needs one of the configured keys; reads do not."""

from __future__ import annotations

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pydantic import SecretStr

from monitor.app import create_app
from monitor.config import DriftlineConfig, Settings
from tests.api.helpers import API_KEY, OTHER_KEY, auth, prediction_rows
from tests.fakes import FakeService, FakeStore

pytestmark = pytest.mark.anyio

WRITES = [
    ("/v1/models/churn/predictions", prediction_rows(1)),
    ("/v1/models/churn/labels", [{"prediction_id": "p-0", "label": "stay"}]),
    ("/v1/monitors/churn/runs", None),
    ("/v1/monitors/churn/reference", prediction_rows(1)),
]


def _refused(r: httpx.Response) -> None:
    assert r.status_code == 401
    assert r.json() == {"detail": "missing or invalid API key"}
    assert r.headers["WWW-Authenticate"] == "Bearer"
    assert API_KEY not in r.text and OTHER_KEY not in r.text


@pytest.mark.parametrize(("url", "body"), WRITES)
@pytest.mark.parametrize("headers", [
    {},
    {"Authorization": f"Basic {API_KEY}"},
    {"Authorization": "Bearer "},
    {"Authorization": "Bearer wrong-key"},
    {"Authorization": f"Bearer {API_KEY}x"},
    {"Authorization": f"Bearer {API_KEY[:-1]}"},
], ids=["missing", "basic", "empty", "wrong", "longer", "prefix"])
async def test_writes_without_a_valid_key_are_401(client: httpx.AsyncClient, store: FakeStore, url: str,
                                                  body: object, headers: dict[str, str]) -> None:
    _refused(await client.post(url, json=body, headers=headers))
    assert store.ingest_calls == [] and store.label_calls == [] and store.latest_runs() == {}


async def test_the_key_is_checked_before_the_body_is_read(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/models/churn/predictions", content=b"x" * 2_000_000,
                          headers={"Content-Type": "text/plain"})
    _refused(r)


@pytest.mark.parametrize("key", [API_KEY, OTHER_KEY])
async def test_any_configured_key_is_accepted(client: httpx.AsyncClient, key: str) -> None:
    r = await client.post("/v1/models/churn/predictions", json=prediction_rows(1), headers=auth(key))
    assert r.status_code == 200


async def test_the_scheme_is_case_insensitive(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/models/churn/predictions", json=prediction_rows(1),
                          headers={"Authorization": f"bearer {API_KEY}"})
    assert r.status_code == 200


async def test_reads_need_no_key(client: httpx.AsyncClient) -> None:
    for url in ("/v1/monitors", "/v1/monitors/churn/runs", "/v1/monitors/churn/references", "/healthz"):
        assert (await client.get(url)).status_code == 200, url


async def test_with_no_keys_configured_every_write_is_refused(config: DriftlineConfig, store: FakeStore,
                                                              service: FakeService) -> None:
    app = create_app(Settings(api_keys=SecretStr("")), config, store=store, service=service)
    async with LifespanManager(app) as manager:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://test") as c:
            for headers in ({}, {"Authorization": "Bearer "}, {"Authorization": "Bearer anything"}):
                _refused(await c.post("/v1/models/churn/predictions", json=prediction_rows(1), headers=headers))


async def test_keys_are_never_logged(client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("DEBUG")
    await client.post("/v1/models/churn/predictions", json=prediction_rows(1), headers=auth())
    await client.post("/v1/models/churn/predictions", json=prediction_rows(1), headers=auth("guess-1234"))
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" for r in caplog.records)
    assert API_KEY not in logged and "guess-1234" not in logged
