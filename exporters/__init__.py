"""Prometheus exporter: a custom collector over a snapshot of the stored latest results."""

from exporters.collector import DriftCollector, capped_features
from exporters.snapshot import DELIVERY_OUTCOMES, DURATION_BUCKETS, MonitorSnapshot, RunStats, Snapshot

__all__ = ["DELIVERY_OUTCOMES", "DURATION_BUCKETS", "DriftCollector", "MonitorSnapshot", "RunStats", "Snapshot",
           "capped_features"]
