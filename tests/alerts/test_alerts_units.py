"""Alert rules, signatures, delivery with backoff and dead letters, Alertmanager payloads, retrain policy."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from pydantic import ValidationError

from alerts.alertmanager import AlertmanagerPayload
from alerts.delivery import Deliverer, backoff_delay
from alerts.outbox import DeliveryStatus, OutboxMessage
from alerts.retrain import JobStatus, Outcome, RetrainJob, decide
from alerts.rules import evaluate_rules, firing
from alerts.signing import SIGNATURE_HEADER, sign, verify
from monitor import domain
from monitor.config import MonitorConfig
from monitor.domain import (
    DatasetSummary,
    FeatureResult,
    PerformanceRecord,
    Role,
    Run,
    RunStatus,
)
from monitor.stats.check import Status
from monitor.stats.types import ColumnType, DriftMethod

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
#: Real Alertmanager v4 webhook bodies (one firing, one resolved), kept beside the tests.
SAMPLE = Path(__file__).parent / "fixtures" / "alertmanager-webhook-v4-sample.json"


def run(i: int, *, drift: bool, accuracy: float = 0.9) -> Run:
    return Run(id=f"r{i}", monitor="churn", model="m", status=RunStatus.DRIFT if drift else RunStatus.OK,
               window_start=None, window_end=T0 + timedelta(minutes=i), rows=100, started_at=T0, finished_at=T0,
               dataset=DatasetSummary(drift_share=0.6 if drift else 0.0, drifted_features=3 if drift else 0,
                                      total_features=5, dataset_drift=drift, threshold=0.5),
               features=(FeatureResult(column="age", role=Role.FEATURE, type=ColumnType.NUMERICAL, method=DriftMethod.KS, reason="",
                                       statistic=0.3, p_value=0.001 if drift else 0.5, adjusted_p_value=None,
                                       threshold=0.05, drifted=drift, status=Status.OK, n_reference=10, n_current=10,
                                       missing_reference=0, missing_current=0, missing_p_value=1.0,
                                       missing_drifted=False),),
               performance=(PerformanceRecord(metric="accuracy", value=accuracy, reference_value=0.9),))


def _monitor(**extra: Any) -> domain.Monitor:
    """A monitor written as in driftline.yaml, translated as the service translates it."""
    return MonitorConfig.model_validate({"name": "churn", "model": "m", "every": "1m",
                                         "schema": {"numerical": ["age"]}, **extra}).to_domain()


def AlertRule(**rule: Any) -> domain.AlertRule:
    return _monitor(alerts=[rule]).alerts[0]


def monitor(*rules: domain.AlertRule) -> domain.Monitor:
    return replace(_monitor(), alerts=rules)


def test_persistence_n_of_m_and_one_event_per_episode() -> None:
    rule = AlertRule(name="drift", when="dataset_drift", runs=2, of=3, webhooks=())
    m = monitor(rule)
    history: list[Run] = []
    fired = []
    for i, d in enumerate([True, False, True, True, True, False, False, False, True, True]):
        r = run(i, drift=d)
        fired.append(bool(evaluate_rules(m, r, list(reversed(history)), "http://x")))
        history.append(r)
    # fires at run 2 (2 of last 3), stays firing (no new events), clears by run 6, fires again at run 9
    assert fired == [False, False, True, False, False, False, False, False, False, True]


def test_performance_rules() -> None:
    below = AlertRule(name="low", when="performance_below", metric="accuracy", floor=0.8)
    drop = AlertRule(name="drop", when="performance_drop", metric="accuracy", max_drop=0.05)
    assert firing(below, [run(1, drift=False, accuracy=0.7)]) and not firing(below, [run(1, drift=False)])
    assert firing(drop, [run(1, drift=False, accuracy=0.84)]) and not firing(drop, [run(1, drift=False, accuracy=0.86)])
    insufficient = replace(run(1, drift=True), status=RunStatus.INSUFFICIENT_DATA)
    assert not firing(AlertRule(name="d", when="dataset_drift"), [insufficient])


def test_event_payload_names_the_run_and_the_most_drifted_features() -> None:
    m = monitor(AlertRule(name="drift", when="dataset_drift", webhooks=()))
    [event] = evaluate_rules(m, run(1, drift=True), [], "http://driftline:8000/")
    assert event.idempotency_key == "churn:drift:r1"
    assert event.payload["report_url"] == "http://driftline:8000/v1/runs/r1/report"
    assert event.payload["features"][0]["feature"] == "age" and event.payload["window"]["end"] == (
        T0 + timedelta(minutes=1)).isoformat()


def test_signature_round_trip_and_tampering() -> None:
    body = b'{"a": 1}'
    header = sign(b"secret", body, 1_700_000_000)
    assert verify(b"secret", header, body, now=1_700_000_010)
    assert not verify(b"secret", header, body + b" ", now=1_700_000_010)
    assert not verify(b"other", header, body, now=1_700_000_010)
    assert not verify(b"secret", header, body, now=1_700_001_000)  # too old
    assert not verify(b"secret", "garbage", body, now=1_700_000_010)


class MemoryOutbox:
    def __init__(self, messages: list[OutboxMessage]) -> None:
        self.messages = {i: replace(m, id=i) for i, m in enumerate(messages)}

    def outbox_due(self, now: datetime, limit: int) -> list[OutboxMessage]:
        return [m for m in self.messages.values() if m.status is DeliveryStatus.PENDING
                and (m.next_attempt_at is None or m.next_attempt_at <= now)][:limit]

    outbox_claim = outbox_due  # one process: nothing to claim against

    def outbox_update(self, message: OutboxMessage) -> None:
        assert message.id is not None
        self.messages[message.id] = message


TARGET = domain.WebhookTarget(name="retrain", url="http://retrain.test/hook", secret_env="DL_TEST_SECRET",
                              max_attempts=3, backoff=timedelta(seconds=1), backoff_max=timedelta(seconds=10))


@pytest.mark.anyio
async def test_delivery_signs_retries_with_backoff_and_dead_letters(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DL_TEST_SECRET", "s3cret")
    seen: list[httpx.Request] = []
    status = {"code": 503}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(status["code"])

    clock = {"now": T0}
    outbox = MemoryOutbox([OutboxMessage(target="retrain", idempotency_key="k1", kind="alert", payload='{"x":1}'),
                           OutboxMessage(target="retrain", idempotency_key="k2", kind="alert", payload='{"x":2}')])
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        d = Deliverer(outbox, client, {"retrain": TARGET}, now=lambda: clock["now"], rng=np.random.default_rng(0))
        assert await d.deliver_due() == 0
        first = outbox.messages[0]
        assert first.attempts == 1 and first.next_attempt_at is not None and first.last_error == "HTTP 503"
        assert await d.deliver_due() == 0 and len(seen) == 2  # not due yet: no new request
        clock["now"] += timedelta(seconds=3)
        await d.deliver_due()
        clock["now"] += timedelta(seconds=10)
        await d.deliver_due()
        assert {m.status for m in outbox.messages.values()} == {DeliveryStatus.DEAD_LETTER}
    assert len(seen) == 6
    req = seen[0]
    assert req.headers["Idempotency-Key"] == "k1"
    assert verify(b"s3cret", req.headers[SIGNATURE_HEADER], req.content, now=int(T0.timestamp()))
    assert "s3cret" not in str(outbox.messages[0])


@pytest.mark.anyio
async def test_a_pass_stops_before_a_post_could_outlast_its_claim() -> None:
    """N replicas: a message whose POST could end after the pass's claim is left for the next pass."""
    clock = {"now": T0}
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers["Idempotency-Key"])
        clock["now"] += timedelta(seconds=4)  # each POST takes 4 s (TARGET's timeout is 5 s)
        return httpx.Response(200)

    outbox = MemoryOutbox([OutboxMessage(target="retrain", idempotency_key=f"k{i}", kind="alert", payload="{}")
                           for i in range(4)])
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        d = Deliverer(outbox, client, {"retrain": TARGET}, now=lambda: clock["now"], claim_for=timedelta(seconds=12))
        # 0 s: k0 (0 + 5 < 12); 4 s: k1 (9 < 12); 8 s: k2 would end by 13 s, after the claim: stop.
        assert await d.deliver_due() == 2 and seen == ["k0", "k1"]
        assert await d.deliver_due() == 2 and seen == ["k0", "k1", "k2", "k3"]
        # A claim shorter than one timeout still sends one message per pass.
        outbox.messages[9] = OutboxMessage(id=9, target="retrain", idempotency_key="k9", kind="alert", payload="{}")
        short = Deliverer(outbox, client, {"retrain": TARGET}, now=lambda: clock["now"], claim_for=timedelta(seconds=1))
        assert await short.deliver_due() == 1 and seen[-1] == "k9"


@pytest.mark.anyio
async def test_delivery_succeeds_once_the_receiver_is_back() -> None:
    calls = {"n": 0}

    def handler(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            raise httpx.ConnectError("down")
        return httpx.Response(204)

    outbox = MemoryOutbox([OutboxMessage(target="retrain", idempotency_key="k", kind="alert", payload="{}")])
    now = {"t": T0}
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        d = Deliverer(outbox, client, {"retrain": TARGET}, now=lambda: now["t"], rng=np.random.default_rng(1))
        assert await d.deliver_due() == 0 and outbox.messages[0].last_error == "ConnectError"
        now["t"] += timedelta(minutes=1)
        assert await d.deliver_due() == 1
        assert await d.deliver_due() == 0
    assert calls["n"] == 2 and outbox.messages[0].status is DeliveryStatus.DELIVERED


def test_backoff_grows_and_is_capped() -> None:
    rng = np.random.default_rng(0)
    delays = [backoff_delay(TARGET, a, rng).total_seconds() for a in range(1, 8)]
    assert 0.5 <= delays[0] <= 1.0 and 1.0 <= delays[1] <= 2.0 and all(d <= 10.0 for d in delays)


def test_real_alertmanager_payloads_parse_and_garbage_is_refused() -> None:
    sample = json.loads(SAMPLE.read_text())
    firing_ = AlertmanagerPayload.model_validate(sample["firing"])
    resolved = AlertmanagerPayload.model_validate(sample["resolved"])
    assert firing_.alerts[0].key == resolved.alerts[0].key  # same episode
    assert firing_.alerts[0].alertname == "DataDriftDetected"
    with pytest.raises(ValidationError):
        AlertmanagerPayload.model_validate({"version": "4", "status": "firing", "receiver": "x", "alerts": []})
    with pytest.raises(ValidationError):
        AlertmanagerPayload.model_validate({**sample["firing"], "version": "3"})


def _job(created: datetime, outcome: Outcome = Outcome.TRIGGERED) -> RetrainJob:
    return RetrainJob(id="j", monitor="churn", model="m", trigger_key=str(created), reason="r",
                      status=JobStatus.TRIGGERED, outcome=outcome, dry_run=False, created_at=created)


def test_retrain_policy_cooldown_budget_dry_run() -> None:
    policy = _monitor(retrain={"on": ["DriftlineDatasetDrift"], "cooldown": "1h", "max_per_day": 2,
                               "action": {"type": "command", "argv": ["true"]}}).retrain
    assert policy is not None
    assert decide(policy, "Other", T0, []) is Outcome.NOT_CONFIGURED
    assert decide(policy, "DriftlineDatasetDrift", T0, []) is Outcome.TRIGGERED
    assert decide(policy, "DriftlineDatasetDrift", T0, [_job(T0 - timedelta(minutes=30))]) is Outcome.COOLDOWN
    two = [_job(T0 - timedelta(hours=2)), _job(T0 - timedelta(hours=5))]
    assert decide(policy, "DriftlineDatasetDrift", T0, two) is Outcome.BUDGET
    skipped = [_job(T0 - timedelta(minutes=5), Outcome.COOLDOWN)]
    assert decide(policy, "DriftlineDatasetDrift", T0, skipped) is Outcome.TRIGGERED
    dry = replace(policy, dry_run=True)
    assert decide(dry, "DriftlineDatasetDrift", T0, []) is Outcome.DRY_RUN
