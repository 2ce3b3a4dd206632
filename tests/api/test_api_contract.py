"""The OpenAPI document is the contract: declared statuses, one error shape, right content types.

Checked on the document itself (every error response of every operation points at one of the two
error schemas, as JSON), and on behaviour the document promises: an undecodable body is a 422 of
that shape, a store failure is a 503 without infrastructure detail, a read-only store makes the
service not ready, and HTML pages carry the headers a ``<meta>`` policy cannot.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from asgi_lifespan import LifespanManager
from pydantic import SecretStr

from monitor.app import create_app
from monitor.config import DriftlineConfig, Settings
from monitor.storage.store import Store
from tests.api.helpers import API_KEY, auth
from tests.fakes import FakeService, FakeStore, make_run

pytestmark = pytest.mark.anyio

_REF = "#/components/schemas/"
HTML_ROUTES = {("/v1/runs/{run_id}/report", "get"), ("/v1/monitors/{name}/report", "get")}


@pytest.fixture
async def doc(client: httpx.AsyncClient) -> dict[str, Any]:
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    document: dict[str, Any] = r.json()
    return document


def _operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, operations in doc["paths"].items():
        for method, operation in operations.items():
            yield path, method, operation


async def test_every_error_response_is_json_of_one_declared_error_schema(doc: dict[str, Any]) -> None:
    seen: set[str] = set()
    for path, method, operation in _operations(doc):
        for status, response in operation["responses"].items():
            if not status.startswith(("4", "5")) or path == "/readyz":
                continue  # /readyz's 503 is a Readiness body, checked below
            content = response.get("content", {})
            assert set(content) == {"application/json"}, (path, method, status, set(content))
            expected = "ValidationErrorBody" if status == "422" else "ErrorMessage"
            assert content["application/json"]["schema"] == {"$ref": _REF + expected}, (path, method, status)
            seen.add(status)
    assert seen == {"401", "404", "413", "415", "422", "503"}
    schemas = doc["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    assert {"ErrorMessage", "ValidationErrorBody", "ErrorItem"} <= set(schemas)
    ready = doc["paths"]["/readyz"]["get"]["responses"]["503"]["content"]["application/json"]["schema"]
    assert ready == {"$ref": _REF + "Readiness"}


@pytest.mark.parametrize(("path", "method", "statuses"), [
    ("/v1/models/{model}/predictions", "post", {"200", "401", "404", "413", "415", "422", "503"}),
    ("/v1/models/{model}/labels", "post", {"200", "401", "404", "413", "415", "422", "503"}),
    ("/v1/monitors", "get", {"200", "503"}),
    ("/v1/monitors/{name}/runs", "get", {"200", "404", "422", "503"}),
    ("/v1/monitors/{name}/runs", "post", {"201", "401", "404", "422", "503"}),
    ("/v1/monitors/{name}/reference", "post", {"201", "401", "404", "413", "415", "422", "503"}),
    ("/v1/alertmanager/webhook", "post", {"200", "401", "404", "422", "503"}),
    ("/v1/retrain-jobs/{job_id}/complete", "post", {"200", "401", "404", "422", "503"}),
    ("/v1/retrain-jobs", "get", {"200", "404", "422", "503"}),
    ("/v1/runs/{run_id}/report", "get", {"200", "404", "422", "503"}),
])
async def test_each_route_declares_the_statuses_it_can_return(doc: dict[str, Any], path: str, method: str,
                                                             statuses: set[str]) -> None:
    assert set(doc["paths"][path][method]["responses"]) == statuses


async def test_report_routes_declare_html_pages_and_json_errors(doc: dict[str, Any]) -> None:
    for path, method in HTML_ROUTES:
        responses = doc["paths"][path][method]["responses"]
        assert set(responses["200"]["content"]) == {"text/html"}
        assert set(responses["404"]["content"]) == {"application/json"}


async def test_a_reports_404_is_the_declared_json(client: httpx.AsyncClient) -> None:
    for url in ("/v1/runs/nope/report", "/v1/monitors/nope/report", "/v1/monitors/churn/report"):
        r = await client.get(url)
        assert r.status_code == 404 and r.headers["content-type"] == "application/json", url
        assert set(r.json()) == {"detail"} and isinstance(r.json()["detail"], str)


async def test_every_422_has_one_shape(client: httpx.AsyncClient) -> None:
    """A bad query, a body that is not JSON, one that is not UTF-8, and a bad row: all ValidationErrorBody."""
    answers = [
        await client.get("/v1/monitors/churn/runs", params={"limit": "many"}),
        await client.post("/v1/retrain-jobs/x/complete", content=b"{not json", headers=auth(content_type="application/json")),
        await client.post("/v1/retrain-jobs/x/complete", content=b"\xff\xfe\x00{", headers=auth(content_type="application/json")),
        # Not UTF-8 and not a JSON start: FastAPI's own 400 "error parsing the body", mapped to this 422.
        await client.post("/v1/retrain-jobs/x/complete", content=b"O\xefm\x07", headers=auth(content_type="application/json")),
        await client.post("/v1/models/churn/predictions", json=[{"prediction_id": "a"}], headers=auth()),
    ]
    for r in answers:
        assert r.status_code == 422, r.text
        body = r.json()
        assert set(body) == {"detail", "message"} and body["detail"], body
        assert all(set(item) == {"row", "field", "message"} for item in body["detail"]), body
    assert [r.json()["detail"][0]["field"] for r in answers[:4]] == ["limit", "body", "body", "body"]
    assert answers[1].json()["message"] == "body: JSON decode error at character 1"


async def test_framework_refusals_keep_their_status_in_the_error_shape(client: httpx.AsyncClient) -> None:
    missing = await client.get("/v1/nothing-here")
    assert (missing.status_code, missing.json()) == (404, {"detail": "Not Found"})
    wrong = await client.delete("/v1/monitors")
    assert (wrong.status_code, wrong.json()) == (405, {"detail": "Method Not Allowed"})
    assert wrong.headers["allow"] == "GET"


# -- pages --------------------------------------------------------------------------------------


async def test_html_pages_forbid_framing_and_sniffing(client: httpx.AsyncClient, store: FakeStore,
                                                     config: DriftlineConfig) -> None:
    run = make_run(config.monitor("churn"), window_end=datetime(2025, 3, 1, tzinfo=UTC))
    store.save_run(run)
    for url in (f"/v1/runs/{run.id}/report", "/v1/monitors/churn/report", "/"):
        r = await client.get(url)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html"), url
        assert r.headers["x-content-type-options"] == "nosniff"
        policy = [p.strip() for p in r.headers["content-security-policy"].split(";")]
        assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy
        assert r.headers["x-frame-options"] == "DENY"


# -- the store: failures are named, never explained ------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def _client_on(store: Store, config: DriftlineConfig) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(api_keys=SecretStr(API_KEY), scheduler=False)
    app = create_app(settings, config, store=store, service=FakeService(config, FakeStore(config)))
    async with LifespanManager(app) as manager:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://test") as c:
            yield c


async def test_a_real_storage_error_reaches_the_client_without_infrastructure(config: DriftlineConfig) -> None:
    port = _closed_port()
    store = Store.from_url(f"postgresql://leaky_user:pw-7c1e@127.0.0.1:{port}/leaky_db", config)
    try:
        async for client in _client_on(store, config):
            r = await client.get("/v1/runs/some-run")
            ready = await client.get("/readyz")
    finally:
        store.dispose()
    assert (r.status_code, r.json()) == (503, {"detail": "storage unavailable"})
    assert ready.status_code == 503 and ready.json()["checks"]["store"] == "failed"
    for word in ("leaky_user", "pw-7c1e", "leaky_db", "127.0.0.1", str(port), "psycopg", "postgresql"):
        assert word not in r.text and word not in ready.text


# -- readiness: a database that answers but refuses writes ------------------------------------------


async def _readiness(store: Store, config: DriftlineConfig) -> httpx.Response:
    async for client in _client_on(store, config):
        return await client.get("/readyz")
    raise AssertionError("unreachable")  # pragma: no cover


async def test_readyz_is_503_on_a_read_only_sqlite_file(tmp_path: Path, config: DriftlineConfig) -> None:
    path = tmp_path / "driftline.db"
    writable = Store.from_url(f"sqlite:///{path}", config)
    writable.upgrade()
    assert (await _readiness(writable, config)).json()["checks"]["store_writes"] == "ok"
    writable.dispose()
    # mode=ro: SQLite opens the file read-only, as it does a file it may not write (chmod, a read-only mount).
    read_only = Store.from_url(f"sqlite:///file:{path}?mode=ro&uri=true", config)
    try:
        r = await _readiness(read_only, config)
        runs = read_only.list_runs("churn")  # reads still work: the ping alone would call it ready
    finally:
        read_only.dispose()
    assert runs == []
    assert r.status_code == 503
    assert r.json() == {"status": "unavailable", "checks": {"store": "ok", "store_writes": "failed",
                                                            "scheduler": "disabled"}}


async def test_readyz_is_503_on_a_read_only_postgresql_session(postgres_url: str, config: DriftlineConfig) -> None:
    writable = Store.from_url(postgres_url, config)
    writable.upgrade()
    assert (await _readiness(writable, config)).json()["checks"]["store_writes"] == "ok"
    writable.dispose()
    url = sa.make_url(postgres_url).update_query_dict({"options": "-c default_transaction_read_only=on"})
    read_only = Store.from_url(url.render_as_string(hide_password=False), config)
    try:
        r = await _readiness(read_only, config)
    finally:
        read_only.dispose()
    assert r.status_code == 503
    assert r.json()["checks"] == {"store": "ok", "store_writes": "failed", "scheduler": "disabled"}


async def test_the_write_probe_leaves_nothing_behind(tmp_path: Path, config: DriftlineConfig) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path / 'driftline.db'}", config)
    store.upgrade()
    try:
        for _ in range(3):
            store.write_probe()
        with store.engine.connect() as conn:
            left = conn.exec_driver_sql("SELECT count(*) FROM alertmanager_notifications").scalar_one()
    finally:
        store.dispose()
    assert left == 0
