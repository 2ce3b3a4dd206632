"""One error tree, two tables: every error class has an HTTP status and an exit code, and public
messages carry no infrastructure detail.

The class list is discovered, not written down: every module of the four packages is imported and
``DriftlineError.__subclasses__()`` walked, so a new error class that either table forgets fails
here, and so does an exception class outside the tree.
"""

from __future__ import annotations

import importlib
import logging
import pkgutil
import socket
import sys
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager
from fastapi import FastAPI
from pydantic import SecretStr

import alerts
import dashboards
import exporters
import monitor
from monitor import cli
from monitor import errors as e
from monitor.api.errors import HTTP_STATUS, install_error_handlers
from monitor.app import create_app
from monitor.config import DriftlineConfig, Settings
from monitor.ingest import Issue
from monitor.storage import Store
from tests.api.helpers import API_KEY, auth

_PACKAGES = (monitor, alerts, exporters, dashboards)
#: Not importable on their own: Alembic's env.py runs a migration when imported.
_SKIP = {"monitor.storage.migrations.env"}


def _import_everything() -> None:
    for package in _PACKAGES:
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{package.__name__}."):
            if info.name not in _SKIP and not info.name.startswith("monitor.storage.migrations.versions"):
                importlib.import_module(info.name)


def _ours(cls: type) -> bool:
    return cls.__module__.split(".")[0] in {p.__name__ for p in _PACKAGES}


def _tree() -> set[type[e.DriftlineError]]:
    _import_everything()
    found: set[type[e.DriftlineError]] = set()
    todo: list[type[e.DriftlineError]] = [e.DriftlineError]
    while todo:
        cls = todo.pop()
        if _ours(cls) and cls not in found:
            found.add(cls)
            todo.extend(cls.__subclasses__())
    return found


def test_every_error_class_has_an_http_status_and_an_exit_code() -> None:
    tree = _tree()
    assert len(tree) >= 20  # the walk found the tree (it would pass vacuously on an empty set)
    assert sorted(c.__name__ for c in tree - set(HTTP_STATUS)) == []
    assert sorted(c.__name__ for c in tree - set(cli.EXIT_CODES)) == []
    assert all(400 <= HTTP_STATUS[c] < 600 for c in tree)
    assert [c.__name__ for c in tree if HTTP_STATUS[c] >= 500 and not issubclass(c, e.StorageError | e.DeliveryError)
            ] == ["DriftlineError"]  # only a bare, unlisted raise is a 500
    assert all(cli.EXIT_CODES[c] not in (0, 1) for c in tree)  # 0 and 1 mean success and drift


def test_no_exception_class_lives_outside_the_tree() -> None:
    """Every exception class the packages define is a DriftlineError (adapters translate theirs)."""
    _import_everything()
    strays = []
    for package in _PACKAGES:
        for name, module in list(sys.modules.items()):
            if name == package.__name__ or name.startswith(f"{package.__name__}."):
                for value in vars(module).values():
                    if (isinstance(value, type) and issubclass(value, Exception) and _ours(value)
                            and value.__module__ == name and not issubclass(value, e.DriftlineError)):
                        strays.append(f"{name}.{value.__name__}")
    assert strays == []


def test_old_import_locations_still_work() -> None:
    from monitor.api import errors as api_errors
    from monitor.api.routes import reports

    assert api_errors.UnknownRun is e.UnknownRun and api_errors.UnknownJob is e.UnknownRetrainJob
    assert api_errors.Unauthorized is e.Unauthorized and api_errors.PayloadTooLarge is e.PayloadTooLarge
    assert reports.NoReportableRun is e.NoReportableRun


# -- each class through the real handler and the real CLI ----------------------------------------

_SAMPLES: dict[type[e.DriftlineError], e.DriftlineError] = {
    e.DriftlineError: e.DriftlineError("a bug"),
    e.ConfigError: e.ConfigError("monitors.0.every: '1hour' is not a duration", path="monitors.0.every", line=3),
    e.ConfigErrors: e.ConfigErrors(["driftline.yaml:3 monitors.0.alpah: Extra inputs", "driftline.yaml:4 x: y"]),
    e.InputError: e.InputError("row 2: age: expected a finite number, got 'x'", field="age", row=2),
    e.BatchInvalid: e.BatchInvalid([Issue(1, "age", "expected a finite number, got 'x'"),
                                    Issue(4, "plan", "missing required field")], 2),
    e.BatchTooLarge: e.BatchTooLarge("the batch has 2000001 rows", setting="DRIFTLINE_MAX_BATCH_ROWS", limit=2000000),
    e.InsufficientData: e.InsufficientData("reference has 1 value; need at least 2", needed=2, got=1),
    e.NotFound: e.NotFound("no such thing"),
    e.UnknownMonitor: e.UnknownMonitor("nope"),
    e.UnknownReference: e.UnknownReference("churn", 9),
    e.UnknownModel: e.UnknownModel("nope"),
    e.UnknownRun: e.UnknownRun("r-1"),
    e.NoReportableRun: e.NoReportableRun("churn"),
    e.UnknownRetrainJob: e.UnknownRetrainJob("j-1"),
    e.UnknownOutboxMessage: e.UnknownOutboxMessage(7),
    e.FeatureDisabled: e.FeatureDisabled("alerting", "no alert service in this process"),
    e.MissingExtra: e.MissingExtra("DLE (estimated regression performance)", "estimate"),
    e.Unauthorized: e.Unauthorized(),
    e.PayloadTooLarge: e.PayloadTooLarge(1000),
    e.UnsupportedMediaType: e.UnsupportedMediaType("cannot read text/xml"),
    e.StorageError: e.StorageError("save run 'r' failed: the database is unavailable (OperationalError)",
                                   detail="save run 'r' failed on postgresql://u:***@db.internal:5432/prod: refused"),
    e.DuplicateRun: e.DuplicateRun("monitor 'churn' already has a run for that window", monitor="churn",
                                   window_end=datetime(2025, 1, 1, tzinfo=UTC)),
    e.DeliveryError: e.DeliveryError("HTTP 502", status_code=502),
}


def test_every_class_has_a_sample_below() -> None:
    assert set(_SAMPLES) == _tree()
    assert all(type(sample) is cls for cls, sample in _SAMPLES.items())


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def raising_client() -> AsyncIterator[httpx.AsyncClient]:
    """An app with the real handlers and one route raising the sample named in the path."""
    app = FastAPI()
    install_error_handlers(app)
    by_name = {cls.__name__: sample for cls, sample in _SAMPLES.items()}

    @app.get("/raise/{name}")
    async def raise_it(name: str) -> None:
        raise by_name[name]

    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app, raise_app_exceptions=False),
                                 base_url="http://test") as client:
        yield client


@pytest.mark.anyio
@pytest.mark.parametrize("cls", list(_SAMPLES), ids=lambda c: c.__name__)
async def test_each_class_answers_its_status_with_its_body(raising_client: httpx.AsyncClient,
                                                           cls: type[e.DriftlineError]) -> None:
    sample = _SAMPLES[cls]
    r = await raising_client.get(f"/raise/{cls.__name__}")
    assert r.status_code == HTTP_STATUS[cls]
    body = r.json()
    if r.status_code == 422:
        assert body["message"] == str(sample).splitlines()[0]
        if isinstance(sample, e.BatchInvalid):
            assert [(i["row"], i["field"]) for i in body["detail"]] == [(1, "age"), (4, "plan")]
        elif isinstance(sample, e.InputError):
            assert [(i["row"], i["field"]) for i in body["detail"]] == [(2, "age")]
        elif isinstance(sample, e.ConfigError):
            assert body["detail"][0]["field"] == sample.path
    elif r.status_code == 503:
        assert body == {"detail": "storage unavailable"}
    elif r.status_code == 500:
        assert body == {"detail": "internal error"}
    else:
        assert body == {"detail": str(sample).splitlines()[0]}
    if r.status_code == 401:
        assert r.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize("cls", list(_SAMPLES), ids=lambda c: c.__name__)
def test_each_class_exits_with_its_code_and_one_line(cls: type[e.DriftlineError], monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    sample = _SAMPLES[cls]

    def fail(*_: object) -> int:
        raise sample

    from monitor import check_command

    monkeypatch.setattr(check_command, "check_command", fail)
    assert cli.main(["check", "reference.csv", "current.csv"]) == cli.EXIT_CODES[cls]
    err = capsys.readouterr().err
    assert err.startswith("driftline: error: ")
    assert err.splitlines()[0] == "driftline: error: " + e.log_detail(sample).splitlines()[0]


def test_the_documented_exit_codes_hold() -> None:
    """docs/operations.md: bad configuration, unknown monitor, bad input and an unreachable database exit 2."""
    for cls in (e.ConfigErrors, e.UnknownMonitor, e.InputError, e.StorageError):
        assert cli.exit_code(_SAMPLES[cls]) == 2


def test_a_subclass_defined_elsewhere_takes_its_nearest_base() -> None:
    class LateStorageError(e.StorageError):
        pass

    from monitor.api.errors import status_for

    assert status_for(LateStorageError("x")) == 503 and cli.exit_code(LateStorageError("x")) == 2


# -- storage errors: the public message names no infrastructure ----------------------------------


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def unreachable(config: DriftlineConfig) -> Iterator[tuple[Store, list[str]]]:
    """A store on a PostgreSQL URL nobody listens on, and the infrastructure words its URL holds."""
    port = _closed_port()
    store = Store.from_url(f"postgresql://leaky_user:pw-7c1e@127.0.0.1:{port}/leaky_db", config)
    try:
        yield store, ["leaky_user", "127.0.0.1", str(port), "leaky_db", "pw-7c1e", "postgresql"]
    finally:
        store.dispose()


def test_a_storage_error_says_what_failed_and_keeps_the_database_in_detail(
        unreachable: tuple[Store, list[str]]) -> None:
    store, words = unreachable
    with pytest.raises(e.StorageError) as info:
        store.active_reference("churn")
    public = str(info.value)
    assert public.startswith("read the reference of monitor 'churn' failed: the database is unavailable")
    assert [w for w in words if w in public] == []
    assert [w for w in words if w not in info.value.detail] == ["pw-7c1e"]  # all but the password


@pytest.fixture
async def sqlite_app(tmp_path: Path, config: DriftlineConfig) -> AsyncIterator[tuple[httpx.AsyncClient, Store]]:
    """The real app and service (scheduler off) on a migrated SQLite store."""
    store = Store.from_url(f"sqlite:///{tmp_path / 'driftline.db'}", config)
    store.upgrade()
    settings = Settings(api_keys=SecretStr(API_KEY), scheduler=False)
    app = create_app(settings, config, store=store)
    try:
        async with LifespanManager(app) as manager:
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://test") as c:
                yield c, store
    finally:
        store.dispose()


@pytest.mark.anyio
async def test_a_run_during_a_database_outage_stores_no_database_address(
        sqlite_app: tuple[httpx.AsyncClient, Store], unreachable: tuple[Store, list[str]],
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    client, store = sqlite_app
    down, words = unreachable
    # The run's reference read goes to the unreachable database: a real, translated StorageError.
    monkeypatch.setattr(store, "active_reference_version", down.active_reference_version)
    started = await client.post("/v1/monitors/churn/runs", headers=auth())
    assert started.status_code == 201 and started.json()["status"] == "error"
    monkeypatch.undo()
    (run,) = (await client.get("/v1/monitors/churn/runs")).json()
    assert run["status"] == "error"
    assert run["error"].startswith("read the reference of monitor 'churn' failed: the database is unavailable")
    assert [w for w in words if w in run["error"]] == []
    detail = (await client.get(f"/v1/runs/{run['id']}")).json()
    assert [w for w in words if w in detail["error"]] == []

    # An API read during the outage: 503 without detail, the detail in the log (password masked).
    monkeypatch.setattr(store, "latest_runs", lambda: down.active_reference("churn"))
    with caplog.at_level(logging.ERROR, logger="monitor.api.errors"):
        r = await client.get("/v1/monitors")
    assert (r.status_code, r.json()) == (503, {"detail": "storage unavailable"})
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert "leaky_user" in logged and "leaky_db" in logged and "pw-7c1e" not in logged


# -- delivery: httpx's errors stop at the adapter -----------------------------------------------


@pytest.mark.anyio
async def test_an_unparsable_webhook_url_fails_its_message_and_not_the_pass() -> None:
    """``httpx.InvalidURL`` is no ``HTTPError``: it used to escape the deliverer and abort the pass,
    so every message behind a misconfigured target waited forever."""
    from alerts.delivery import Deliverer
    from alerts.outbox import DeliveryStatus, OutboxMessage
    from monitor.domain import WebhookTarget
    from tests.alerts.test_alerts_units import MemoryOutbox

    targets = {"broken": WebhookTarget(name="broken", url="http://[::1/hook", max_attempts=1),
               "ok": WebhookTarget(name="ok", url="http://receiver.test/hook")}
    outbox = MemoryOutbox([OutboxMessage(target="broken", idempotency_key="k1", kind="alert", payload="{}"),
                           OutboxMessage(target="ok", idempotency_key="k2", kind="alert", payload="{}")])
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(204)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        deliverer = Deliverer(outbox, client, targets, now=lambda: datetime(2026, 1, 1, tzinfo=UTC))
        assert await deliverer.deliver_due() == 1
    broken, ok = outbox.messages[0], outbox.messages[1]
    assert (broken.status, broken.last_error) == (DeliveryStatus.DEAD_LETTER, "InvalidURL")
    assert ok.status is DeliveryStatus.DELIVERED and seen == ["http://receiver.test/hook"]
