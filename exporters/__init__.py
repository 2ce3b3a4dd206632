"""Prometheus exporter: a custom collector over a snapshot of the stored latest results."""

from exporters.collector import DriftCollector, capped_features
from exporters.snapshot import DURATION_BUCKETS, MonitorSnapshot, RunStats, Snapshot

__all__ = ["DURATION_BUCKETS", "DriftCollector", "MonitorSnapshot", "RunStats", "Snapshot", "capped_features"]
