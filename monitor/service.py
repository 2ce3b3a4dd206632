"""The monitoring service: references, runs on a schedule or on demand, late labels.

Thin on purpose: it wires the store, the sources and APScheduler around :func:`runner.evaluate`.
One job per monitor (``max_instances=1``, misfires coalesced) and a per-monitor lock mean two
runs of one monitor never overlap, whether scheduled or started through the API. Scheduled
windows end on multiples of the schedule period, so a restarted service computes the same
window ends and the store's unique (monitor, window_end) refuses a duplicate. A run that cannot
be written because the database is down is kept and written, as ``error``, once it is back.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import pandas as pd
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from alerts.outbox import OutboxMessage
from monitor.config import (
    DriftlineConfig,
    FileReference,
    FileSource,
    MonitorConfig,
    Settings,
    SqlSource,
    StoreReference,
    parse_duration,
)
from monitor.domain import Clock, ReferenceRecord, Run, RunStatus, WindowSpec
from monitor.errors import DriftlineError, DuplicateRun, InputError, StorageError
from monitor.frames import read_frame
from monitor.reports import render_report
from monitor.runner import ReferenceBundle, conform, evaluate, evaluate_performance, fit_reference
from monitor.sources import SqlSources, read_files_window, window_for
from monitor.storage.store import Store

if TYPE_CHECKING:
    from alerts.rules import AlertEvent
    from alerts.service import AlertService

__all__ = ["REPORT_CACHE_SIZE", "MonitorService", "SystemClock"]

logger = logging.getLogger(__name__)

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)

#: Rendered report pages kept in memory, least recently used dropped first (a page is 20 kB to 1 MB).
REPORT_CACHE_SIZE = 32


class SystemClock:
    """The wall clock, in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


def _aligned_end(monitor: MonitorConfig, now: datetime) -> datetime:
    """The window end of a scheduled run: ``now`` floored to the schedule period (or minute)."""
    step = parse_duration(monitor.every) if monitor.every else timedelta(minutes=1)
    return _EPOCH + ((now - _EPOCH) // step) * step


class MonitorService:
    """Runs monitors, keeps references, and reacts to late labels."""

    def __init__(self, settings: Settings, config: DriftlineConfig, store: Store, *,
                 clock: Clock | None = None, alerts: AlertService | None = None) -> None:
        self._settings = settings
        self._config = config
        self._store = store
        self._clock = clock or SystemClock()
        self._locks = {m.name: asyncio.Lock() for m in config.monitors}
        self._bundles: dict[tuple[str, int], ReferenceBundle] = {}
        self._sql = SqlSources()
        self._pending: list[tuple[Run, list[OutboxMessage]]] = []
        self._scheduler: AsyncIOScheduler | None = None
        self._alerts = alerts
        self._reports: OrderedDict[str, tuple[Any, str]] = OrderedDict()

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Register configured references, then start the schedule (unless disabled)."""
        for monitor in self._config.monitors:
            try:
                await asyncio.to_thread(self._configured_reference, monitor)
            except (DriftlineError, OSError) as exc:
                logger.error("reference of monitor %s not registered: %s", monitor.name, exc)
        if self._settings.scheduler:
            self._scheduler = AsyncIOScheduler(timezone=UTC)
            for monitor in self._config.monitors:
                trigger = (IntervalTrigger(seconds=parse_duration(monitor.every).total_seconds(),
                                           start_date=_EPOCH, timezone=UTC)
                           if monitor.every else CronTrigger.from_crontab(monitor.cron, timezone=UTC))
                self._scheduler.add_job(self._scheduled, trigger, args=[monitor.name], id=monitor.name,
                                        max_instances=1, coalesce=True, misfire_grace_time=None)
            self._scheduler.add_job(self._flush_pending, IntervalTrigger(seconds=5), id="__flush__",
                                    max_instances=1, coalesce=True)
            if self._alerts is not None:
                self._scheduler.add_job(self._deliver, IntervalTrigger(seconds=1), id="__deliver__",
                                        max_instances=1, coalesce=True)
            self._scheduler.start()

    async def stop(self) -> None:
        """Stop the schedule (waiting for no job) and close source connections."""
        if self._scheduler is not None and self._scheduler.running:
            self._scheduler.shutdown(wait=False)
            await asyncio.sleep(0)  # APScheduler 3 applies the shutdown on the next loop iteration
        self._scheduler = None
        # Let a run in progress finish and be written (bounded), then one last try to write runs
        # kept while the database was down; what still cannot be written is logged, not hidden.
        for name, lock in self._locks.items():
            try:
                await asyncio.wait_for(lock.acquire(), timeout=30)
                lock.release()
            except TimeoutError:
                logger.error("run of monitor %s still in progress at shutdown; it is abandoned", name)
        await self._flush_pending()
        if self._pending:
            logger.error("%d run(s) could not be written before shutdown (database unreachable)", len(self._pending))
        self._sql.close()

    def scheduler_running(self) -> bool:
        """Whether scheduled runs are happening."""
        return self._scheduler is not None and self._scheduler.running

    # --- runs ------------------------------------------------------------------------------

    async def _scheduled(self, name: str) -> None:
        monitor = self._config.monitor(name)
        try:
            await self.run_at(name, _aligned_end(monitor, self._clock.now()))
        except Exception:  # the one catch-all: a scheduled job must never kill the scheduler
            logger.exception("scheduled run of monitor %s failed", name)

    async def run_now(self, monitor: str) -> Run:
        """Run a monitor on the window ending now."""
        return await self.run_at(monitor, self._clock.now())

    async def run_at(self, monitor: str, end: datetime) -> Run:
        """Run a monitor on the window ending at ``end`` and store the run (one transaction)."""
        config = self._config.monitor(monitor)
        async with self._locks[monitor]:
            spec = window_for(config, end)
            started = self._clock.now()
            run = Run(id=uuid.uuid4().hex, monitor=config.name, model=config.model, status=RunStatus.OK,
                      window_start=spec.start, window_end=spec.end, rows=0, started_at=started,
                      finished_at=started)
            logger.info("run started", extra={"monitor": monitor, "run_id": run.id, "window_end": end.isoformat()})
            try:
                record, bundle = await asyncio.to_thread(self._bundle, config)
                run = replace(run, reference_version=record.version)
                frame = await asyncio.to_thread(self._read, config, spec)
                run = await asyncio.to_thread(evaluate, config, bundle, frame, run)
            except (DriftlineError, OSError, ValueError) as exc:
                logger.warning("run %s of monitor %s failed: %s", run.id, monitor, exc)
                run = replace(run, status=RunStatus.ERROR, error=str(exc))
            except Exception as exc:  # a bug must still leave an error run behind (and a metric)
                logger.exception("run %s of monitor %s failed unexpectedly", run.id, monitor)
                run = replace(run, status=RunStatus.ERROR, error=f"internal error: {type(exc).__name__}")
            run = replace(run, finished_at=self._clock.now())
            events: list[AlertEvent] = []
            if self._alerts is not None and run.status in (RunStatus.OK, RunStatus.DRIFT):
                try:
                    events = await asyncio.to_thread(self._alerts.events_for, config, run)
                except StorageError as exc:
                    logger.error("alert rules of monitor %s not evaluated: %s", monitor, exc)
            messages = self._alerts.messages(events) if self._alerts is not None else []
            if await self._save(run, messages) and events and self._alerts is not None:
                await self._alerts.after_run(config, run, events)
            logger.info("run finished", extra={"monitor": monitor, "run_id": run.id, "status": str(run.status),
                                               "duration_seconds": run.duration_seconds, "rows": run.rows})
            return run

    async def _save(self, run: Run, events: list[OutboxMessage]) -> bool:
        """Write the run and its outbox events in one transaction; True if this call wrote it."""
        try:
            await asyncio.to_thread(self._store.save_run, run, events)
            return True
        except DuplicateRun:
            logger.info("window ending %s of monitor %s was already run; not written twice",
                        run.window_end.isoformat(), run.monitor)
        except StorageError as exc:
            logger.error("run %s of monitor %s kept until the database is back: %s", run.id, run.monitor, exc)
            self._pending.append((replace(run, status=RunStatus.ERROR,
                                          error=run.error or "the database was unreachable"), []))
        return False

    async def _flush_pending(self) -> None:
        while self._pending:
            run, events = self._pending[0]
            try:
                await asyncio.to_thread(self._store.save_run, run, events)
            except DuplicateRun:
                pass
            except StorageError:
                return
            self._pending.pop(0)

    async def _deliver(self) -> None:
        assert self._alerts is not None
        try:
            await self._alerts.deliver_due()
        except StorageError as exc:
            logger.warning("outbox delivery paused: %s", exc)

    def _read(self, monitor: MonitorConfig, spec: WindowSpec) -> pd.DataFrame:
        source = monitor.source
        if isinstance(source, FileSource):
            return read_files_window(monitor, source, spec)
        if isinstance(source, SqlSource):
            return self._sql.read(monitor, source, spec)
        return self._from_store(monitor, spec)

    def _from_store(self, monitor: MonitorConfig, spec: WindowSpec) -> pd.DataFrame:
        s = monitor.schema_
        frame = self._store.read_window(monitor, spec)
        names = {"prediction_id": s.prediction_id, "timestamp": s.timestamp}
        if s.target and s.target not in frame.columns and "label" in frame.columns:
            names["label"] = s.target
        return frame.rename(columns={k: v for k, v in names.items() if k in frame.columns and k != v})

    # --- references ------------------------------------------------------------------------

    def _bundle(self, monitor: MonitorConfig) -> tuple[ReferenceRecord, ReferenceBundle]:
        record = self._store.active_reference(monitor.name)
        if record is None:
            raise InputError(f"monitor {monitor.name!r} has no active reference; upload one with "
                             f"POST /v1/monitors/{monitor.name}/reference", field="reference")
        key = (monitor.name, record.version)
        if key not in self._bundles:
            self._bundles[key] = ReferenceBundle.from_bytes(record.profile)
        return record, self._bundles[key]

    def _add(self, monitor: MonitorConfig, frame: pd.DataFrame, source: str) -> ReferenceRecord:
        bundle = fit_reference(monitor, frame)
        active = self._store.active_reference(monitor.name)
        if active is not None and active.content_hash == bundle.profile.content_hash:
            return active
        return self._store.add_reference(monitor.name, bundle.to_bytes(), bundle.profile.content_hash, source,
                                         len(frame), activate=True)

    def _configured_reference(self, monitor: MonitorConfig) -> None:
        ref = monitor.reference
        if isinstance(ref, FileReference):
            # Registered once per content: a restart must not re-activate the file over a
            # reference promoted since (by an upload or a retraining job); a changed file is new.
            bundle = fit_reference(monitor, read_frame(ref.path))
            known = {r.content_hash for r in self._store.references(monitor.name)}
            if bundle.profile.content_hash not in known:
                self._store.add_reference(monitor.name, bundle.to_bytes(), bundle.profile.content_hash,
                                          f"file:{ref.path}", bundle.profile.n_rows, activate=True)
        elif isinstance(ref, StoreReference) and self._store.active_reference(monitor.name) is None:
            spec = WindowSpec(start=pd.Timestamp(ref.start, tz="UTC").to_pydatetime(),
                              end=pd.Timestamp(ref.end, tz="UTC").to_pydatetime())
            frame = self._from_store(monitor, spec)
            if len(frame) >= monitor.min_rows:
                self._add(monitor, frame, f"store:{ref.start}..{ref.end}")

    async def register_reference(self, monitor: str, frame: pd.DataFrame, source: str) -> ReferenceRecord:
        """Fit and store a new reference version and make it active (old versions are kept)."""
        config = self._config.monitor(monitor)
        return await asyncio.to_thread(self._add, config, frame, source)

    # --- late labels -----------------------------------------------------------------------

    async def labels_arrived(self, model: str) -> None:
        """Recompute performance of the recent runs of this model's monitors (bounded lookback)."""
        for monitor in self._config.monitors:
            if monitor.model == model and monitor.schema_.target:
                await asyncio.to_thread(self._recompute, monitor)

    def _recompute(self, monitor: MonitorConfig) -> None:
        since = self._clock.now() - parse_duration(monitor.performance.label_lookback)
        for run in self._store.list_runs(monitor.name, start=since):
            if run.status not in (RunStatus.OK, RunStatus.DRIFT) or run.reference_version is None:
                continue
            record = next((r for r in self._store.references(monitor.name) if r.version == run.reference_version), None)
            if record is None:
                continue
            key = (monitor.name, record.version)
            bundle = self._bundles.setdefault(key, ReferenceBundle.from_bytes(record.profile))
            frame = self._read(monitor, WindowSpec(start=run.window_start, end=run.window_end,
                                                   rows=None if run.window_start else monitor.window.rows))
            perf, labelled, coverage, concept, _ = evaluate_performance(monitor, bundle, frame)
            self._store.update_performance(run.id, perf, labelled, coverage, concept)

    # --- reports ---------------------------------------------------------------------------

    async def report_html(self, run_id: str) -> str | None:
        """The HTML report of a run (``None``: no such run), rendered on first request and cached.

        Rendering re-reads the window (for the charts), so pages are kept in a small LRU. A run's
        drift results never change once written; its performance does when late labels arrive,
        so the performance fields are part of the cache key and a page drawn before the labels
        is not served after them. A page drawn without its window or reference (a read failed)
        is not cached, so it is drawn again once the source is back.
        """
        run = await asyncio.to_thread(self._store.get_run, run_id)
        if run is None:
            return None
        key = (run.performance, run.labelled_rows, run.label_coverage, run.concept_drift, run.concept_change_points)
        cached = self._reports.get(run_id)
        if cached is not None and cached[0] == key:
            self._reports.move_to_end(run_id)
            return cached[1]
        html, complete = await asyncio.to_thread(self._render_report, run)
        if complete:
            self._reports[run_id] = (key, html)
            self._reports.move_to_end(run_id)
            while len(self._reports) > REPORT_CACHE_SIZE:
                self._reports.popitem(last=False)
        return html

    def _render_report(self, run: Run) -> tuple[str, bool]:
        """Read the run's reference and window and render its page; also whether nothing was missing."""
        notes: list[str] = []
        bundle: ReferenceBundle | None = None
        frame = pd.DataFrame()
        tested = run.status in (RunStatus.OK, RunStatus.DRIFT)
        complete = True
        try:
            monitor = self._config.monitor(run.monitor)
            record = next((r for r in self._store.references(run.monitor) if r.version == run.reference_version),
                          None)
            if record is not None:
                bundle = self._bundles.get((run.monitor, record.version))
                if bundle is None:
                    bundle = self._bundles[(run.monitor, record.version)] = ReferenceBundle.from_bytes(record.profile)
            elif tested:
                notes.append(f"Reference version {run.reference_version} is no longer stored: no charts.")
                complete = False
            if tested:
                spec = WindowSpec(start=run.window_start, end=run.window_end,
                                  rows=None if run.window_start else monitor.window.rows)
                frame = conform(monitor, self._read(monitor, spec))
                if len(frame) != run.rows:
                    notes.append(f"The window now holds {len(frame)} rows (the run tested {run.rows}): "
                                 f"the charts show it as it is now.")
        except (DriftlineError, OSError, ValueError) as exc:
            # The page is still worth serving: its tables are the stored results. The cause is
            # logged, not shown: a source's error text may name hosts or row values.
            logger.warning("report of run %s drawn without its data: %s: %s", run.id, type(exc).__name__,
                           str(exc).splitlines()[0] if str(exc) else "")
            notes.append(f"The reference or window could not be read ({type(exc).__name__}): "
                         "the charts are incomplete.")
            complete = False
        html = render_report(
            title=f"Driftline report: {run.monitor}", monitor=run.monitor, model=run.model,
            window=(run.window_start, run.window_end), reference_version=run.reference_version, run=run,
            bundle_profile=None if bundle is None else bundle.profile, current=frame, notes=notes,
            json_href=f"/v1/runs/{run.id}",
        )
        return html, complete
