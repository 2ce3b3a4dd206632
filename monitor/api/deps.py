"""What the routes depend on: the ports they call (``StoreLike``, ``ServiceLike``, ``AlertsLike``,
``AlertingStoreLike``) and their providers.

The composition root (:mod:`monitor.app`) puts the store, the service, the configuration and the
settings on ``app.state`` in the lifespan; routes receive them through these dependencies, so
tests pass fakes to ``create_app`` and nothing is looked up globally. Alerting exists only when
the app builds its own service (``app.state.alerts``); without it the alerting dependencies raise
:class:`~monitor.errors.FeatureDisabled` (a 404 saying so), not a 422 blaming the request.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Protocol

import pandas as pd
from fastapi import Depends, Request

from monitor.config import DriftlineConfig, Settings
from monitor.domain import IngestResult, LabelResult, ReferenceRecord, Run
from monitor.errors import FeatureDisabled

if TYPE_CHECKING:
    from alerts.alertmanager import AlertmanagerPayload
    from monitor.domain import DeliveryStatus, JobStatus, OutboxMessage, RetrainJob
    from monitor.storage.store import NewReference

__all__ = [
    "AlertingStoreDep",
    "AlertingStoreLike",
    "AlertsDep",
    "AlertsLike",
    "ConfigDep",
    "ServiceDep",
    "ServiceLike",
    "SettingsDep",
    "StoreDep",
    "StoreLike",
]


class StoreLike(Protocol):
    """The part of ``monitor.storage.store.Store`` the API calls (synchronous: run it off the loop)."""

    def ping(self) -> None: ...

    def write_probe(self) -> None:
        """Raise ``StorageError`` when the database refuses a committed write (read-only, full disk)."""
        ...

    def ingest_predictions(self, model: str, frame: pd.DataFrame) -> IngestResult: ...

    def ingest_labels(self, model: str, frame: pd.DataFrame) -> LabelResult: ...

    def active_reference(self, monitor: str) -> ReferenceRecord | None: ...

    def active_reference_versions(self) -> dict[str, tuple[int, str]]: ...

    def references(self, monitor: str) -> list[ReferenceRecord]: ...

    def get_run(self, run_id: str) -> Run | None: ...

    def list_runs(self, monitor: str, start: datetime | None = None, end: datetime | None = None,
                  limit: int = 100, *, results: bool = True) -> list[Run]: ...

    def latest_runs(self) -> dict[str, Run]: ...


class ServiceLike(Protocol):
    """The monitor service as the API sees it: its lifecycle, runs on demand, references, labels, reports."""

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def scheduler_running(self) -> bool: ...

    async def run_now(self, monitor: str) -> Run: ...

    async def register_reference(self, monitor: str, frame: pd.DataFrame, source: str) -> ReferenceRecord: ...

    async def labels_arrived(self, model: str) -> None:
        """Called after a labels ingest that updated rows; it may recompute performance."""
        ...

    async def report_html(self, run_id: str) -> str | None:
        """The run's HTML report (``None``: no such run); rendering and any I/O happen off the loop."""
        ...


class AlertingStoreLike(Protocol):
    """The alerting part of ``monitor.storage.store.Store``: jobs, deliveries, Alertmanager episodes."""

    def alertmanager_notifications(self, limit: int = 100) -> list[dict[str, object]]: ...

    def retrain_jobs(self, monitor: str | None = None, since: datetime | None = None,
                     limit: int = 100) -> list[RetrainJob]: ...

    def get_retrain_job(self, job_id: str) -> RetrainJob | None: ...

    def complete_retrain_job(self, job_id: str, *, status: JobStatus, detail: str | None, completed_at: datetime,
                             reference: NewReference | None = None) -> RetrainJob: ...

    def outbox_messages(self, status: DeliveryStatus | None = None, limit: int = 100) -> Sequence[OutboxMessage]: ...


class AlertsLike(Protocol):
    """The alert service as the API sees it: it takes Alertmanager's notifications."""

    async def alertmanager(self, payload: AlertmanagerPayload) -> dict[str, int]: ...


_NO_ALERTING = ("this process was started with its own service (create_app(service=...)), "
                "so no alert service, retraining jobs or outbox are wired")


def get_alerts(request: Request) -> AlertsLike:
    alerts: AlertsLike | None = getattr(request.app.state, "alerts", None)
    if alerts is None:
        raise FeatureDisabled("alerting", _NO_ALERTING)
    return alerts


def get_alerting_store(request: Request) -> AlertingStoreLike:
    if getattr(request.app.state, "alerts", None) is None:
        raise FeatureDisabled("alerting", _NO_ALERTING)
    store: AlertingStoreLike = request.app.state.store
    return store


def get_store(request: Request) -> StoreLike:
    store: StoreLike = request.app.state.store
    return store


def get_service(request: Request) -> ServiceLike:
    service: ServiceLike = request.app.state.service
    return service


def get_config(request: Request) -> DriftlineConfig:
    config: DriftlineConfig = request.app.state.config
    return config


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


StoreDep = Annotated[StoreLike, Depends(get_store)]
AlertsDep = Annotated[AlertsLike, Depends(get_alerts)]
AlertingStoreDep = Annotated[AlertingStoreLike, Depends(get_alerting_store)]
ServiceDep = Annotated[ServiceLike, Depends(get_service)]
ConfigDep = Annotated[DriftlineConfig, Depends(get_config)]
SettingsDep = Annotated[Settings, Depends(get_settings)]

