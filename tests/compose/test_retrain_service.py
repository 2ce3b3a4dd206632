"""The example retraining service (examples/retrain_service/) on its own, and against Driftline.

The unit tests drive it through ASGI with a fake Driftline that records the completion callbacks.
The last test closes the loop with the real thing: Driftline's own app (SQLite) receives an
Alertmanager notification, creates the job, and Driftline's own outbox deliverer signs and
delivers the trigger to the service, whose callback promotes a new reference in Driftline.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pytest
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from alerts.signing import SIGNATURE_HEADER, sign
from examples.retrain_service.app import (
    KeyStore,
    RetrainSettings,
    build_reference,
    create_app,
    load_rows,
    train,
)
from monitor.demo import FEATURES

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[2]
CURRENT = REPO / "examples" / "current.csv"  # the later TrumpApproval days, with the label `approval`
SECRET = b"retrain-webhook-test-secret-3f9a"
API_KEY = "retrain-key-test-8c21d5"
JOB_ID = "b7dd9a19660549a08ae0abcb82f968ab"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class FakeDriftline:
    """Driftline's completion endpoint, recording each call; ``statuses`` scripts its answers."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.statuses = list(statuses or [])
        self.app = FastAPI()

        @self.app.post("/v1/retrain-jobs/{job_id}/complete")
        async def complete(job_id: str, request: Request) -> JSONResponse:
            self.calls.append({"job_id": job_id, "authorization": request.headers.get("authorization"),
                               "body": await request.json(), "host": request.headers.get("host")})
            status = self.statuses.pop(0) if self.statuses else 200
            return JSONResponse({"id": job_id} if status < 300 else {"detail": "refused"}, status_code=status)

    def client_factory(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=self.app))


def settings(**overrides: Any) -> RetrainSettings:
    """The compose stack's settings, with a short callback backoff."""
    values: dict[str, Any] = {"driftline_url": "http://driftline:8000", "api_key": API_KEY, "webhook_secret": SECRET,
                              "data_path": str(CURRENT), "callback_backoff_seconds": 0.0}
    return RetrainSettings(**(values | overrides))


def trigger_body(job_id: str = JOB_ID, **extra: Any) -> bytes:
    """A retraining trigger exactly as Driftline serialises it (keys sorted)."""
    payload = {"callback_url": f"https://driftline.example.com/v1/retrain-jobs/{job_id}/complete",
               "idempotency_key": f"retrain:{job_id}", "job_id": job_id, "model": "approval-lr",
               "monitor": "approval", "reason": "DriftlineDatasetDrift",
               "report_url": "https://driftline.example.com/v1/monitors/approval/report",
               "trigger": {"alert": "DriftlineDatasetDrift"}, "type": "driftline.retrain", **extra}
    return json.dumps(payload, sort_keys=True).encode()


def signed_headers(body: bytes, *, secret: bytes = SECRET, at: int | None = None,
                   key: str | None = f"retrain:{JOB_ID}") -> dict[str, str]:
    headers = {"Content-Type": "application/json",
               SIGNATURE_HEADER: sign(secret, body, int(time.time()) if at is None else at)}
    if key is not None:
        headers["Idempotency-Key"] = key
    return headers


@pytest.fixture
def driftline() -> FakeDriftline:
    return FakeDriftline()


def service_client(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://retrain:8080")


@pytest.fixture
async def client(driftline: FakeDriftline) -> AsyncIterator[httpx.AsyncClient]:
    async with service_client(create_app(settings(), client_factory=driftline.client_factory)) as c:
        yield c


# --- training ----------------------------------------------------------------------------------


def test_train_equals_numpy_lstsq_on_the_same_rows() -> None:
    frame = load_rows(CURRENT)
    model = train(frame)
    x = np.c_[frame[FEATURES].to_numpy(dtype=float), np.ones(len(frame))]
    expected, *_ = np.linalg.lstsq(x, frame["approval"].to_numpy(dtype=float), rcond=None)
    np.testing.assert_allclose(model.coefficients, expected, rtol=1e-12, atol=1e-12)
    assert model.features == tuple(FEATURES)
    assert model.rows == len(frame)


def test_train_recovers_known_coefficients_and_skips_incomplete_rows() -> None:
    rng = np.random.default_rng(7)
    x = rng.normal(size=(200, 2))
    frame = pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "y": 3.0 * x[:, 0] - 2.0 * x[:, 1] + 0.5})
    frame.loc[5, "a"] = np.nan
    frame["y"] = frame["y"].astype(object)
    frame.loc[9, "y"] = "not a number"  # a CSV cell that is not a number: dropped, not a crash
    model = train(frame, ("a", "b"), "y")
    np.testing.assert_allclose(model.coefficients, [3.0, -2.0, 0.5], atol=1e-9)
    assert model.rows == 198
    np.testing.assert_allclose(model.predict(frame.iloc[[0]]), [3.0 * x[0, 0] - 2.0 * x[0, 1] + 0.5])


def test_train_refuses_missing_columns_and_too_few_rows() -> None:
    with pytest.raises(ValueError, match="no column 'you_gov'"):
        train(pd.DataFrame({c: [1.0] * 50 for c in [*FEATURES[:-1], "approval"]}))
    with pytest.raises(ValueError, match="too few"):
        train(load_rows(CURRENT).head(11))


def test_reference_has_the_monitor_columns_and_the_new_model_predictions() -> None:
    frame = load_rows(CURRENT)
    model = train(frame)
    rows = build_reference(frame, model)
    assert len(rows) == len(frame)
    assert list(rows[0]) == [*FEATURES, "prediction", "approval"]
    predicted = np.array([r["prediction"] for r in rows])
    np.testing.assert_allclose(predicted, model.predict(frame))
    assert all(type(v) is float for r in rows for v in r.values())  # plain JSON numbers
    json.dumps(rows, allow_nan=False)


def test_load_rows_keeps_the_most_recent(tmp_path: Path) -> None:
    frame = pd.DataFrame({"timestamp": pd.to_datetime(["2024-01-03", "2024-01-01", "2024-01-02"]), "v": [3, 1, 2]})
    frame.to_parquet(tmp_path / "rows.parquet")
    assert load_rows(tmp_path / "rows.parquet", max_rows=2)["v"].tolist() == [2, 3]
    with pytest.raises(ValueError, match="not a .csv or .parquet"):
        load_rows(tmp_path / "rows.json")


def test_key_store_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "state" / "keys.txt"
    first = KeyStore(path)
    assert first.add("retrain:a") and not first.add("retrain:a")
    path.write_text(path.read_text() + '"torn')  # a write cut short by a crash
    second = KeyStore(path)
    assert "retrain:a" in second and not second.add("retrain:a") and second.add("retrain:b")


def test_settings_from_env() -> None:
    s = RetrainSettings.from_env({"DRIFTLINE_URL": "http://driftline:8000", "DRIFTLINE_API_KEY": "k",
                                  "RETRAIN_WEBHOOK_SECRET": "s", "RETRAIN_DATA": "/d/{monitor}.csv",
                                  "RETRAIN_ROWS": "100", "RETRAIN_FEATURES": "a, b", "RETRAIN_STATE_FILE": ""})
    assert (s.webhook_secret, s.max_rows, s.features) == (b"s", 100, ("a", "b"))
    assert (s.target, s.state_file, s.data_path) == ("approval", None, "/d/{monitor}.csv")
    assert RetrainSettings.from_env({}).webhook_secret is None
    with pytest.raises(ValueError, match="RETRAIN_ROWS"):
        RetrainSettings.from_env({"RETRAIN_ROWS": "0"})


# --- the HTTP service ----------------------------------------------------------------------------


async def test_health(client: httpx.AsyncClient) -> None:
    assert (await client.get("/healthz")).json() == {"status": "ok"}


@pytest.mark.parametrize("case", ["missing", "wrong secret", "tampered body", "too old"])
async def test_signature_is_required_and_verified(case: str, client: httpx.AsyncClient,
                                                  driftline: FakeDriftline) -> None:
    body = trigger_body()
    headers = {
        "missing": {"Content-Type": "application/json", "Idempotency-Key": f"retrain:{JOB_ID}"},
        "wrong secret": signed_headers(body, secret=b"another-secret"),
        "tampered body": signed_headers(trigger_body(reason="other")),
        "too old": signed_headers(body, at=int(time.time()) - 3600),
    }[case]
    response = await client.post("/retrain", content=body, headers=headers)
    assert response.status_code == 401
    assert (await client.get("/jobs")).json() == []
    assert driftline.calls == []


async def test_accepts_a_signed_trigger_retrains_and_calls_back(client: httpx.AsyncClient,
                                                                driftline: FakeDriftline) -> None:
    body = trigger_body()
    response = await client.post("/retrain", content=body, headers=signed_headers(body))
    assert response.status_code == 202
    assert response.json() == {"status": "accepted", "job_id": JOB_ID, "idempotency_key": f"retrain:{JOB_ID}"}
    # ASGITransport returns once the background task has run: the callback has been made.
    [call] = driftline.calls
    assert call["job_id"] == JOB_ID
    assert call["host"] == "driftline:8000"  # DRIFTLINE_URL, not the public callback_url's host
    assert call["authorization"] == f"Bearer {API_KEY}"
    completion = call["body"]
    assert completion["status"] == "succeeded"
    frame = load_rows(CURRENT)
    expected = train(frame)
    assert completion["reference"] == build_reference(frame, expected)
    assert set(completion["reference"][0]) == {*FEATURES, "prediction", "approval"}
    assert f"{expected.rows} labelled rows" in completion["detail"] and len(completion["detail"]) <= 2000
    [job] = (await client.get("/jobs")).json()
    assert job["status"] == "succeeded" and job["callback_status"] == 200
    assert job["coefficients"] == expected.as_dict()
    assert job["reference_rows"] == len(frame)


async def test_duplicates_are_acknowledged_and_start_nothing(client: httpx.AsyncClient,
                                                             driftline: FakeDriftline) -> None:
    body = trigger_body()
    first = await client.post("/retrain", content=body, headers=signed_headers(body))
    # Driftline's retry: same body and Idempotency-Key, a new timestamp and signature.
    again = await client.post("/retrain", content=body, headers=signed_headers(body, at=int(time.time()) + 1))
    # Without the header, the payload's idempotency_key identifies it too.
    bare = await client.post("/retrain", content=body, headers=signed_headers(body, key=None))
    assert first.status_code == 202
    assert (again.status_code, again.json()["status"]) == (200, "duplicate")
    assert (bare.status_code, bare.json()["status"]) == (200, "duplicate")
    assert len(driftline.calls) == 1
    [job] = (await client.get("/jobs")).json()
    assert job["duplicates"] == 2


async def test_a_restarted_service_still_refuses_a_repeat(tmp_path: Path, driftline: FakeDriftline) -> None:
    state = tmp_path / "keys.txt"
    body = trigger_body()
    for expected in (202, 200):
        app = create_app(settings(state_file=state), client_factory=driftline.client_factory)
        async with service_client(app) as c:
            assert (await c.post("/retrain", content=body, headers=signed_headers(body))).status_code == expected
    assert len(driftline.calls) == 1


@pytest.mark.parametrize("problem", ["no data file", "unusable data"])
async def test_a_failed_training_calls_back_failed(problem: str, tmp_path: Path, driftline: FakeDriftline) -> None:
    if problem == "no data file":
        data = tmp_path / "missing-{monitor}.csv"
    else:
        data = tmp_path / "approval.csv"
        pd.DataFrame({"gallup": [1.0, 2.0], "approval": [1.0, 2.0]}).to_csv(data, index=False)
    app = create_app(settings(data_path=str(data)), client_factory=driftline.client_factory)
    async with service_client(app) as c:
        body = trigger_body()
        assert (await c.post("/retrain", content=body, headers=signed_headers(body))).status_code == 202
        [job] = (await c.get("/jobs")).json()
    [call] = driftline.calls
    assert call["body"]["status"] == "failed" and "reference" not in call["body"]
    reason = "missing-approval.csv" if problem == "no data file" else "no column 'ipsos'"
    assert reason in call["body"]["detail"]
    assert job["status"] == "failed" and job["coefficients"] is None


async def test_callback_is_retried_on_5xx_and_a_refused_reference_is_reported_failed() -> None:
    flaky = FakeDriftline(statuses=[503, 200])
    app = create_app(settings(), client_factory=flaky.client_factory)
    async with service_client(app) as c:
        body = trigger_body()
        await c.post("/retrain", content=body, headers=signed_headers(body))
    assert [call["body"]["status"] for call in flaky.calls] == ["succeeded", "succeeded"]

    refusing = FakeDriftline(statuses=[422, 200])
    app = create_app(settings(), client_factory=refusing.client_factory)
    async with service_client(app) as c:
        body = trigger_body()
        await c.post("/retrain", content=body, headers=signed_headers(body))
        [job] = (await c.get("/jobs")).json()
    assert [call["body"]["status"] for call in refusing.calls] == ["succeeded", "failed"]
    assert refusing.calls[1]["body"]["detail"].startswith("Driftline refused the new reference: HTTP 422")
    assert job["status"] == "failed"


async def test_unreachable_driftline_is_recorded() -> None:
    def down() -> httpx.AsyncClient:
        def refuse(request: httpx.Request) -> httpx.Response:
            raise httpx.ConnectError("connection refused", request=request)
        return httpx.AsyncClient(transport=httpx.MockTransport(refuse))

    app = create_app(settings(callback_attempts=3), client_factory=down)
    async with service_client(app) as c:
        body = trigger_body()
        assert (await c.post("/retrain", content=body, headers=signed_headers(body))).status_code == 202
        [job] = (await c.get("/jobs")).json()
    assert job["status"] == "callback_failed" and job["callback_status"] is None


async def test_without_driftline_url_the_signed_callback_url_is_used(driftline: FakeDriftline) -> None:
    app = create_app(settings(driftline_url=None), client_factory=driftline.client_factory)
    async with service_client(app) as c:
        body = trigger_body()
        await c.post("/retrain", content=body, headers=signed_headers(body))
    assert [c["host"] for c in driftline.calls] == ["driftline.example.com"]


async def test_unsigned_mode_never_sends_the_key_to_a_callers_url(driftline: FakeDriftline) -> None:
    """No secret and no DRIFTLINE_URL: anyone could name the callback URL, so none is called."""
    app = create_app(settings(webhook_secret=None, driftline_url=None), client_factory=driftline.client_factory)
    async with service_client(app) as c:
        response = await c.post("/retrain", content=trigger_body(), headers={"Content-Type": "application/json"})
        [job] = (await c.get("/jobs")).json()
    assert response.status_code == 202
    assert driftline.calls == []
    assert job["status"] == "callback_failed" and "DRIFTLINE_URL" in job["detail"]


@pytest.mark.parametrize(("body", "status"), [
    (b"not json", 422),
    (trigger_body(monitor="../../etc"), 422),
    (trigger_body(job_id="a/b"), 422),
    (json.dumps({"type": "driftline.alert", "rule": "dataset-drift"}).encode(), 200),
])
async def test_bad_or_foreign_bodies(body: bytes, status: int, client: httpx.AsyncClient,
                                     driftline: FakeDriftline) -> None:
    response = await client.post("/retrain", content=body, headers=signed_headers(body))
    assert response.status_code == status
    assert driftline.calls == []
    assert (await client.get("/jobs")).json() == []


# --- against the real Driftline --------------------------------------------------------------------


async def test_the_compose_flow_against_driftline(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """examples/compose/driftline.yaml in Driftline's own app: an Alertmanager notification
    creates a job, Driftline's outbox deliverer signs and sends the trigger to the service,
    the service calls back, and Driftline promotes the new reference; a redelivery starts nothing."""
    from asgi_lifespan import LifespanManager
    from pydantic import SecretStr

    from alerts.delivery import Deliverer
    from monitor.app import create_app as create_driftline
    from monitor.config import Settings, load_config
    from monitor.demo import demo_data

    monkeypatch.setenv("RETRAIN_WEBHOOK_SECRET", SECRET.decode())  # read by Driftline's deliverer (secret_env)
    config = load_config(REPO / "examples" / "compose" / "driftline.yaml")
    dl_settings = Settings(database_url=f"sqlite:///{tmp_path / 'driftline.db'}",
                           api_keys=SecretStr(f"ops-key,{API_KEY}"),
                           alertmanager_token=SecretStr("am-token-test"), scheduler=False,
                           public_url="https://driftline.example.com")
    driftline_app = create_driftline(dl_settings, config)

    def to_driftline() -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.ASGITransport(app=driftline_app), base_url="http://driftline:8000")

    retrain_app = create_app(RetrainSettings.from_env({
        "DRIFTLINE_URL": "http://driftline:8000", "DRIFTLINE_API_KEY": API_KEY,
        "RETRAIN_WEBHOOK_SECRET": SECRET.decode(), "RETRAIN_DATA": str(CURRENT)}), client_factory=to_driftline)

    async with LifespanManager(driftline_app), to_driftline() as dl:
        reference, _ = demo_data()
        # The demo's reference, without what this monitor does not declare (Driftline refuses it).
        csv = reference.drop(columns=["weekday", "prediction_id"]).to_csv(index=False)
        uploaded = await dl.post("/v1/monitors/approval/reference", content=csv,
                                 headers={"Authorization": "Bearer ops-key", "Content-Type": "text/csv"})
        assert uploaded.status_code == 201, uploaded.text
        alert = {"status": "firing", "labels": {"alertname": "DriftlineDatasetDrift", "monitor": "approval",
                                                "model": "approval-lr", "severity": "critical"},
                 "annotations": {}, "startsAt": "2026-01-05T10:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
                 "generatorURL": "", "fingerprint": "5c1e0c7f1b2a3d4e"}
        notified = await dl.post("/v1/alertmanager/webhook", headers={"Authorization": "Bearer am-token-test"},
                                 json={"version": "4", "status": "firing", "receiver": "driftline", "alerts": [alert],
                                       "groupKey": "{}:{monitor=\"approval\"}"})
        assert notified.json()["jobs"] == 1, notified.text
        [job] = (await dl.get("/v1/retrain-jobs")).json()
        assert job["status"] == "triggered"

        store = driftline_app.state.store
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=retrain_app)) as to_retrain:
            deliverer = Deliverer(store, to_retrain, {w.name: w for w in config.to_domain().webhooks},
                                  now=lambda: datetime.now(UTC))
            assert await deliverer.deliver_due() == 1

        done = (await dl.get(f"/v1/retrain-jobs/{job['id']}")).json()
        assert done["status"] == "succeeded", done
        assert done["reference_version"] == 2
        references = (await dl.get("/v1/monitors/approval/references")).json()
        assert {r["version"] for r in references} == {1, 2}

        # At least once: the same message delivered again (Driftline's retry after a lost answer).
        [message] = store.outbox_messages(None, 10)
        body = message.payload.encode()
        async with service_client(retrain_app) as c:
            again = await c.post("/retrain", content=body, headers=signed_headers(body, key=message.idempotency_key))
            assert again.json()["status"] == "duplicate"
            [seen] = (await c.get("/jobs")).json()
        assert seen["job_id"] == job["id"] and seen["status"] == "succeeded" and seen["duplicates"] == 1
        assert len((await dl.get("/v1/monitors/approval/references")).json()) == 2
