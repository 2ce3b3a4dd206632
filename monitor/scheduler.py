"""APScheduler 3.x mapped onto runs: one job per monitor, and the service's periodic chores.

One job per monitor (``max_instances=1``, misfires coalesced) means two scheduled runs of one
monitor never overlap; interval jobs start at a fixed epoch so window ends are multiples of the
period whatever the start time.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from monitor.domain import Monitor

__all__ = ["Scheduler"]

logger = logging.getLogger(__name__)

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class Scheduler:
    """The schedule of one process: monitors' runs and periodic chores (flush, delivery)."""

    def __init__(self) -> None:
        self._scheduler = AsyncIOScheduler(timezone=UTC)

    def add_monitor(self, monitor: Monitor, run: Callable[[str], Awaitable[None]]) -> None:
        """Call ``run(monitor.name)`` on the monitor's schedule."""
        every = monitor.schedule.every
        trigger = (IntervalTrigger(seconds=every.total_seconds(), start_date=_EPOCH, timezone=UTC)
                   if every is not None else CronTrigger.from_crontab(monitor.schedule.cron, timezone=UTC))
        self._scheduler.add_job(run, trigger, args=[monitor.name], id=monitor.name, max_instances=1,
                                coalesce=True, misfire_grace_time=None)

    def add_chore(self, name: str, seconds: float, chore: Callable[[], Awaitable[None]]) -> None:
        """Call ``chore()`` every ``seconds`` (never two at once)."""
        self._scheduler.add_job(chore, IntervalTrigger(seconds=seconds), id=f"__{name}__", max_instances=1,
                                coalesce=True)

    def start(self) -> None:
        """Start firing jobs."""
        self._scheduler.start()

    @property
    def running(self) -> bool:
        """Whether jobs are firing."""
        return bool(self._scheduler.running)

    async def shutdown(self) -> None:
        """Stop firing jobs (a job in progress is not waited for here)."""
        if self._scheduler.running:
            self._scheduler.shutdown(wait=False)
            await asyncio.sleep(0)  # APScheduler 3 applies the shutdown on the next loop iteration
