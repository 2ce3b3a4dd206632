"""The monitoring service: the composition of the run layer, the schedule, references and reports.

It holds no logic of its own: :func:`~monitor.run.run_monitor` runs a window,
:class:`~monitor.run.ReferenceRegistry` fits and caches references,
:func:`~monitor.run.recompute_performance` handles late labels, :class:`~monitor.scheduler.Scheduler`
fires jobs and :class:`~monitor.reports.ReportPages` caches pages. A per-monitor lock means two runs
of one monitor never overlap, whether scheduled or started through the API; on PostgreSQL a
scheduled window is first claimed (a lease, monitor.storage.leases) so N replicas run it once.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import pandas as pd

from monitor.config import DriftlineConfig, Settings
from monitor.domain import (
    Catalog,
    Clock,
    FileReferenceSpec,
    Monitor,
    ReferenceRecord,
    ReferenceStore,
    Run,
    RunStore,
    StoreReferenceSpec,
    WindowSpec,
)
from monitor.errors import DriftlineError, StorageError
from monitor.frames import read_frame
from monitor.reports import REPORT_CACHE_SIZE, ReportPages, render_report
from monitor.run import (
    PendingRuns,
    ReferenceBundle,
    ReferenceRegistry,
    RetentionResult,
    RunDeps,
    SystemClock,
    apply_retention,
    conform,
    input_hash,
    recompute_performance,
    run_monitor,
)
from monitor.run.retention import RetentionStore
from monitor.scheduler import Scheduler
from monitor.sources import Sources, WindowReader

if TYPE_CHECKING:
    from alerts.service import AlertService

__all__ = ["MonitorService", "ServiceStore"]

logger = logging.getLogger(__name__)

#: How often retention runs in ``serve`` (each pass deletes in batches; a pass with nothing to do is cheap).
RETENTION_EVERY = timedelta(hours=1)


def _file_chunks(path: str, size: int = 1 << 20) -> Iterator[bytes]:
    """A file's bytes in 1 MiB pieces (hashing a large reference never holds it in memory)."""
    with open(path, "rb") as f:
        while chunk := f.read(size):
            yield chunk


class ServiceStore(RunStore, ReferenceStore, WindowReader, RetentionStore, Protocol):
    """What the service needs of storage: runs, references, the own log's windows and retention."""


@runtime_checkable
class LeaseStore(Protocol):
    """Window leases of N replicas on one database (monitor.storage.leases); a store may lack them."""

    @property
    def leases(self) -> bool: ...

    def claim_windows(self, monitor: str, end: datetime, holder: str, ttl: timedelta) -> list[datetime]: ...

    def finish_window(self, monitor: str, end: datetime, holder: str) -> None: ...


class MonitorService:
    """Runs monitors, keeps references, reacts to late labels and draws reports."""

    def __init__(self, settings: Settings, config: DriftlineConfig | Catalog, store: ServiceStore, *,
                 clock: Clock | None = None, alerts: AlertService | None = None,
                 report_cache_size: int = REPORT_CACHE_SIZE) -> None:
        self._settings = settings
        self._catalog = config if isinstance(config, Catalog) else config.to_domain()
        self._store = store
        self._clock: Clock = clock or SystemClock()
        self._locks = {m.name: asyncio.Lock() for m in self._catalog.monitors}
        self._references = ReferenceRegistry(store)
        self._sources = Sources(store)
        self._pending = PendingRuns(store)
        self._scheduler: Scheduler | None = None
        self._alerts = alerts
        self._reports = ReportPages(report_cache_size)
        #: This replica in window leases: host:pid:uuid (a restarted process is a new holder).
        self._holder = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"
        self._lease_ttl = timedelta(seconds=settings.window_lease_seconds)

    # --- lifecycle -------------------------------------------------------------------------

    async def start(self) -> None:
        """Register configured references, then start the schedule (unless disabled)."""
        for monitor in self._catalog.monitors:
            try:
                await asyncio.to_thread(self._configured_reference, monitor)
            except (DriftlineError, OSError) as exc:
                logger.error("reference of monitor %s not registered: %s", monitor.name, exc)
        if self._settings.scheduler:
            self._scheduler = Scheduler()
            for monitor in self._catalog.monitors:
                self._scheduler.add_monitor(monitor, self._scheduled)
            self._scheduler.add_chore("flush", 5, self._pending.flush)
            if any(m.retention.predictions or m.retention.runs for m in self._catalog.monitors):
                self._scheduler.add_chore("retention", RETENTION_EVERY.total_seconds(), self._retention_chore)
            if self._alerts is not None:
                self._scheduler.add_chore("deliver", 1, self._deliver)
            self._scheduler.start()

    async def stop(self) -> None:
        """Stop the schedule, let runs in progress finish (bounded), write kept runs, close sources."""
        if self._scheduler is not None:
            await self._scheduler.shutdown()
        self._scheduler = None
        for name, lock in self._locks.items():
            try:
                await asyncio.wait_for(lock.acquire(), timeout=30)
                lock.release()
            except TimeoutError:
                logger.error("run of monitor %s still in progress at shutdown; it is abandoned", name)
        await self._pending.flush()
        if len(self._pending):
            logger.error("%d run(s) could not be written before shutdown (database unreachable)", len(self._pending))
        self._sources.close()

    def scheduler_running(self) -> bool:
        """Whether scheduled runs are happening."""
        return self._scheduler is not None and self._scheduler.running

    # --- runs ------------------------------------------------------------------------------

    async def _scheduled(self, name: str) -> None:
        monitor = self._catalog.monitor(name)
        try:
            end = monitor.aligned_end(self._clock.now())
            for window_end in await self._claim(name, end):
                try:
                    await self.run_at(name, window_end)
                finally:
                    if isinstance(self._store, LeaseStore) and self._store.leases:
                        await asyncio.to_thread(self._store.finish_window, name, window_end, self._holder)
        except Exception:  # the one catch-all: a scheduled job must never kill the scheduler
            logger.exception("scheduled run of monitor %s failed", name)

    @property
    def _leased(self) -> bool:
        return isinstance(self._store, LeaseStore) and self._store.leases

    async def _claim(self, name: str, end: datetime) -> list[datetime]:
        """The windows this replica runs on this tick: ``end`` unless another replica has it, and any
        window whose replica died mid-run (its lease expired). Without leases (SQLite), ``end``."""
        if not self._leased:
            return [end]
        assert isinstance(self._store, LeaseStore)
        try:
            claimed = await asyncio.to_thread(self._store.claim_windows, name, end, self._holder, self._lease_ttl)
        except StorageError as exc:
            # The database is down: run anyway and keep the run (PendingRuns); a second run of the
            # window by another replica is refused when the runs are written (DuplicateRun).
            logger.warning("window of monitor %s run without a lease: %s", name, exc.detail)
            return [end]
        if end not in claimed:
            logger.info("window %s of monitor %s is run by another replica (or was run); skipped",
                        end.isoformat(), name)
        for stale in claimed:
            if stale != end:
                logger.warning("window %s of monitor %s taken over: its replica's lease expired",
                               stale.isoformat(), name)
        return claimed

    async def run_now(self, monitor: str) -> Run:
        """Run a monitor on the window ending now."""
        return await self.run_at(monitor, self._clock.now())

    async def run_at(self, monitor: str, end: datetime) -> Run:
        """Run a monitor on the window ending at ``end`` and store the run (one transaction)."""
        m = self._catalog.monitor(monitor)
        deps = RunDeps(source=self._sources.of(m), store=self._store, references=self._references,
                       clock=self._clock, pending=self._pending, alerts=self._alerts)
        async with self._locks[monitor]:
            return await run_monitor(m, end, deps)

    async def _deliver(self) -> None:
        assert self._alerts is not None
        try:
            await self._alerts.deliver_due()
        except StorageError as exc:
            logger.warning("outbox delivery paused: %s", exc.detail)

    async def _retention_chore(self) -> None:
        await self.apply_retention()

    async def apply_retention(self) -> RetentionResult:
        """Delete the predictions and runs every monitor's retention lets go (a scheduled chore)."""
        try:
            return await asyncio.to_thread(apply_retention, self._catalog.monitors, self._store, self._clock.now())
        except StorageError as exc:
            logger.warning("retention paused: %s", exc.detail)
            return RetentionResult()

    # --- references ------------------------------------------------------------------------

    def _configured_reference(self, monitor: Monitor) -> None:
        match monitor.reference:
            case FileReferenceSpec(path=path):
                # Hash the file, not the fit: an unchanged file is neither read into a frame nor refitted.
                self._references.register_once(monitor, lambda: read_frame(path), f"file:{path}",
                                               input_hash=input_hash(monitor, _file_chunks(path)))
            case StoreReferenceSpec() as ref if self._store_has_no_reference(monitor):
                frame = self._sources.own_store.read(monitor, WindowSpec(start=ref.start, end=ref.end))
                if len(frame) >= monitor.min_rows:
                    self._references.register(monitor, frame, f"store:{ref.label}")
            case _:
                pass

    def _store_has_no_reference(self, monitor: Monitor) -> bool:
        return self._store.active_reference(monitor.name) is None

    async def register_reference(self, monitor: str, frame: pd.DataFrame, source: str) -> ReferenceRecord:
        """Fit and store a new reference version and make it active (old versions are kept)."""
        m = self._catalog.monitor(monitor)
        return await asyncio.to_thread(self._references.register, m, frame, source)

    # --- late labels -----------------------------------------------------------------------

    async def labels_arrived(self, model: str) -> None:
        """Recompute performance of the recent runs of this model's monitors (bounded lookback)."""
        for monitor in self._catalog.monitors:
            if monitor.model == model and monitor.schema.target:
                await asyncio.to_thread(recompute_performance, monitor, store=self._store,
                                        source=self._sources.of(monitor), references=self._references,
                                        clock=self._clock)

    # --- reports ---------------------------------------------------------------------------

    async def report_html(self, run_id: str) -> str | None:
        """The HTML report of a run (``None``: no such run), rendered on first request and cached."""
        run = await asyncio.to_thread(self._store.get_run, run_id)
        if run is None:
            return None
        return await asyncio.to_thread(self._reports.page, run, self._render_report)

    def _render_report(self, run: Run) -> tuple[str, bool]:
        """Read the run's reference and window and render its page; also whether nothing was missing."""
        notes: list[str] = []
        bundle: ReferenceBundle | None = None
        frame = pd.DataFrame()
        complete = True
        try:
            monitor = self._catalog.monitor(run.monitor)
            # A dynamic reference (previous_window, rolling, same_period) is refitted from its ranges.
            bundle = self._references.of_run(monitor, run.reference_version,
                                             run.reference_ranges if run.status.has_verdict else (),
                                             self._sources.of(monitor))
            if bundle is None and run.status.has_verdict:
                notes.append(f"Reference version {run.reference_version} is no longer stored: no charts.")
                complete = False
            if run.status.has_verdict:
                frame = conform(monitor, self._sources.of(monitor).read(monitor, monitor.window_of(run)))
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
