"""HTTP request metrics by route template (bounded labels) and the process series on /metrics."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from monitor.api.http_metrics import BUCKETS, UNMATCHED, HttpMetricsMiddleware, LiveMetrics
from monitor.app import create_app
from monitor.config import DriftlineConfig, Settings
from tests.api.helpers import API_KEY

pytestmark = pytest.mark.anyio

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def samples(text: str) -> Samples:
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def requests(got: Samples) -> dict[tuple[str, str, str], float]:
    return {(dict(labels)["route"], dict(labels)["method"], dict(labels)["status"]): v
            for (name, labels), v in got.items() if name == "driftline_http_requests_total"}


def small_app(metrics: LiveMetrics) -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: int) -> dict[str, int]:
        return {"id": item_id}

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("boom")

    app.add_middleware(HttpMetricsMiddleware, metrics=metrics)
    return app


@pytest.fixture
async def small() -> AsyncIterator[tuple[httpx.AsyncClient, LiveMetrics]]:
    metrics = LiveMetrics()
    transport = httpx.ASGITransport(app=small_app(metrics), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client, metrics


async def test_requests_are_counted_by_route_template_method_and_status(
        small: tuple[httpx.AsyncClient, LiveMetrics]) -> None:
    client, metrics = small
    for path in ("/items/1", "/items/2", "/items/3", "/items/x"):
        await client.get(path)
    await client.post("/items/1")  # the path matches, the method does not: 405 on the route
    await client.get("/no/such/path")
    await client.request("BREW", "/items/1")
    assert (await client.get("/boom")).status_code == 500
    got = samples(metrics.render().decode())
    assert requests(got) == {
        ("/items/{item_id}", "GET", "200"): 3.0, ("/items/{item_id}", "GET", "422"): 1.0,
        ("/items/{item_id}", "POST", "405"): 1.0, (UNMATCHED, "GET", "404"): 1.0,
        ("/items/{item_id}", "other", "405"): 1.0, ("/boom", "GET", "500"): 1.0,
    }
    item = (("route", "/items/{item_id}"),)
    assert got[("driftline_http_request_duration_seconds_count", item)] == 6.0
    assert got[("driftline_http_request_duration_seconds_bucket", (("le", "+Inf"), *item))] == 6.0
    assert 0 < got[("driftline_http_request_duration_seconds_sum", item)] < 6 * BUCKETS[-1]
    # The process and platform collectors sit in the same registry.
    assert got[("process_cpu_seconds_total", ())] > 0
    assert any(name == "python_info" for name, _ in got)


async def test_raw_paths_never_become_label_values(small: tuple[httpx.AsyncClient, LiveMetrics]) -> None:
    client, metrics = small
    for i in range(200):
        await client.get(f"/items/{i}")
        await client.get(f"/random-{i}")
    got = samples(metrics.render().decode())
    assert {route for route, _, _ in requests(got)} == {"/items/{item_id}", UNMATCHED}
    histograms = {k for k in got if k[0].startswith("driftline_http_request_duration_seconds")}
    assert len(histograms) == 2 * (len(BUCKETS) + 4)  # two routes x (buckets, +Inf, _sum, _count, _created)


async def test_the_service_metrics_page_has_http_process_and_public_url_series(tmp_path: Path) -> None:
    config = DriftlineConfig.model_validate({"monitors": [
        {"name": "churn", "model": "churn", "every": "15m",
         "schema": {"numerical": ["age"], "categorical": ["plan"]}}]})
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'driftline.db'}", api_keys=SecretStr(API_KEY),
                        scheduler=False, public_url="https://driftline.example.org/")
    app = create_app(settings, config)
    async with LifespanManager(app) as manager:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://test") as c:
            assert (await c.get("/v1/runs/abc")).status_code == 404
            assert (await c.get("/metrics")).status_code == 200
            response = await c.get("/metrics")
    text = response.text
    got = samples(text)
    counted = requests(got)
    assert counted[("/v1/runs/{run_id}", "GET", "404")] == 1.0
    assert counted[("/metrics", "GET", "200")] == 1.0  # the first scrape; this one is still being served
    assert got[("process_resident_memory_bytes", ())] > 0
    assert got[("driftline_public_url_info", (("url", "https://driftline.example.org"),))] == 1.0
    assert got[("driftline_runs_total", (("model", "churn"), ("monitor", "churn"), ("status", "ok")))] == 0.0
    promtool = shutil.which("promtool")
    if promtool is None:
        if os.environ.get("CI") == "true":
            pytest.fail("promtool is missing in CI; scripts/install-monitoring.sh installs it")
        pytest.skip("promtool is not installed (scripts/install-monitoring.sh installs it)")
    proc = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
