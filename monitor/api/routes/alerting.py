"""Alertmanager's webhook, retraining jobs and the delivery outbox.

``POST /v1/alertmanager/webhook`` takes Alertmanager's version-4 payload with the bearer token
from ``DRIFTLINE_ALERTMANAGER_TOKEN``; it is idempotent on (fingerprint, startsAt), so
Alertmanager's retries and repeats never start a second job. A retraining job reports back
with ``POST /v1/retrain-jobs/{id}/complete`` and may register and promote a new reference.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import anyio.to_thread
import pandas as pd
from fastapi import APIRouter, Depends, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field

from alerts.alertmanager import AlertmanagerPayload
from alerts.outbox import DeliveryStatus
from alerts.retrain import JobStatus, RetrainJob
from monitor.api.auth import require_api_key
from monitor.api.deps import ConfigDep, ServiceDep, SettingsDep
from monitor.api.errors import Unauthorized, UnknownJob
from monitor.errors import InputError

__all__ = ["router"]

router = APIRouter(tags=["alerting"])
_bearer = HTTPBearer(auto_error=False, description="DRIFTLINE_ALERTMANAGER_TOKEN")


async def require_alertmanager_token(
    settings: SettingsDep, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    """Constant-time check of Alertmanager's bearer token (never echoed, never logged)."""
    token = settings.alertmanager_token.get_secret_value().encode()
    if credentials is None or not token:
        raise Unauthorized
    given = hashlib.sha256(credentials.credentials.encode()).digest()
    if not hmac.compare_digest(given, hashlib.sha256(token).digest()):
        raise Unauthorized


def _alerts(request: Request) -> Any:
    service = getattr(request.app.state, "alerts", None)
    if service is None:
        raise InputError("alerting is not enabled in this process", field="alerts")
    return service


class JobOut(BaseModel):
    """A retraining job."""

    model_config = ConfigDict(frozen=True)

    id: str
    monitor: str
    model: str
    reason: str
    status: str
    outcome: str
    dry_run: bool
    created_at: datetime
    triggered_at: datetime | None
    completed_at: datetime | None
    detail: str | None
    reference_version: int | None

    @classmethod
    def from_domain(cls, job: RetrainJob) -> JobOut:
        return cls(id=job.id, monitor=job.monitor, model=job.model, reason=job.reason, status=str(job.status),
                   outcome=str(job.outcome), dry_run=job.dry_run, created_at=job.created_at,
                   triggered_at=job.triggered_at, completed_at=job.completed_at, detail=job.detail,
                   reference_version=job.reference_version)


class Completion(BaseModel):
    """What a retraining job reports when it ends; ``reference`` rows become a new active reference."""

    model_config = ConfigDict(extra="forbid")

    status: Literal["succeeded", "failed"]
    detail: str | None = Field(None, max_length=2000)
    reference: list[dict[str, Any]] | None = Field(None, description="rows of the new reference (promoted)")


class DeliveryOut(BaseModel):
    """One outbox message (its payload is not repeated here)."""

    id: int | None
    target: str
    kind: str
    idempotency_key: str
    status: str
    attempts: int
    next_attempt_at: datetime | None
    last_error: str | None
    created_at: datetime | None
    delivered_at: datetime | None


@router.post("/v1/alertmanager/webhook", dependencies=[Depends(require_alertmanager_token)],
             summary="Receive an Alertmanager notification (version 4)")
async def alertmanager_webhook(payload: AlertmanagerPayload, request: Request) -> dict[str, int]:
    return await _alerts(request).alertmanager(payload)  # type: ignore[no-any-return]


class NotificationOut(BaseModel):
    """One firing episode received from Alertmanager (unique on fingerprint and startsAt)."""

    fingerprint: str
    starts_at: datetime
    alertname: str
    monitor: str | None
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    received_at: datetime
    resolved_at: datetime | None


@router.get("/v1/alertmanager/notifications", response_model=list[NotificationOut],
            summary="Alert episodes received from Alertmanager, most recently received first")
def list_notifications(request: Request, limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> list[NotificationOut]:
    return [NotificationOut.model_validate(n) for n in request.app.state.store.alertmanager_notifications(limit)]


@router.get("/v1/retrain-jobs", response_model=list[JobOut], summary="List retraining jobs")
def list_jobs(request: Request, monitor: str | None = None, limit: int = 100) -> list[JobOut]:
    return [JobOut.from_domain(j) for j in request.app.state.store.retrain_jobs(monitor, limit=limit)]


@router.get("/v1/retrain-jobs/{job_id}", response_model=JobOut, summary="One retraining job")
def get_job(job_id: str, request: Request) -> JobOut:
    job = request.app.state.store.get_retrain_job(job_id)
    if job is None:
        raise UnknownJob(job_id)
    return JobOut.from_domain(job)


@router.post("/v1/retrain-jobs/{job_id}/complete", response_model=JobOut, dependencies=[Depends(require_api_key)],
             summary="A retraining job reports back (and may promote a new reference)")
async def complete_job(job_id: str, body: Completion, request: Request, service: ServiceDep,
                       config: ConfigDep) -> JobOut:
    store = request.app.state.store
    job = await anyio.to_thread.run_sync(store.get_retrain_job, job_id)
    if job is None:
        raise UnknownJob(job_id)
    version = None
    if body.reference and body.status == "succeeded":
        record = await service.register_reference(job.monitor, pd.DataFrame(body.reference), f"retrain:{job_id}")
        version = record.version
    updated = await anyio.to_thread.run_sync(lambda: store.update_retrain_job(
        job_id, status=JobStatus(body.status), detail=body.detail, completed_at=datetime.now(UTC),
        reference_version=version))
    return JobOut.from_domain(updated)


@router.get("/v1/deliveries", response_model=list[DeliveryOut], summary="Webhook deliveries (the outbox)")
def list_deliveries(request: Request, status: DeliveryStatus | None = None, limit: int = 100) -> list[DeliveryOut]:
    messages = request.app.state.store.outbox_messages(status, limit)
    return [DeliveryOut(id=m.id, target=m.target, kind=m.kind, idempotency_key=m.idempotency_key,
                        status=str(m.status), attempts=m.attempts, next_attempt_at=m.next_attempt_at,
                        last_error=m.last_error, created_at=m.created_at, delivered_at=m.delivered_at)
            for m in messages]
