"""In-memory fakes of the store and the monitor service, honest to their contracts.

``FakeStore`` implements every method of ``monitor.storage.store.Store`` (see its docstring for
the contract): idempotent ingest on prediction id (first wins, in the log or in the batch),
labels joined by id with unknown ids reported, versioned references with one active, runs
newest first. ``FakeService`` implements ``monitor.api.deps.ServiceLike`` over a store.
Both are thread-safe enough for ``anyio.to_thread`` (one lock per store).
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pandas as pd

from monitor.config import DriftlineConfig, MonitorConfig
from monitor.domain import (
    DatasetSummary,
    IngestResult,
    LabelResult,
    PerformanceRecord,
    ReferenceRecord,
    Run,
    RunStatus,
    WindowSpec,
)
from monitor.errors import DuplicateRun, StorageError, UnknownReference
from monitor.reports import render_report

__all__ = ["FakeService", "FakeStore", "make_run"]


class FakeStore:
    """The store contract in memory. Set ``fail`` to make every call raise ``StorageError``."""

    def __init__(self, config: DriftlineConfig) -> None:
        self.config = config
        self.fail: str | None = None
        self.upgraded = False
        self.disposed = False
        self.ingest_calls: list[tuple[str, pd.DataFrame]] = []
        self.label_calls: list[tuple[str, pd.DataFrame]] = []
        self._lock = threading.Lock()
        self._predictions: dict[str, pd.DataFrame] = {}
        self._references: dict[str, list[ReferenceRecord]] = {}
        self._runs: dict[str, Run] = {}

    @classmethod
    def from_url(cls, url: str, config: DriftlineConfig) -> FakeStore:
        return cls(config)

    def _check(self) -> None:
        if self.fail is not None:
            raise StorageError(self.fail)

    def upgrade(self) -> None:
        self._check()
        self.upgraded = True

    def ping(self) -> None:
        self._check()

    def dispose(self) -> None:
        self.disposed = True

    # --- prediction log ------------------------------------------------------------------------

    def ingest_predictions(self, model: str, frame: pd.DataFrame) -> IngestResult:
        self._check()
        with self._lock:
            self.ingest_calls.append((model, frame.copy()))
            log = self._predictions.get(model)
            seen = set() if log is None else set(log["prediction_id"])
            fresh = frame[~frame["prediction_id"].isin(seen) & ~frame["prediction_id"].duplicated()]
            fresh = fresh.assign(label_ts=pd.Series(pd.NaT, index=fresh.index, dtype="datetime64[ns, UTC]"))
            self._predictions[model] = fresh if log is None else pd.concat([log, fresh], ignore_index=True)
            return IngestResult(accepted=len(fresh), duplicates=len(frame) - len(fresh))

    def ingest_labels(self, model: str, frame: pd.DataFrame) -> LabelResult:
        self._check()
        with self._lock:
            self.label_calls.append((model, frame.copy()))
            log = self._predictions.get(model)
            known = set() if log is None else set(log["prediction_id"])
            matched = frame[frame["prediction_id"].isin(known)]
            unknown = tuple(frame.loc[~frame["prediction_id"].isin(known), "prediction_id"])
            if log is not None and len(matched):
                target = next((m.schema_.target for m in self.config.monitors
                               if m.model == model and m.schema_.target), "label")
                last = matched.drop_duplicates("prediction_id", keep="last").set_index("prediction_id")
                hit = log["prediction_id"].isin(last.index)
                ids = log.loc[hit, "prediction_id"]
                log.loc[hit, target] = last.loc[ids, "label"].to_numpy()
                log.loc[hit, "label_ts"] = last.loc[ids, "timestamp"].to_numpy()
            return LabelResult(updated=int(matched["prediction_id"].nunique()), unknown_ids=unknown)

    def predictions(self, model: str) -> pd.DataFrame:
        """Everything logged for ``model`` (a test helper, not part of the contract)."""
        with self._lock:
            return self._predictions.get(model, pd.DataFrame()).copy()

    def read_window(self, monitor: MonitorConfig, window: WindowSpec) -> pd.DataFrame:
        self._check()
        log = self.predictions(monitor.model)
        if log.empty:
            return log
        log = log[log["timestamp"] < window.end].sort_values("timestamp", kind="stable")
        if window.start is not None:
            log = log[log["timestamp"] >= window.start]
        elif window.rows is not None:
            log = log.tail(window.rows)
        return log.reset_index(drop=True)

    def count_predictions(self, model: str) -> int:
        self._check()
        return len(self.predictions(model))

    # --- references ------------------------------------------------------------------------------

    def add_reference(self, monitor: str, profile: bytes, content_hash: str, source: str, n_rows: int,
                      *, activate: bool = True) -> ReferenceRecord:
        self._check()
        with self._lock:
            versions = self._references.setdefault(monitor, [])
            record = ReferenceRecord(monitor=monitor, version=len(versions) + 1, content_hash=content_hash,
                                     created_at=datetime.now(UTC), source=source, n_rows=n_rows,
                                     active=activate, profile=profile)
            if activate:
                versions[:] = [replace(r, active=False) for r in versions]
            versions.append(record)
            return record

    def active_reference(self, monitor: str) -> ReferenceRecord | None:
        self._check()
        with self._lock:
            return next((r for r in self._references.get(monitor, []) if r.active), None)

    def references(self, monitor: str) -> list[ReferenceRecord]:
        self._check()
        with self._lock:
            return list(self._references.get(monitor, []))

    def activate_reference(self, monitor: str, version: int) -> ReferenceRecord:
        self._check()
        with self._lock:
            versions = self._references.get(monitor, [])
            if not any(r.version == version for r in versions):
                raise UnknownReference(monitor, version)
            versions[:] = [replace(r, active=r.version == version) for r in versions]
            return versions[version - 1]

    # --- runs ------------------------------------------------------------------------------------

    def save_run(self, run: Run) -> None:
        self._check()
        with self._lock:
            if any(r.monitor == run.monitor and r.window_end == run.window_end for r in self._runs.values()):
                raise DuplicateRun(f"monitor {run.monitor!r} already has a run ending {run.window_end.isoformat()}",
                                   monitor=run.monitor, window_end=run.window_end)
            self._runs[run.id] = run

    def update_performance(self, run_id: str, performance: Sequence[PerformanceRecord], labelled_rows: int,
                           label_coverage: float | None, concept_drift: bool | None) -> None:
        self._check()
        with self._lock:
            self._runs[run_id] = replace(self._runs[run_id], performance=tuple(performance),
                                         labelled_rows=labelled_rows, label_coverage=label_coverage,
                                         concept_drift=concept_drift)

    def get_run(self, run_id: str) -> Run | None:
        self._check()
        with self._lock:
            return self._runs.get(run_id)

    def list_runs(self, monitor: str, start: datetime | None = None, end: datetime | None = None,
                  limit: int = 100) -> list[Run]:
        self._check()
        with self._lock:
            runs = [r for r in self._runs.values() if r.monitor == monitor
                    and (start is None or r.window_end >= start) and (end is None or r.window_end < end)]
        return sorted(runs, key=lambda r: r.window_end, reverse=True)[:limit]

    def latest_runs(self) -> dict[str, Run]:
        self._check()
        with self._lock:
            latest: dict[str, Run] = {}
            for run in self._runs.values():
                if run.monitor not in latest or run.window_end > latest[run.monitor].window_end:
                    latest[run.monitor] = run
            return latest


def make_run(monitor: MonitorConfig, *, window_end: datetime, status: RunStatus = RunStatus.OK,
             reference_version: int | None = 1) -> Run:
    """A finished run of ``monitor`` ending at ``window_end`` (one dataset verdict, no columns)."""
    return Run(id=uuid.uuid4().hex, monitor=monitor.name, model=monitor.model, status=status,
               window_start=window_end - timedelta(hours=1), window_end=window_end, rows=500,
               started_at=window_end, finished_at=window_end + timedelta(seconds=2),
               reference_version=reference_version,
               dataset=DatasetSummary(drift_share=0.25, drifted_features=1, total_features=4,
                                      dataset_drift=False, threshold=0.5))


class FakeService:
    """``ServiceLike`` over a store: runs are made up (not computed), references are hashed frames."""

    def __init__(self, config: DriftlineConfig, store: FakeStore) -> None:
        self.config = config
        self.store = store
        self.started = False
        self.stopped = False
        self.running = True
        self.labels: list[str] = []
        self.reference_frames: list[tuple[str, pd.DataFrame, str]] = []
        self.reports: list[str] = []

    async def start(self) -> None:
        self.started = True

    async def stop(self) -> None:
        self.stopped = True

    def scheduler_running(self) -> bool:
        return self.started and self.running

    async def run_now(self, monitor: str) -> Run:
        run = make_run(self.config.monitor(monitor), window_end=datetime.now(UTC))
        self.store.save_run(run)
        return run

    async def register_reference(self, monitor: str, frame: pd.DataFrame, source: str) -> ReferenceRecord:
        self.config.monitor(monitor)
        self.reference_frames.append((monitor, frame, source))
        digest = hashlib.sha256(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes()).hexdigest()
        return self.store.add_reference(monitor, b"", digest, source, len(frame))

    async def labels_arrived(self, model: str) -> None:
        self.labels.append(model)

    async def report_html(self, run_id: str) -> str | None:
        """The real page of the stored run, drawn without a reference or window (no charts)."""
        run = self.store.get_run(run_id)
        if run is None:
            return None
        self.reports.append(run_id)
        return render_report(title=f"Driftline report: {run.monitor}", monitor=run.monitor, model=run.model,
                             window=(run.window_start, run.window_end), reference_version=run.reference_version,
                             run=run, bundle_profile=None, current=pd.DataFrame(),
                             json_href=f"/v1/runs/{run.id}")
