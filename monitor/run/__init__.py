"""The run layer: one window tested against a reference, over the domain's ports.

``evaluate`` is pure (monitor + reference + frame -> run); ``run_monitor`` is the async sequence
of one run; the registry fits and caches references; ``recompute_performance`` handles late
labels. Nothing here imports FastAPI, SQLAlchemy, httpx, APScheduler or prometheus_client.
"""

from __future__ import annotations

from monitor.run.clock import SystemClock
from monitor.run.evaluate import (
    PerformanceOutcome,
    ReferenceBundle,
    conform,
    evaluate,
    evaluate_performance,
    fit_reference,
    insufficient,
)
from monitor.run.execute import AlertHooks, PendingRuns, RunDeps, run_monitor
from monitor.run.labels import recompute_performance
from monitor.run.registry import DEFAULT_CACHE_SIZE, ReferenceRegistry, input_hash
from monitor.run.retention import RetentionResult, apply_retention

__all__ = [
    "DEFAULT_CACHE_SIZE",
    "AlertHooks",
    "PendingRuns",
    "PerformanceOutcome",
    "ReferenceBundle",
    "ReferenceRegistry",
    "RetentionResult",
    "RunDeps",
    "SystemClock",
    "apply_retention",
    "conform",
    "evaluate",
    "evaluate_performance",
    "fit_reference",
    "input_hash",
    "insufficient",
    "recompute_performance",
    "run_monitor",
]
