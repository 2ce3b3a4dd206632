"""What the exporter renders: the stored latest results, read once per scrape.

The ``/metrics`` route builds a :class:`Snapshot` from the store (off the event loop), then
binds it to a :class:`~exporters.collector.DriftCollector` in a fresh registry; the collector's
``collect()`` only formats, so it never touches the database.

A monitor carries two runs: ``latest`` (any status: the window's rows, the last run's status)
and ``verdict``, the latest run with a verdict (``ok`` or ``drift``), whose drift and performance
series stay exported across ``insufficient_data`` and ``error`` runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from monitor.domain import Run

__all__ = ["DELIVERY_OUTCOMES", "DURATION_BUCKETS", "MonitorSnapshot", "RunStats", "Snapshot"]

#: Upper bounds (seconds) of the run-duration histogram buckets.
DURATION_BUCKETS: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)

#: The ``outcome`` values of ``driftline_webhook_deliveries_total`` (what ``Store.outbox_counts`` counts).
DELIVERY_OUTCOMES: tuple[str, ...] = ("delivered", "failed", "dead_letter")


@dataclass(frozen=True, slots=True, kw_only=True)
class RunStats:
    """Aggregates over every stored run of one monitor (counters survive restarts)."""

    by_status: Mapping[str, int] = field(default_factory=dict)
    last_by_status: Mapping[str, datetime] = field(default_factory=dict)
    last_successful: datetime | None = None
    duration_buckets: tuple[int, ...] = ()  # cumulative counts, one per DURATION_BUCKETS bound
    duration_count: int = 0
    duration_sum: float = 0.0


@dataclass(frozen=True, slots=True, kw_only=True)
class MonitorSnapshot:
    """One monitor: its latest run, its latest run with a verdict (both with results), run
    aggregates and active reference."""

    name: str
    model: str
    schedule_period_seconds: float
    latest: Run | None
    stats: RunStats
    verdict: Run | None = None
    reference_version: int | None = None
    reference_hash: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """Everything one scrape renders.

    ``targets`` are the configured webhook targets: their delivery series exist (at 0) before the
    first delivery. ``public_url`` is Driftline's URL as people reach it (``DRIFTLINE_PUBLIC_URL``),
    exported as ``driftline_public_url_info`` for alert rules and dashboards.
    """

    monitors: tuple[MonitorSnapshot, ...]
    targets: tuple[str, ...] = ()
    ingested: Mapping[str, int] = field(default_factory=dict)
    deliveries: Mapping[tuple[str, str], int] = field(default_factory=dict)
    dead_letters: Mapping[str, int] = field(default_factory=dict)
    retrain_triggers: Mapping[tuple[str, str, str], int] = field(default_factory=dict)
    max_features: int = 50
    version: str = "0"
    public_url: str | None = None
