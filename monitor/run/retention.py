"""Retention: old predictions and runs deleted on a schedule, as each monitor's policy says.

Why here (the run layer) and not in storage: which cutoff applies to a model is a decision over
the catalog (several monitors can share one model's log; the longest retention wins, and one
monitor that keeps predictions forever keeps them for all), while storage only deletes what it
is told to, in batches.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Protocol

from monitor.domain import Monitor

__all__ = ["RetentionResult", "RetentionStore", "apply_retention", "prediction_cutoffs"]

logger = logging.getLogger(__name__)


class RetentionStore(Protocol):
    """What retention needs of storage: batched deletes by time."""

    def delete_predictions_before(self, model: str, cutoff: datetime, *, batch: int = ...) -> int: ...

    def delete_runs_before(self, monitor: str, cutoff: datetime, *, batch: int = ...) -> int: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class RetentionResult:
    """Rows deleted by one pass: predictions per model, runs per monitor."""

    predictions: dict[str, int] = field(default_factory=dict)
    runs: dict[str, int] = field(default_factory=dict)


def prediction_cutoffs(monitors: Iterable[Monitor], now: datetime) -> dict[str, datetime]:
    """Model -> the time before which its predictions may go (models kept forever are absent)."""
    kept: dict[str, timedelta | None] = {}
    for m in monitors:
        span = m.retention.predictions
        if m.model not in kept:
            kept[m.model] = span
        else:
            current = kept[m.model]
            kept[m.model] = None if current is None or span is None else max(current, span)
    return {model: now - span for model, span in kept.items() if span is not None}


def apply_retention(monitors: Iterable[Monitor], store: RetentionStore, now: datetime) -> RetentionResult:
    """Delete what every policy lets go, as of ``now``; log what was deleted."""
    monitors = tuple(monitors)
    result = RetentionResult(
        predictions={model: store.delete_predictions_before(model, cutoff)
                     for model, cutoff in prediction_cutoffs(monitors, now).items()},
        runs={m.name: store.delete_runs_before(m.name, now - m.retention.runs)
              for m in monitors if m.retention.runs is not None})
    for kind, counts in (("predictions", result.predictions), ("runs", result.runs)):
        for name, n in counts.items():
            if n:
                logger.info("retention deleted %d %s of %s", n, kind, name, extra={"deleted": n, "kind": kind,
                                                                                    "of": name})
    return result
