"""The alerting routes: 404 when alerting is off, and a retraining job's completion that validates its
reference like an upload and promotes it in the job's transaction (SQLite and PostgreSQL).

PostgreSQL is the session database of ``tests/conftest.py::postgres_url``; each test gets a schema
of its own. Without the server those cases skip, and under ``CI=true`` they fail.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import pytest
import sqlalchemy as sa
from asgi_lifespan import LifespanManager
from pydantic import SecretStr

from alerts.retrain import JobStatus, Outcome, RetrainJob
from monitor.app import create_app
from monitor.config import DriftlineConfig, Settings
from monitor.errors import StorageError
from monitor.storage import Store, alerting
from tests.api.helpers import API_KEY, auth, served

pytestmark = pytest.mark.anyio

_DISABLED = "alerting is not enabled: "


# -- alerting off: the app built around a given service has no alert service ----------------------


@pytest.mark.parametrize(("method", "path", "body"), [
    ("get", "/v1/retrain-jobs", None),
    ("get", "/v1/retrain-jobs/j-1", None),
    ("post", "/v1/retrain-jobs/j-1/complete", {"status": "failed"}),
    ("get", "/v1/deliveries", None),
    ("get", "/v1/alertmanager/notifications", None),
], ids=lambda v: v if isinstance(v, str) else None)
async def test_alerting_routes_say_alerting_is_off_with_a_404(client: httpx.AsyncClient, method: str, path: str,
                                                              body: dict[str, Any] | None) -> None:
    r = await client.request(method, path, json=body, headers=auth())
    assert r.status_code == 404, r.text
    assert r.json()["detail"].startswith(_DISABLED)


async def test_the_alertmanager_webhook_says_alerting_is_off_once_the_token_is_right(
        config: DriftlineConfig) -> None:
    from tests.fakes import FakeService, FakeStore

    settings = Settings(api_keys=SecretStr(API_KEY), alertmanager_token=SecretStr("am-token-4b1d9e7f02"),
                        scheduler=False)
    store = FakeStore(config)
    app = create_app(settings, config, store=store, service=FakeService(config, store))
    payload = {"version": "4", "status": "firing", "receiver": "driftline", "groupKey": "{}:{}", "alerts": []}
    async with LifespanManager(app) as manager:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://test") as c:
            refused = await c.post("/v1/alertmanager/webhook", json=payload,
                                   headers={"Authorization": "Bearer wrong"})
            r = await c.post("/v1/alertmanager/webhook", json=payload,
                             headers={"Authorization": "Bearer am-token-4b1d9e7f02"})
    assert refused.status_code == 401
    assert r.status_code == 404 and r.json()["detail"].startswith(_DISABLED), r.text


# -- alerting on, on a real store ---------------------------------------------------------------


@dataclass(frozen=True)
class Live:
    client: httpx.AsyncClient
    store: Store
    job: RetrainJob
    postgres: bool


def _reference(n: int, rng: np.random.Generator, shift: float = 0.0) -> list[dict[str, Any]]:
    """Rows of monitor churn's reference: its features, prediction and score."""
    return [{"age": float(rng.normal(40 + shift, 5)), "income": float(rng.normal(1000, 100)),
             "plan": str(rng.choice(["basic", "gold"])), "prediction": str(rng.choice(["stay", "churn"])),
             "score": float(rng.random())} for _ in range(n)]


@pytest.fixture
async def live(database_url: str, config: DriftlineConfig) -> AsyncIterator[Live]:
    """The app as ``driftline serve`` builds it (scheduler off), reference v1 uploaded, one pending job."""
    async with served(database_url, config) as (c, app):
        up = await c.post("/v1/monitors/churn/reference", json=_reference(300, np.random.default_rng(1)),
                          headers=auth())
        assert up.status_code == 201, up.text
        store: Store = app.state.store
        job, created = store.create_retrain_job(RetrainJob(
            id=uuid.uuid4().hex, monitor="churn", model="churn", trigger_key=f"test:{uuid.uuid4().hex}",
            reason="DriftlineDatasetDrift", status=JobStatus.TRIGGERED, outcome=Outcome.TRIGGERED,
            dry_run=False, created_at=datetime.now(UTC)))
        assert created
        yield Live(client=c, store=store, job=job, postgres=database_url.startswith("postgresql"))


def _nothing_written(live: Live) -> None:
    """Reference v1 is still the only, active one and the job is as it was created."""
    assert [(r.version, r.active) for r in live.store.references("churn")] == [(1, True)]
    assert live.store.get_retrain_job(live.job.id) == live.job


async def test_a_completion_promotes_a_valid_reference_that_later_runs_use(live: Live) -> None:
    rows = _reference(300, np.random.default_rng(2), shift=15.0)
    r = await live.client.post(f"/v1/retrain-jobs/{live.job.id}/complete", headers=auth(),
                               json={"status": "succeeded", "detail": "retrained", "reference": rows})
    assert r.status_code == 200, r.text
    assert (r.json()["status"], r.json()["reference_version"], r.json()["detail"]) == ("succeeded", 2, "retrained")
    assert [(v.version, v.active, v.source, v.n_rows) for v in live.store.references("churn")] == [
        (1, False, "upload", 300), (2, True, f"retrain:{live.job.id}", 300)]
    stored = live.store.get_retrain_job(live.job.id)
    assert stored is not None and stored.status is JobStatus.SUCCEEDED and stored.completed_at is not None

    start = datetime.now(UTC) - timedelta(minutes=20)
    current = [{"prediction_id": f"p-{i}", "timestamp": (start + timedelta(seconds=i)).isoformat(), **row}
               for i, row in enumerate(_reference(200, np.random.default_rng(3), shift=15.0))]
    assert (await live.client.post("/v1/models/churn/predictions", json=current, headers=auth())).status_code == 200
    run = (await live.client.get((await live.client.post("/v1/monitors/churn/runs", headers=auth()))
                                 .headers["Location"])).json()
    assert (run["status"], run["error"], run["reference_version"]) in {("ok", None, 2), ("drift", None, 2)}
    tested = {f["column"] for f in run["features"] if f["status"] == "ok"}
    assert {"age", "income", "plan"} <= tested


async def test_an_all_null_reference_is_refused_naming_the_field_and_writes_nothing(live: Live) -> None:
    rows = [{"age": None, "income": None, "plan": None, "prediction": None, "score": None} for _ in range(50)]
    r = await live.client.post(f"/v1/retrain-jobs/{live.job.id}/complete", headers=auth(),
                               json={"status": "succeeded", "reference": rows})
    assert r.status_code == 422, r.text
    problems = {(i["row"], i["field"]) for i in r.json()["detail"]}
    assert {(0, "reference.age"), (0, "reference.income"), (0, "reference.plan"),
            (0, "reference.prediction")} <= problems
    assert "no values" in r.json()["message"]
    _nothing_written(live)


async def test_object_and_list_values_are_refused_naming_row_and_field_and_write_nothing(live: Live) -> None:
    rows = _reference(100, np.random.default_rng(4))
    rows[3]["age"] = {"years": 41}
    rows[5]["plan"] = ["basic", "gold"]
    r = await live.client.post(f"/v1/retrain-jobs/{live.job.id}/complete", headers=auth(),
                               json={"status": "succeeded", "reference": rows})
    assert r.status_code == 422, r.text
    assert [(i["row"], i["field"]) for i in r.json()["detail"]] == [(3, "reference.age"), (5, "reference.plan")]
    assert r.json()["detail"][0]["message"].startswith("expected a finite number, got {")
    _nothing_written(live)


async def test_a_nul_in_the_detail_is_a_422_and_writes_nothing(live: Live) -> None:
    r = await live.client.post(f"/v1/retrain-jobs/{live.job.id}/complete", headers=auth(),
                               json={"status": "succeeded", "detail": "v9\u0000",
                                     "reference": _reference(100, np.random.default_rng(5))})
    assert r.status_code == 422, r.text
    assert [i["field"] for i in r.json()["detail"]] == ["detail"]
    assert "NUL" in r.json()["message"]
    _nothing_written(live)


async def test_a_refused_job_update_takes_the_promotion_with_it(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store's side of one transaction: when the job update fails after the new reference was
    inserted, the reference is rolled back too (here the database refuses the update)."""
    def refuse(*args: Any, **kwargs: Any) -> RetrainJob:
        raise sa.exc.OperationalError("UPDATE retrain_jobs ...", {}, Exception("server closed the connection"))

    monkeypatch.setattr(alerting, "update_retrain_job", refuse)
    r = await live.client.post(f"/v1/retrain-jobs/{live.job.id}/complete", headers=auth(),
                               json={"status": "succeeded", "reference": _reference(100, np.random.default_rng(6))})
    assert (r.status_code, r.json()) == (503, {"detail": "storage unavailable"})
    monkeypatch.undo()
    _nothing_written(live)


# PostgreSQL only (SQLite stores NUL in text): the backend is chosen, not skipped.
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_a_text_postgresql_refuses_rolls_the_promotion_back(live: Live, config: DriftlineConfig) -> None:
    """The real refusal behind the old 503-after-promotion: PostgreSQL text cannot hold NUL."""
    assert live.postgres
    from monitor.api.routes.alerting import _new_reference

    reference = _new_reference(config.monitor("churn"), _reference(100, np.random.default_rng(7)), "retrain:x")
    with pytest.raises(StorageError, match="complete retrain job"):
        live.store.complete_retrain_job(live.job.id, status=JobStatus.SUCCEEDED, detail="v9\x00",
                                        completed_at=datetime.now(UTC), reference=reference)
    _nothing_written(live)


async def test_a_completion_with_the_active_content_records_the_active_version(live: Live) -> None:
    rows = _reference(300, np.random.default_rng(1))  # the rows of reference v1
    r = await live.client.post(f"/v1/retrain-jobs/{live.job.id}/complete", headers=auth(),
                               json={"status": "succeeded", "reference": rows})
    assert (r.status_code, r.json()["reference_version"]) == (200, 1), r.text
    assert [(v.version, v.active) for v in live.store.references("churn")] == [(1, True)]


async def test_an_unknown_or_hostile_job_id_is_a_404_and_bad_filters_are_422(live: Live) -> None:
    for job_id in ("nope", "bad%00id"):
        got = await live.client.get(f"/v1/retrain-jobs/{job_id}")
        done = await live.client.post(f"/v1/retrain-jobs/{job_id}/complete", headers=auth(), json={"status": "failed"})
        assert (got.status_code, done.status_code) == (404, 404), (got.text, done.text)
        assert got.json()["detail"].startswith("no retrain job with id")
    for query in ({"limit": "-1"}, {"limit": "0"}, {"limit": "100000"}, {"monitor": "chu\u0000rn"}):
        r = await live.client.get("/v1/retrain-jobs", params=query)
        assert r.status_code == 422, (query, r.text)
        assert r.json()["detail"][0]["field"] in query
    assert (await live.client.get("/v1/deliveries", params={"limit": "-5"})).status_code == 422
    listed = await live.client.get("/v1/retrain-jobs", params={"monitor": "churn"})
    assert [j["id"] for j in listed.json()] == [live.job.id]
