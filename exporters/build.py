"""Building a :class:`Snapshot` from the store: a handful of aggregate queries per scrape."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Protocol

from exporters.snapshot import MonitorSnapshot, RunStats, Snapshot
from monitor.domain import Catalog, DescribesCatalog, Run, Schedule, catalog_of

__all__ = ["SnapshotSource", "build_snapshot", "schedule_period_seconds"]


class SnapshotSource(Protocol):
    """The store queries one scrape needs."""

    def latest_runs(self) -> dict[str, Run]: ...

    def latest_verdicts(self) -> dict[str, Run]: ...

    def latest_and_verdicts(self) -> tuple[dict[str, Run], dict[str, Run]]: ...

    def run_stats(self) -> Mapping[str, Any]: ...

    def ingested_counts(self) -> dict[str, int]: ...

    def outbox_counts(self) -> dict[tuple[str, str], int]: ...

    def retrain_counts(self) -> dict[tuple[str, str, str], int]: ...

    def active_reference_versions(self) -> dict[str, tuple[int, str]]: ...


def schedule_period_seconds(schedule: Schedule) -> float:
    """The schedule period; for cron, the longest gap between two of the next fire times."""
    if schedule.every is not None:
        return schedule.every.total_seconds()
    from apscheduler.triggers.cron import CronTrigger

    trigger = CronTrigger.from_crontab(schedule.cron or "* * * * *", timezone="UTC")
    previous: datetime | None = None
    now = datetime.now(trigger.timezone)
    gaps = []
    for _ in range(50):
        fire = trigger.get_next_fire_time(previous, previous or now)
        if fire is None:
            break
        if previous is not None:
            gaps.append((fire - previous).total_seconds())
        previous = fire
    return max(gaps, default=60.0)


def _stats(raw: Any) -> RunStats:
    return RunStats(by_status=dict(raw.by_status), last_by_status=dict(raw.last_by_status),
                    last_successful=raw.last_successful, duration_buckets=tuple(raw.duration_buckets),
                    duration_count=raw.duration_count, duration_sum=raw.duration_sum)


def build_snapshot(store: SnapshotSource, config: Catalog | DescribesCatalog, *, max_features: int, version: str,
                   public_url: str | None = None) -> Snapshot:
    """Read everything a scrape renders (call it off the event loop)."""
    config = catalog_of(config)
    latest, verdicts = store.latest_and_verdicts()
    stats = store.run_stats()
    references = store.active_reference_versions()
    monitors = []
    for m in config.monitors:
        ref = references.get(m.name)
        monitors.append(MonitorSnapshot(
            name=m.name, model=m.model, schedule_period_seconds=schedule_period_seconds(m.schedule),
            latest=latest.get(m.name), verdict=verdicts.get(m.name),
            stats=_stats(stats[m.name]) if m.name in stats else RunStats(),
            reference_version=None if ref is None else ref[0], reference_hash=None if ref is None else ref[1]))
    deliveries = store.outbox_counts()  # every target with a message has all three outcomes
    return Snapshot(monitors=tuple(monitors), targets=tuple(w.name for w in config.webhooks),
                    ingested=store.ingested_counts(), deliveries=deliveries,
                    dead_letters={t: n for (t, outcome), n in deliveries.items() if outcome == "dead_letter"},
                    retrain_triggers=store.retrain_counts(),
                    max_features=max_features, version=version, public_url=public_url)
