"""Alerting inside the service: rule events into the outbox, retraining jobs, Alertmanager
notifications, and the delivery loop. Wired by the composition root into the MonitorService.

Exactly once, end to end: an event enters the outbox in its run's transaction, unique on
(target, idempotency key); an Alertmanager episode is recorded once per (fingerprint, startsAt);
a retraining job is unique on its trigger key; its POST goes through the same outbox, carrying
an ``Idempotency-Key`` the retraining service can deduplicate on if a response is lost.
"""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

import httpx

from alerts.alertmanager import AlertmanagerPayload
from alerts.delivery import Deliverer
from alerts.outbox import OutboxPort
from alerts.retrain import decide
from alerts.rules import evaluate_rules
from monitor.domain import (
    AlertEvent,
    Catalog,
    CommandAction,
    DescribesCatalog,
    HttpAction,
    JobStatus,
    MessageKind,
    Monitor,
    OutboxMessage,
    Outcome,
    RetrainJob,
    Run,
    catalog_of,
)

__all__ = ["AlertService", "AlertStore"]

logger = logging.getLogger(__name__)


class AlertStore(OutboxPort, Protocol):
    """The storage this service needs (implemented by monitor.storage.Store)."""

    def list_runs(self, monitor: str, start: datetime | None = None, end: datetime | None = None,
                  limit: int = 100) -> list[Run]: ...

    def enqueue(self, messages: Sequence[OutboxMessage]) -> int: ...

    def record_alertmanager(self, *, fingerprint: str, starts_at: datetime, alertname: str, monitor: str | None,
                            status: str, labels: dict[str, str], now: datetime) -> bool: ...

    def create_retrain_job(self, job: RetrainJob) -> tuple[RetrainJob, bool]: ...

    def create_retrain_job_checked(self, monitor: str, decide: Callable[[list[RetrainJob]], RetrainJob | None]
                                   ) -> tuple[RetrainJob, bool] | None: ...

    def update_retrain_job(self, job_id: str, *, status: JobStatus, detail: str | None = None,
                           triggered_at: datetime | None = None, completed_at: datetime | None = None,
                           reference_version: int | None = None) -> RetrainJob: ...

    def get_retrain_job(self, job_id: str) -> RetrainJob | None: ...

    def retrain_jobs(self, monitor: str | None = None, since: datetime | None = None,
                     limit: int = 100) -> list[RetrainJob]: ...


class AlertService:
    """Turns runs and Alertmanager notifications into deliveries and retraining jobs."""

    def __init__(self, config: Catalog | DescribesCatalog, store: AlertStore, client: httpx.AsyncClient,
                 *, public_url: str, now: Callable[[], datetime], claim_for: timedelta | None = None) -> None:
        self._public_url = public_url.rstrip("/")
        self._config = config = catalog_of(config)
        self._store = store
        self._now = now
        self._deliverer = Deliverer(store, client, {w.name: w for w in config.webhooks}, now=now, claim_for=claim_for)
        self._commands: set[asyncio.Task[None]] = set()

    # --- in-service rules ------------------------------------------------------------------

    def events_for(self, monitor: Monitor, run: Run) -> list[AlertEvent]:
        """The rules that start firing with ``run`` (called before it is saved)."""
        if not monitor.alerts:
            return []
        depth = max(rule.of for rule in monitor.alerts)
        previous = [r for r in self._store.list_runs(monitor.name, limit=depth + 1) if r.id != run.id][:depth]
        return evaluate_rules(monitor, run, previous, self._public_url)

    @staticmethod
    def messages(events: Sequence[AlertEvent]) -> list[OutboxMessage]:
        """One outbox message per event and webhook target (written in the run's transaction)."""
        out = []
        for event in events:
            body = json.dumps(event.payload, sort_keys=True)
            out += [OutboxMessage(target=t, idempotency_key=event.idempotency_key, kind=MessageKind.ALERT, payload=body)
                    for t in event.webhooks]
        return out

    async def after_run(self, monitor: Monitor, run: Run, events: Sequence[AlertEvent]) -> None:
        """Start retraining for the in-service rules that fired with this run (if the policy says so)."""
        for event in events:
            await self.trigger(monitor, reason=event.rule, trigger_key=f"rule:{event.idempotency_key}",
                               context={"run_id": run.id})

    # --- Alertmanager --------------------------------------------------------------------------

    async def alertmanager(self, payload: AlertmanagerPayload) -> dict[str, int]:
        """Record a notification; start at most one job per new firing episode."""
        counts = {"new": 0, "duplicate": 0, "resolved": 0, "jobs": 0}
        for alert in payload.alerts:
            monitor_name = alert.labels.get("monitor")
            new = await asyncio.to_thread(
                self._store.record_alertmanager, fingerprint=alert.fingerprint, starts_at=alert.starts_at,
                alertname=alert.alertname, monitor=monitor_name, status=alert.status, labels=dict(alert.labels),
                now=self._now())
            verdict = "resolved" if alert.status == "resolved" else "new" if new else "duplicate"
            # One line per alert, so an operator can see Alertmanager's repeats being absorbed.
            logger.info("alertmanager alert %s of monitor %s: %s (fingerprint %s, starts at %s)", alert.alertname,
                        monitor_name, verdict, alert.fingerprint, alert.starts_at.isoformat())
            counts[verdict] += 1
            if verdict != "new":
                continue
            monitor = next((m for m in self._config.monitors if m.name == monitor_name), None)
            if monitor is None:
                continue
            job = await self.trigger(monitor, reason=alert.alertname, trigger_key=f"am:{alert.key}",
                                     context={"alert": alert.alertname, "fingerprint": alert.fingerprint,
                                              "starts_at": alert.starts_at.isoformat(),
                                              "annotations": dict(alert.annotations)})
            counts["jobs"] += job is not None and job.outcome is Outcome.TRIGGERED
        return counts

    # --- retraining ----------------------------------------------------------------------------

    async def trigger(self, monitor: Monitor, *, reason: str, trigger_key: str,
                      context: dict[str, Any]) -> RetrainJob | None:
        """Apply the monitor's retraining policy to one trigger; return the job (or None: not configured)."""
        policy = monitor.retrain
        now = self._now()

        def job_of(recent: list[RetrainJob]) -> RetrainJob | None:
            # Called inside the store's transaction (locked per monitor on PostgreSQL): the cooldown
            # and budget are checked against the jobs every replica has recorded.
            outcome = decide(policy, reason, now, recent)
            if outcome is Outcome.NOT_CONFIGURED or policy is None:
                return None
            status = JobStatus.PENDING if outcome is Outcome.TRIGGERED else JobStatus.SKIPPED
            return RetrainJob(id=uuid.uuid4().hex, monitor=monitor.name, model=monitor.model, trigger_key=trigger_key,
                              reason=reason, status=status, outcome=outcome, dry_run=policy.dry_run, created_at=now,
                              detail=None if outcome is Outcome.TRIGGERED else f"not started: {outcome}")

        stored = await asyncio.to_thread(self._store.create_retrain_job_checked, monitor.name, job_of)
        if stored is None or policy is None:
            return None
        job, created = stored
        if not created or job.outcome is not Outcome.TRIGGERED:
            return job
        callback = f"{self._public_url}/v1/retrain-jobs/{job.id}/complete"
        body = {"type": "driftline.retrain", "job_id": job.id, "monitor": monitor.name, "model": monitor.model,
                "reason": reason, "trigger": context, "callback_url": callback,
                "report_url": f"{self._public_url}/v1/monitors/{monitor.name}/report",
                "idempotency_key": f"retrain:{job.id}"}
        if isinstance(policy.action, HttpAction):
            message = OutboxMessage(target=policy.action.webhook, idempotency_key=f"retrain:{job.id}",
                                    kind=MessageKind.RETRAIN, payload=json.dumps(body, sort_keys=True))
            await asyncio.to_thread(self._store.enqueue, [message])
            return await asyncio.to_thread(self._store.update_retrain_job, job.id, status=JobStatus.TRIGGERED,
                                           triggered_at=now)
        if isinstance(policy.action, CommandAction):
            task = asyncio.create_task(self._run_command(job, policy.action, body))
            self._commands.add(task)
            task.add_done_callback(self._commands.discard)
        return job

    async def _run_command(self, job: RetrainJob, action: CommandAction, body: dict[str, Any]) -> None:
        try:
            proc = await asyncio.create_subprocess_exec(*action.argv, job.id, stdin=asyncio.subprocess.PIPE,
                                                        stdout=asyncio.subprocess.DEVNULL,
                                                        stderr=asyncio.subprocess.DEVNULL)
            await asyncio.to_thread(self._store.update_retrain_job, job.id, status=JobStatus.TRIGGERED,
                                    triggered_at=self._now())
            await proc.communicate(json.dumps(body).encode())
            if proc.returncode != 0:
                await asyncio.to_thread(self._store.update_retrain_job, job.id, status=JobStatus.FAILED,
                                        completed_at=self._now(), detail=f"command exited {proc.returncode}")
        except OSError as exc:
            await asyncio.to_thread(self._store.update_retrain_job, job.id, status=JobStatus.FAILED,
                                    completed_at=self._now(), detail=f"command could not start: {exc.strerror}")

    async def deliver_due(self) -> int:
        """One delivery pass over the outbox."""
        return await self._deliverer.deliver_due()
