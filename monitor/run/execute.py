"""One run over the ports: read the window, test it, write the run and its outbox messages.

:func:`run_monitor` is the whole sequence of a run and nothing else; the scheduler and the API
call it (through the service) with the ports the composition root built. A run that cannot be
written because the database is down is kept in :class:`PendingRuns` and written, as ``error``,
once it is back.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol, cast

from monitor.domain import (
    AlertEvent,
    Clock,
    Monitor,
    OutboxMessage,
    PredictionSource,
    Run,
    RunStatus,
    RunStore,
    SummarisingSource,
)
from monitor.domain.concept import ConceptStateRecord
from monitor.errors import DriftlineError, DuplicateRun, StorageError
from monitor.run.concept import advance_run
from monitor.run.evaluate import evaluate
from monitor.run.pushdown import evaluate_pushdown, pushdown_of
from monitor.run.registry import ReferenceRegistry
from monitor.run.seasonal import run_dynamic

__all__ = ["AlertHooks", "PendingRuns", "RunDeps", "run_monitor"]

logger = logging.getLogger(__name__)


class AlertHooks(Protocol):
    """What a run asks of alerting: the events it raises, their messages, and what follows a write."""

    def events_for(self, monitor: Monitor, run: Run) -> list[AlertEvent]: ...

    def messages(self, events: Sequence[AlertEvent]) -> list[OutboxMessage]: ...

    async def after_run(self, monitor: Monitor, run: Run, events: Sequence[AlertEvent]) -> None: ...


class PendingRuns:
    """Runs kept while the database is unreachable, written (oldest first) once it is back."""

    def __init__(self, store: RunStore) -> None:
        self._store = store
        self._runs: list[Run] = []

    def __len__(self) -> int:
        return len(self._runs)

    def keep(self, run: Run) -> None:
        """Keep a run that could not be written; it is recorded as ``error`` (its verdict was not stored)."""
        self._runs.append(replace(run, status=RunStatus.ERROR, error=run.error or "the database was unreachable"))

    async def flush(self) -> None:
        """Write kept runs until the first failure (a duplicate window counts as written)."""
        while self._runs:
            try:
                await asyncio.to_thread(self._store.save_run, self._runs[0])
            except DuplicateRun:
                pass
            except StorageError:
                return
            self._runs.pop(0)


@dataclass(frozen=True, slots=True, kw_only=True)
class RunDeps:
    """The ports one run uses."""

    source: PredictionSource
    store: RunStore
    references: ReferenceRegistry
    clock: Clock
    pending: PendingRuns
    alerts: AlertHooks | None = None


async def run_monitor(monitor: Monitor, end: datetime, deps: RunDeps) -> Run:
    """Run ``monitor`` on the window ending at ``end`` and store the run (one transaction).

    Never raises for a failed run: any failure becomes an ``error`` run, stored (or kept until
    the database is back), so a metric and the run list always show it.
    """
    spec = monitor.window_ending(end)
    concept: ConceptStateRecord | None = None  # the advanced detector state, written with the run
    started = deps.clock.now()
    run = Run(id=uuid.uuid4().hex, monitor=monitor.name, model=monitor.model, status=RunStatus.OK,
              window_start=spec.start, window_end=spec.end, rows=0, started_at=started, finished_at=started)
    fields = {"monitor": monitor.name, "run_id": run.id, "window_end": spec.end.isoformat()}
    logger.info("run started", extra=fields)
    try:
        if monitor.reference_ranges(spec):  # previous_window, rolling, same_period: fitted from the source
            dynamic = await asyncio.to_thread(run_dynamic, monitor, spec, run, deps.source, deps.references.dynamic)
            run = dynamic.run
            if dynamic.bundle is not None and dynamic.frame is not None:  # the stored detector, as below
                run, concept = await asyncio.to_thread(advance_run, monitor, dynamic.bundle, dynamic.frame, run,
                                                       deps.store)
        else:
            version, bundle = await asyncio.to_thread(deps.references.active, monitor)
            run = replace(run, reference_version=version)
            pushdown = pushdown_of(monitor, deps.source)
            if pushdown is not None:  # the engine aggregates the window (monitor.run.pushdown)
                source = cast("SummarisingSource", deps.source)
                pushed = await asyncio.to_thread(evaluate_pushdown, monitor, bundle, source, spec, run, pushdown)
                run, frame = pushed.run, pushed.frame
            else:
                frame = await asyncio.to_thread(deps.source.read, monitor, spec)
                run = await asyncio.to_thread(evaluate, monitor, bundle, frame, run)
            run, concept = await asyncio.to_thread(advance_run, monitor, bundle, frame, run, deps.store)
    except StorageError as exc:
        # The detail (hosts, users, statements) goes to the log; the stored run says what failed.
        logger.warning("run %s of monitor %s failed: %s", run.id, monitor.name, exc.detail, extra=fields)
        run = replace(run, status=RunStatus.ERROR, error=str(exc))
    except (DriftlineError, OSError, ValueError) as exc:
        logger.warning("run %s of monitor %s failed: %s", run.id, monitor.name, exc, extra=fields)
        run = replace(run, status=RunStatus.ERROR, error=str(exc))
    except Exception as exc:  # a bug must still leave an error run behind (and a metric)
        logger.exception("run %s of monitor %s failed unexpectedly", run.id, monitor.name, extra=fields)
        run = replace(run, status=RunStatus.ERROR, error=f"internal error: {type(exc).__name__}")
    run = replace(run, finished_at=deps.clock.now())
    events: list[AlertEvent] = []
    if deps.alerts is not None and run.status.has_verdict:
        try:
            events = await asyncio.to_thread(deps.alerts.events_for, monitor, run)
        except StorageError as exc:
            logger.error("alert rules of monitor %s not evaluated: %s", monitor.name, exc)
    messages = deps.alerts.messages(events) if deps.alerts is not None else []
    if run.status is RunStatus.ERROR:
        concept = None
    if await _save(run, messages, deps, concept) and events and deps.alerts is not None:
        await deps.alerts.after_run(monitor, run, events)
    logger.info("run finished", extra={**fields, "status": str(run.status), "duration_seconds": run.duration_seconds,
                                       "rows": run.rows, "reference_version": run.reference_version})
    return run


async def _save(run: Run, messages: list[OutboxMessage], deps: RunDeps,
                concept: ConceptStateRecord | None = None) -> bool:
    """Write the run, its outbox messages and its detector state in one transaction; True if this call wrote it."""
    try:
        await asyncio.to_thread(functools.partial(deps.store.save_run, run, messages, concept_state=concept))
        return True
    except DuplicateRun:
        logger.info("window ending %s of monitor %s was already run; not written twice",
                    run.window_end.isoformat(), run.monitor)
    except StorageError as exc:
        logger.error("run %s of monitor %s kept until the database is back: %s", run.id, run.monitor, exc.detail)
        deps.pending.keep(run)
    return False
