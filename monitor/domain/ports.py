"""The ports the run layer speaks: what it needs from the clock, the log, storage and the outbox.

Ports are ``Protocol``s, so an adapter implements one by having the methods, and a fake in the
tests is checked against the same contract as the real adapter.

========================  ==============================================================
port                      implementations
========================  ==============================================================
``Clock``                 ``monitor.run.clock.SystemClock``; tests' fixed clocks
``PredictionSource``      ``sources.StoreSource`` (own store), ``sources.SqlTableSource``,
                          ``sources.FileSource``
``SummarisingSource``     ``sources.SqlTableSource``, ``sources.FileSource`` (DuckDB)
``RunStore``              ``storage.Store``; ``tests.fakes.FakeStore``
``ReferenceStore``        ``storage.Store``; ``tests.fakes.FakeStore``
``Outbox``                ``storage.Store``; ``tests.fakes.FakeStore``
========================  ==============================================================
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

import pandas as pd

from monitor.domain.alerting import OutboxMessage
from monitor.domain.concept import ConceptStateRecord
from monitor.domain.monitor import Monitor
from monitor.domain.references import ReferenceRecord
from monitor.domain.results import PerformanceRecord, Run, WindowSpec
from monitor.stats.binned import SummaryPlan, WindowSummary
from monitor.stats.estimation.types import Estimate

__all__ = ["Clock", "Outbox", "PredictionSource", "ReferenceStore", "RunStore", "SummarisingSource"]


class Clock(Protocol):
    """Where runs get the time (tests pass a fixed clock)."""

    def now(self) -> datetime: ...


class PredictionSource(Protocol):
    """Where a monitor's prediction log is read from.

    ``read`` returns the window's rows named as in the monitor's schema (the target column
    holds labels that have arrived), sorted by time, with an aware UTC timestamp column.
    """

    def read(self, monitor: Monitor, window: WindowSpec) -> pd.DataFrame: ...

    def close(self) -> None: ...


class SummarisingSource(PredictionSource, Protocol):
    """A source whose engine computes a window's aggregates (pushdown, docs/scaling.md).

    ``summarise`` answers a plan in one round trip; ``read_columns`` reads some columns' rows
    of the window in time order, all of them up to ``max_rows`` (``None``: no bound) and a seeded
    uniform sample above it, and says whether it sampled.
    """

    def summarise(self, monitor: Monitor, window: WindowSpec, plan: SummaryPlan) -> WindowSummary: ...

    def read_columns(self, monitor: Monitor, window: WindowSpec, columns: Sequence[str], *, max_rows: int | None,
                     seed: int, n_rows: int) -> tuple[pd.DataFrame, bool]: ...


class RunStore(Protocol):
    """Where runs are written (with their outbox messages and their monitor's concept-drift
    detector state, in one transaction) and read back."""

    def save_run(self, run: Run, events: Sequence[OutboxMessage] = (), *,
                 concept_state: ConceptStateRecord | None = None) -> None: ...

    def concept_state(self, monitor: str) -> ConceptStateRecord | None: ...

    def get_run(self, run_id: str) -> Run | None: ...

    def list_runs(self, monitor: str, start: datetime | None = None, end: datetime | None = None,
                  limit: int = 100, *, results: bool = True) -> list[Run]: ...

    def latest_runs(self) -> dict[str, Run]: ...

    def update_performance(self, run_id: str, performance: Sequence[PerformanceRecord], labelled_rows: int,
                           label_coverage: float | None, concept_drift: bool | None, *,
                           estimates: Sequence[Estimate] | None = None) -> None: ...


class ReferenceStore(Protocol):
    """Where fitted references are kept, versioned per monitor, one of them active."""

    def add_reference(self, monitor: str, profile: bytes, content_hash: str, source: str, n_rows: int,
                      *, activate: bool = True, input_hash: str | None = None) -> ReferenceRecord: ...

    def active_reference(self, monitor: str) -> ReferenceRecord | None: ...

    def active_reference_version(self, monitor: str) -> int | None: ...

    def reference(self, monitor: str, version: int) -> ReferenceRecord | None: ...

    def references(self, monitor: str) -> list[ReferenceRecord]: ...

    def has_reference_hash(self, monitor: str, content_hash: str) -> bool: ...

    def has_reference_input(self, monitor: str, input_hash: str) -> bool: ...

    def remember_reference_input(self, monitor: str, content_hash: str, input_hash: str) -> None: ...


class Outbox(Protocol):
    """The durable outbox the deliverer drains."""

    def enqueue(self, messages: Sequence[OutboxMessage]) -> int: ...

    def outbox_due(self, now: datetime, limit: int) -> list[OutboxMessage]: ...

    def outbox_update(self, message: OutboxMessage) -> None: ...
