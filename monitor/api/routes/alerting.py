"""Alertmanager's webhook, retraining jobs and the delivery outbox.

``POST /v1/alertmanager/webhook`` takes Alertmanager's version-4 payload with the bearer token
from ``DRIFTLINE_ALERTMANAGER_TOKEN``; it is idempotent on (fingerprint, startsAt), so
Alertmanager's retries and repeats never start a second job. A retraining job reports back
with ``POST /v1/retrain-jobs/{id}/complete`` and may register and promote a new reference.

The new reference goes through the reference upload's validation (``ingest.reference_spec``),
so a reference a run could not test (a feature without any value, an object or list for a
value) is a 422 naming the row and field, and it is promoted in the transaction that completes
the job: a refused completion writes nothing. Without alerting in this process (an app built
around a given service) these routes answer 404 ``alerting is not enabled: ...``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import anyio.to_thread
from fastapi import APIRouter, Body, Depends, Path, Query
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, ConfigDict, Field, field_validator

from alerts.alertmanager import AlertmanagerPayload
from monitor import ingest
from monitor.api.auth import require_api_key
from monitor.api.deps import AlertingStoreDep, AlertsDep, ConfigDep, SettingsDep
from monitor.api.errors import documented
from monitor.config import MonitorConfig
from monitor.domain import DeliveryStatus, JobStatus, RetrainJob
from monitor.errors import BatchInvalid, InputError, Unauthorized, UnknownRetrainJob
from monitor.run import fit_reference

__all__ = ["router"]

router = APIRouter(tags=["alerting"])
_bearer = HTTPBearer(auto_error=False, scheme_name="alertmanagerToken",
                     description="The token of DRIFTLINE_ALERTMANAGER_TOKEN (not an API key).")


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


#: Retraining job ids are ``uuid4().hex``; a path with a NUL byte can name no job (and PostgreSQL
#: refuses NUL in text), so it is a 404 before any query.
JobId = Annotated[str, Path(description="A retraining job's id.")]

_NO_ALERTING = "Alerting is not enabled in this process."
_STORE_DOWN = "The store is unavailable."
_BAD_QUERY = "A bad query parameter, named in `field`."
_LIST_ERRORS = documented({404: _NO_ALERTING, 422: _BAD_QUERY, 503: _STORE_DOWN})
_JOB_ERRORS = documented({404: "No such job, or alerting is not enabled in this process.", 503: _STORE_DOWN})
_WEBHOOK_ERRORS = documented({401: "Missing or invalid Alertmanager token.", 404: _NO_ALERTING,
                              422: "Not an Alertmanager version-4 payload; `field` names the key.",
                              503: _STORE_DOWN})
_COMPLETE_ERRORS = documented({
    401: "Missing or invalid API key.", 404: "No such job, or alerting is not enabled in this process.",
    422: "A bad field, or a reference row the monitor cannot use (`field` is `reference.<column>`, `row` its index).",
    503: _STORE_DOWN,
})


#: Request examples of the two JSON write routes (OpenAPI ``examples``), shown in /docs.
_ALERTMANAGER_EXAMPLES: dict[str, Any] = {"firing": {"summary": "One firing alert of monitor churn", "value": {
    "version": "4", "status": "firing", "receiver": "driftline", "groupKey": '{}:{alertname="DriftlineDatasetDrift"}',
    "externalURL": "http://alertmanager:9093",
    "alerts": [{"status": "firing", "fingerprint": "3f6b1c0d2a9e8b71", "startsAt": "2026-11-22T17:35:00Z",
                "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prometheus:9090/graph",
                "labels": {"alertname": "DriftlineDatasetDrift", "monitor": "churn", "severity": "warning"},
                "annotations": {"summary": "Dataset drift on monitor churn"}}],
}}}
_COMPLETION_EXAMPLES: dict[str, Any] = {
    "succeeded": {"summary": "The job succeeded and promotes a new reference", "value": {
        "status": "succeeded", "detail": "model v4, trained on the last 30 days",
        "reference": [{"age": 31, "income": 4200.5, "plan": "gold", "region": "eu", "prediction": "stay",
                       "label": "stay"}]}},
    "failed": {"summary": "The job failed", "value": {"status": "failed", "detail": "training data missing"}},
}


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
    reference: list[dict[str, Any]] | None = Field(None, description="rows of the new reference (promoted); "
                                                                     "the columns of a reference upload")

    @field_validator("detail")
    @classmethod
    def _printable(cls, value: str | None) -> str | None:
        # PostgreSQL text cannot hold NUL: refuse it here, naming the field, instead of a 503 later.
        if value is not None and "\x00" in value:
            raise ValueError(f"contains a NUL character at position {value.index(chr(0))}")
        return value


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


@router.post("/v1/alertmanager/webhook", operation_id="receiveAlertmanagerWebhook",
             dependencies=[Depends(require_alertmanager_token)], responses=_WEBHOOK_ERRORS,
             summary="Receive an Alertmanager notification (version 4)")
async def alertmanager_webhook(payload: Annotated[AlertmanagerPayload, Body(openapi_examples=_ALERTMANAGER_EXAMPLES)],
                               alerts: AlertsDep) -> dict[str, int]:
    return await alerts.alertmanager(payload)


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


Limit = Annotated[int, Query(ge=1, le=1000, description="At most this many, newest first")]
#: A monitor name as driftline.yaml allows it (so a hostile filter never reaches the database).
MonitorFilter = Annotated[str | None, Query(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$",
                                            description="Only this monitor's jobs")]


@router.get("/v1/alertmanager/notifications", operation_id="listAlertmanagerNotifications",
            response_model=list[NotificationOut], responses=_LIST_ERRORS,
            summary="Alert episodes received from Alertmanager, most recently received first")
def list_notifications(store: AlertingStoreDep, limit: Limit = 100) -> list[NotificationOut]:
    return [NotificationOut.model_validate(n) for n in store.alertmanager_notifications(limit)]


@router.get("/v1/retrain-jobs", operation_id="listRetrainJobs", response_model=list[JobOut], responses=_LIST_ERRORS,
            summary="List retraining jobs")
def list_jobs(store: AlertingStoreDep, monitor: MonitorFilter = None, limit: Limit = 100) -> list[JobOut]:
    return [JobOut.from_domain(j) for j in store.retrain_jobs(monitor, limit=limit)]


def _known_job(store: AlertingStoreDep, job_id: str) -> RetrainJob:
    job = store.get_retrain_job(job_id) if "\x00" not in job_id else None
    if job is None:
        raise UnknownRetrainJob(job_id)
    return job


@router.get("/v1/retrain-jobs/{job_id}", operation_id="getRetrainJob", response_model=JobOut, responses=_JOB_ERRORS,
            summary="One retraining job")
def get_job(job_id: JobId, store: AlertingStoreDep) -> JobOut:
    return JobOut.from_domain(_known_job(store, job_id))


@dataclass(frozen=True, slots=True, kw_only=True)
class FittedReference:
    """A validated, fitted reference for the store to promote (its ``NewReference``)."""

    profile: bytes
    content_hash: str
    source: str
    n_rows: int


def _new_reference(monitor: MonitorConfig, rows: list[dict[str, Any]], source: str) -> FittedReference:
    """Validate ``rows`` as a reference upload of ``monitor`` would be, and fit them.

    The rows are read as the JSON body of ``POST /v1/monitors/{name}/reference`` (the same
    parser and column rules); problems name ``reference.<column>`` and the row's index.
    """
    try:
        frame = ingest.parse_batch(json.dumps(rows).encode(), ingest.Format.JSON, ingest.reference_spec(monitor),
                                   now=datetime.now(UTC))
        bundle = fit_reference(monitor.to_domain(), frame)
    except BatchInvalid as exc:
        raise BatchInvalid([ingest.Issue(i.row, _nested(i.field), i.message) for i in exc.issues],
                           exc.total) from exc
    except InputError as exc:
        raise InputError(f"reference: {exc}", field=_nested(exc.field), row=exc.row) from exc
    return FittedReference(profile=bundle.to_bytes(), content_hash=bundle.content_hash, source=source,
                        n_rows=len(frame))


def _nested(field: str | None) -> str:
    return "reference" if field in (None, "body") else f"reference.{field}"


@router.post("/v1/retrain-jobs/{job_id}/complete", operation_id="completeRetrainJob", response_model=JobOut,
             dependencies=[Depends(require_api_key)],
             responses=_COMPLETE_ERRORS, summary="A retraining job reports back (and may promote a new reference)")
async def complete_job(job_id: JobId, body: Annotated[Completion, Body(openapi_examples=_COMPLETION_EXAMPLES)],
                       store: AlertingStoreDep, config: ConfigDep) -> JobOut:
    """End the job as ``succeeded`` or ``failed``. With ``succeeded`` and ``reference`` rows, those
    rows (validated as a reference upload) become the monitor's active reference in the same
    transaction; the job records its version."""
    job = await anyio.to_thread.run_sync(_known_job, store, job_id)
    reference = None
    if body.reference and body.status == "succeeded":
        monitor = config.monitor(job.monitor)
        reference = await anyio.to_thread.run_sync(_new_reference, monitor, body.reference, f"retrain:{job_id}")
    updated = await anyio.to_thread.run_sync(lambda: store.complete_retrain_job(
        job_id, status=JobStatus(body.status), detail=body.detail, completed_at=datetime.now(UTC),
        reference=reference))
    return JobOut.from_domain(updated)


@router.get("/v1/deliveries", operation_id="listDeliveries", response_model=list[DeliveryOut], responses=_LIST_ERRORS,
            summary="Webhook deliveries (the outbox)")
def list_deliveries(store: AlertingStoreDep, status: DeliveryStatus | None = None,
                    limit: Limit = 100) -> list[DeliveryOut]:
    messages = store.outbox_messages(status, limit)
    return [DeliveryOut(id=m.id, target=m.target, kind=m.kind, idempotency_key=m.idempotency_key,
                        status=str(m.status), attempts=m.attempts, next_attempt_at=m.next_attempt_at,
                        last_error=m.last_error, created_at=m.created_at, delivered_at=m.delivered_at)
            for m in messages]
