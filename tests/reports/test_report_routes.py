"""The report routes and the index page, over the fakes: status codes, content type, which run is shown."""

from __future__ import annotations

import base64
import hashlib
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pydantic import SecretStr

from monitor.app import create_app
from monitor.config import DriftlineConfig, Settings
from monitor.domain import RunStatus
from tests.fakes import FakeService, FakeStore, make_run
from tests.reports._data import Elements, make_config

pytestmark = pytest.mark.anyio

END = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


@pytest.fixture()
def config() -> DriftlineConfig:
    return make_config()


@pytest.fixture()
def store(config: DriftlineConfig) -> FakeStore:
    return FakeStore(config)


@pytest.fixture()
def service(config: DriftlineConfig, store: FakeStore) -> FakeService:
    return FakeService(config, store)


@pytest.fixture()
async def client(config: DriftlineConfig, store: FakeStore, service: FakeService) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(Settings(api_keys=SecretStr("k-1234567890abcdef"), scheduler=True), config,
                     store=store, service=service)
    async with LifespanManager(app) as manager:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://test") as c:
            yield c


async def test_a_runs_report_is_an_html_page(client: httpx.AsyncClient, store: FakeStore,
                                             config: DriftlineConfig) -> None:
    run = make_run(config.monitor("churn"), window_end=END, status=RunStatus.DRIFT)
    store.save_run(run)
    r = await client.get(f"/v1/runs/{run.id}/report")
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert r.headers["content-security-policy"].startswith("default-src 'none'")
    # The served header allows exactly the script the served page carries, by its SHA-256.
    (script,) = re.findall(r"<script>(.*?)</script>", r.text, re.DOTALL)
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
    directives = dict(d.strip().split(" ", 1) for d in r.headers["content-security-policy"].split(";"))
    assert directives["script-src"] == f"'sha256-{digest}'"
    assert Elements(r.text).by_id("dataset-verdict")["data-dataset-drift"] == "false"
    assert run.id in r.text


async def test_an_unknown_runs_report_is_404(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/runs/nope/report")
    assert (r.status_code, r.json()) == (404, {"detail": "no run with id 'nope'"})


async def test_a_monitors_report_is_its_latest_run_that_has_results(
    client: httpx.AsyncClient, store: FakeStore, service: FakeService, config: DriftlineConfig
) -> None:
    monitor = config.monitor("churn")
    older = make_run(monitor, window_end=END - timedelta(hours=2), status=RunStatus.OK)
    drift = make_run(monitor, window_end=END - timedelta(hours=1), status=RunStatus.DRIFT)
    store.save_run(older)
    store.save_run(drift)
    for i, status in enumerate([RunStatus.ERROR, RunStatus.INSUFFICIENT_DATA] * 60):  # more than a page
        store.save_run(make_run(monitor, window_end=END + timedelta(minutes=i), status=status))
    r = await client.get("/v1/monitors/churn/report")
    assert r.status_code == 200 and drift.id in r.text
    assert service.reports == [drift.id]


async def test_a_monitor_without_a_finished_run_has_no_report(
    client: httpx.AsyncClient, store: FakeStore, config: DriftlineConfig
) -> None:
    store.save_run(make_run(config.monitor("churn"), window_end=END, status=RunStatus.ERROR))
    r = await client.get("/v1/monitors/churn/report")
    assert (r.status_code, r.json()) == (404, {"detail": "monitor 'churn' has no run with status ok or drift"})
    r = await client.get("/v1/monitors/nobody/report")
    assert (r.status_code, r.json()) == (404, {"detail": "no monitor named 'nobody'"})


async def test_the_index_lists_monitors_runs_and_links(client: httpx.AsyncClient, store: FakeStore,
                                                       config: DriftlineConfig) -> None:
    run = make_run(config.monitor("churn"), window_end=END, status=RunStatus.DRIFT)
    store.save_run(run)
    r = await client.get("/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    elements = Elements(r.text)
    hrefs = {a["href"] for t, a in elements.tags if t == "a"}
    assert {f"/v1/runs/{run.id}/report", f"/v1/runs/{run.id}", "/docs", "/metrics"} <= hrefs
    assert [a["data-run"] for a in elements.with_class("run-row", "tr")] == [run.id]
    # Every link resolves (/metrics needs the real store's aggregates: the Chromium test follows it).
    for href in sorted(h for h in hrefs if h.startswith("/") and h != "/metrics"):
        assert (await client.get(href)).status_code == 200, href


async def test_the_index_is_503_when_the_store_is_down(client: httpx.AsyncClient, store: FakeStore) -> None:
    store.fail = "down"
    r = await client.get("/")
    assert (r.status_code, r.json()) == (503, {"detail": "storage unavailable"})
