"""The API docs and the OpenAPI document as a reader meets them.

- ``/docs`` and ``/redoc`` reference no outside host; their assets come from this server, and
  the page's CSP allows its inline script by hash (computed here with hashlib) and nothing inline
  otherwise;
- in real headless Chromium, sent through a proxy that does not exist (so any outside request
  fails; loopback goes direct), Swagger UI and ReDoc render every operation of the document;
- every operation has a camelCase, unique ``operationId``;
- every route that depends on an API key or the Alertmanager token declares 401 (and a security
  requirement) and answers 401 without credentials; no public route declares 401 or answers it;
- the request examples of the write routes are accepted by the routes themselves.

Without Chromium the browser tests skip; under ``CI=true`` they fail.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from alerts.alertmanager import AlertmanagerPayload
from monitor.api.routes.alerting import Completion
from monitor.app import create_app
from monitor.config import DriftlineConfig, Settings
from tests.api.helpers import API_KEY
from tests.fakes import FakeService, FakeStore
from tests.reports._chromium import _run, chromium_binary, console_errors

pytestmark = pytest.mark.anyio

#: The churn model of docs/api.md, which the request examples use.
DOCS_CONFIG = {"monitors": [{
    "name": "churn", "model": "churn-v3", "every": "15m", "window": {"last": "1h"},
    "schema": {"numerical": ["age", "income"], "categorical": ["plan", "region"], "prediction": "prediction",
               "prediction_score": "score", "target": "label"},
}]}

CAMEL_CASE = re.compile(r"^[a-z][a-z0-9]*(?:[A-Z][a-z0-9]*)*$")
#: Any absolute or protocol-relative URL.
OUTSIDE = re.compile(r"(?:https?:)?//[A-Za-z0-9.-]+")


@pytest.fixture
def docs_config() -> DriftlineConfig:
    return DriftlineConfig.model_validate(DOCS_CONFIG)


@pytest.fixture
def app(settings: Settings, docs_config: DriftlineConfig) -> FastAPI:
    store = FakeStore(docs_config)
    return create_app(settings, docs_config, store=store, service=FakeService(docs_config, store))


@pytest.fixture
async def docs_client(app: FastAPI) -> Any:
    from asgi_lifespan import LifespanManager

    # An app error is a 500 response here, not an exception: every assertion is on a status.
    async with LifespanManager(app) as manager:
        transport = httpx.ASGITransport(app=manager.app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            yield c


def _operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, ops in schema["paths"].items() for method, op in ops.items()]


class _Links(HTMLParser):
    """Every ``src`` and ``href`` of a page, and its inline scripts' exact text."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=False)
        self.urls: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        self.urls += [v for k, v in attrs if k in ("src", "href", "spec-url") and v is not None]
        self._in_script = tag == "script" and "src" not in values
        if self._in_script:
            self.inline.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.inline[-1] += data


def _sha256_source(text: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


def _directives(policy: str) -> dict[str, list[str]]:
    return {d.split()[0]: d.split()[1:] for d in (p.strip() for p in policy.split(";")) if d}


# --- the pages, without a browser ----------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/docs", "/redoc"])
async def test_docs_pages_reference_no_outside_host(docs_client: httpx.AsyncClient, path: str) -> None:
    response = await docs_client.get(path)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert OUTSIDE.findall(response.text) == [], "the page names another host"
    links = _Links()
    links.feed(response.text)
    assets = [u for u in links.urls if u.startswith("/docs/assets/")]
    assert "/openapi.json" in response.text and assets, links.urls
    assert all(u.startswith("/") and not u.startswith("//") for u in links.urls), links.urls
    for url in assets:  # every asset is served here, and is the real thing (not an empty stub)
        asset = await docs_client.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > (50_000 if url.endswith((".js", ".css")) else 100), url


async def test_swagger_ui_policy_allows_its_inline_script_by_hash_only(docs_client: httpx.AsyncClient) -> None:
    response = await docs_client.get("/docs")
    links = _Links()
    links.feed(response.text)
    assert len(links.inline) == 1 and "SwaggerUIBundle(" in links.inline[0]
    policy = _directives(response.headers["content-security-policy"])
    assert policy["script-src"] == ["'self'", _sha256_source(links.inline[0])]
    assert policy["default-src"] == ["'none'"] and policy["connect-src"] == ["'self'"]
    assert policy["frame-ancestors"] == ["'none'"]
    assert "'unsafe-eval'" not in response.headers["content-security-policy"]
    assert response.headers["x-content-type-options"] == "nosniff"
    # ReDoc's page has no inline script: scripts from this origin only.
    redoc = _directives((await docs_client.get("/redoc")).headers["content-security-policy"])
    assert redoc["script-src"] == ["'self'"]


async def test_the_validator_badge_is_off(docs_client: httpx.AsyncClient) -> None:
    # Swagger UI's default validator sends the document's URL to an outside host.
    assert '"validatorUrl": null' in (await docs_client.get("/docs")).text


# --- operation ids, 401 ----------------------------------------------------------------------------------

def test_every_operation_id_is_camel_case_and_unique(app: FastAPI) -> None:
    ids = [op.get("operationId", "") for _, _, op in _operations(app.openapi())]
    assert [i for i in ids if not CAMEL_CASE.match(i)] == []
    assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)
    assert {"ingestPredictions", "ingestLabels", "listMonitors", "listRuns", "getRun"} <= set(ids)


def _declared(op: dict[str, Any]) -> bool:
    return "401" in op["responses"]


def test_authenticated_routes_declare_401_and_public_ones_do_not(app: FastAPI) -> None:
    """FastAPI writes an operation's ``security`` from the bearer schemes in its dependency tree
    (``require_api_key``, ``require_alertmanager_token``): those, and only those, declare 401."""
    operations = _operations(app.openapi())
    guarded = {(m, p): op["security"][0] for m, p, op in operations if op.get("security")}
    assert {tuple(s) for s in guarded.values()} == {("apiKey",), ("alertmanagerToken",)}
    assert len(guarded) == 6  # predictions, labels, run now, reference, completion; the Alertmanager webhook
    for method, path, op in operations:
        assert _declared(op) == ((method, path) in guarded), f"{method} {path}: 401 declared {_declared(op)}"
        if _declared(op):
            assert op["responses"]["401"]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorMessage"}


_PATH_VALUES = {"model": "churn-v3", "name": "churn", "run_id": "r-1", "job_id": "j-1"}


async def test_the_declaration_matches_what_the_routes_answer(app: FastAPI, docs_client: httpx.AsyncClient) -> None:
    """Without credentials, exactly the operations that declare 401 answer it (auth comes first)."""
    operations = _operations(app.openapi())
    assert len(operations) >= 19
    for method, path, op in operations:
        url = path.format(**{k: v for k, v in _PATH_VALUES.items() if "{" + k + "}" in path})
        response = await docs_client.request(method, url, content=b"[]", headers={"Content-Type": "application/json"})
        assert (response.status_code == 401) == _declared(op), f"{method} {url}: {response.status_code}"


# --- request examples ------------------------------------------------------------------------------------

_BATCH_ROUTES = [("/v1/models/churn-v3/predictions", 200), ("/v1/models/churn-v3/labels", 200),
                 ("/v1/monitors/churn/reference", 201)]


@pytest.mark.parametrize(("url", "status"), _BATCH_ROUTES)
@pytest.mark.parametrize("media_type", ["application/json", "application/x-ndjson", "text/csv"])
async def test_batch_examples_are_accepted(app: FastAPI, docs_client: httpx.AsyncClient, url: str, status: int,
                                           media_type: str) -> None:
    template = next(p for p in app.openapi()["paths"] if p.split("/")[-1] == url.split("/")[-1])
    examples = app.openapi()["paths"][template]["post"]["requestBody"]["content"][media_type]["examples"]
    assert examples
    if url.endswith("/labels"):  # labels attach to logged predictions: log the example's first
        predictions = app.openapi()["paths"]["/v1/models/{model}/predictions"]["post"]["requestBody"]
        rows = predictions["content"]["application/json"]["examples"]["rows"]["value"]
        assert (await docs_client.post("/v1/models/churn-v3/predictions", json=rows,
                                       headers={"Authorization": f"Bearer {API_KEY}"})).status_code == 200
    for example in examples.values():
        value = example["value"]
        body = json.dumps(value).encode() if media_type == "application/json" else value.encode()
        response = await docs_client.post(url, content=body, headers={"Content-Type": media_type,
                                                                      "Authorization": f"Bearer {API_KEY}"})
        assert response.status_code == status, response.text
        if url.endswith("/predictions"):
            assert sum(response.json().values()) == len(value if isinstance(value, list) else value.splitlines()) - (
                media_type == "text/csv")
        if url.endswith("/labels"):
            assert response.json()["unknown_ids"] == []


def test_the_json_write_examples_are_valid_bodies(app: FastAPI) -> None:
    paths = app.openapi()["paths"]
    models = {"/v1/alertmanager/webhook": AlertmanagerPayload, "/v1/retrain-jobs/{job_id}/complete": Completion}
    for path, model in models.items():
        examples = paths[path]["post"]["requestBody"]["content"]["application/json"]["examples"]
        assert examples
        for example in examples.values():
            model.model_validate(example["value"])


def test_every_write_with_a_body_has_examples(app: FastAPI) -> None:
    for method, path, op in _operations(app.openapi()):
        for media_type, content in op.get("requestBody", {}).get("content", {}).items():
            if "binary" not in json.dumps(content["schema"]):
                assert content.get("examples"), f"{method} {path} {media_type}"


# --- in a real browser -----------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(app: FastAPI) -> Iterator[str]:
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", ws="none",
                                           lifespan="on"))
    thread = threading.Thread(target=server.run, name="uvicorn-docs", daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        assert not thread.is_alive(), "uvicorn did not stop"


#: A proxy nobody listens on: every request to another host fails; loopback is never proxied.
_NO_NETWORK = "--proxy-server=http://127.0.0.1:9"


def _dom(url: str, workdir: Path) -> tuple[str, str]:
    done = _run(chromium_binary(), workdir / "profile", _NO_NETWORK, "--dump-dom", "--enable-logging=stderr",
                "--v=0", url)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout, done.stderr


def test_swagger_ui_renders_every_operation_offline(app: FastAPI, served: str, tmp_path: Path) -> None:
    dom, log = _dom(f"{served}/docs", tmp_path)
    ids = {op["operationId"] for _, _, op in _operations(app.openapi())}
    shown = set(re.findall(r'class="opblock-summary-operation-id"[^>]*>([^<]+)<', dom))
    assert shown == ids, f"missing {sorted(ids - shown)}"
    assert len(re.findall(r'class="opblock opblock-', dom)) == len(ids)
    assert console_errors(log) == []  # no CSP violation, no failed load, no script error


def test_redoc_renders_every_operation_offline(app: FastAPI, served: str, tmp_path: Path) -> None:
    dom, log = _dom(f"{served}/redoc", tmp_path)
    ids = {op["operationId"] for _, _, op in _operations(app.openapi())}
    shown = set(re.findall(r'id="operation/([A-Za-z0-9]+)"', dom))
    assert shown == ids, f"missing {sorted(ids - shown)}"
    # ReDoc's bundle shows its vendor's logo from a CDN; the page's policy blocks it before any request.
    unexpected = [line for line in console_errors(log) if "cdn.redoc.ly" not in line or "violates" not in line]
    assert unexpected == []


def test_docs_api_md_names_every_operation_id(app: FastAPI) -> None:
    page = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text()
    ids = {op["operationId"] for _, _, op in _operations(app.openapi())}
    assert {i for i in ids if f"`{i}`" not in page} == set()
