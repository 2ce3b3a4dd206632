"""In-memory fakes of the store and the monitor service, honest to their contracts.

``FakeStore`` implements the prediction log, references and runs of
``monitor.storage.store.Store``, and tests/storage runs their contract tests on it beside SQLite
and PostgreSQL (see tests/storage/conftest.py), so it cannot drift from them: idempotent ingest
on prediction id (first wins, in the log or in the batch), labels joined by id with unknown ids
reported, windows typed and named as the store reads them, versioned references with one
active, runs newest first. Ingest frames are validated by the store's own translation
(``monitor.storage._frames``): only the database is replaced, not the rules a batch must meet.
It has no outbox, Alertmanager episodes, retraining jobs or run aggregates, and its
``save_run`` takes no events. ``FakeService`` implements ``monitor.api.deps.ServiceLike`` over a
store. Both are thread-safe enough for ``anyio.to_thread`` (one lock per store).
"""

from __future__ import annotations

import copy
import hashlib
import threading
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import sqlalchemy as sa  # only for the layouts' table metadata; no engine is ever made

from monitor.config import DriftlineConfig, MonitorConfig
from monitor.domain import (
    DatasetSummary,
    IngestResult,
    LabelResult,
    Monitor,
    OutboxMessage,
    PerformanceRecord,
    ReferenceRecord,
    Run,
    RunStatus,
    WindowSpec,
    with_concept_flag,
)
from monitor.domain.concept import ConceptStateRecord
from monitor.errors import DuplicateRun, InputError, StorageError, UnknownReference
from monitor.reports import render_report
from monitor.stats.estimation.types import Estimate
from monitor.storage._frames import NAT, Batch, Columns, prepare_labels, prepare_predictions, to_frame
from monitor.storage._types import to_utc
from monitor.storage.layout import Kind, ModelLayout, build_layouts

__all__ = ["FakeService", "FakeStore", "make_run"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _micros(value: datetime) -> int:
    """An aware time as microseconds since the epoch (``to_utc`` refuses a naive one, as the store does)."""
    return (to_utc(value) - _EPOCH) // timedelta(microseconds=1)


def _value_columns(layout: ModelLayout) -> list[str]:
    """The database columns of a model's table besides prediction_id, ts and label_ts."""
    return ["prediction", *(["score"] if layout.score_column else []), "label", *layout.features]


class FakeStore:
    """The store contract in memory. Set ``fail`` to make every call raise ``StorageError``."""

    def __init__(self, config: DriftlineConfig) -> None:
        self.config = config
        self.fail: str | None = None
        self.read_only = False  # the database answers but refuses writes (write_probe fails)
        self.upgraded = False
        self.disposed = False
        self.ingest_calls: list[tuple[str, pd.DataFrame]] = []
        self.label_calls: list[tuple[str, pd.DataFrame]] = []
        self._lock = threading.Lock()
        self._layouts = build_layouts(config.to_domain(), sa.MetaData())
        self._tables: dict[str, pd.DataFrame] = {}  # model -> rows keyed by database column
        self._references: dict[str, list[ReferenceRecord]] = {}
        self._runs: dict[str, Run] = {}
        self._concept: dict[str, ConceptStateRecord] = {}

    @classmethod
    def from_url(cls, url: str, config: DriftlineConfig) -> FakeStore:
        return cls(config)

    def _check(self) -> None:
        if self.fail is not None:
            raise StorageError(self.fail)

    def _layout(self, model: str) -> ModelLayout:
        try:
            return self._layouts[model]
        except KeyError:
            raise InputError(f"no monitor in the configuration watches model {model!r}", field="model") from None

    def _table(self, layout: ModelLayout) -> pd.DataFrame:
        table = self._tables.get(layout.model)
        if table is None:
            table = self._rows(layout, Batch(ids=pa.array([], type=pa.large_string()), ts=np.empty(0, np.int64),
                                             numbers={}, texts={}, duplicates=0))
        return table

    @staticmethod
    def _rows(layout: ModelLayout, batch: Batch) -> pd.DataFrame:
        """A batch as table rows; columns it does not carry are missing (NaN or None), as in the database."""
        n = len(batch)
        data: dict[str, object] = {"prediction_id": pd.Series(batch.ids.to_pylist(), dtype=object),
                                   "ts": batch.ts.astype(np.int64)}
        for column in _value_columns(layout):
            if layout.kind(column) is Kind.NUMBER:
                data[column] = batch.numbers.get(column, np.full(n, np.nan))
            elif layout.kind(column) is Kind.EMBEDDING:  # the vectors' float32 bytes, as the databases hold them
                vectors = batch.binaries.get(column)
                data[column] = pd.Series([None] * n if vectors is None else vectors.to_pylist(), dtype=object)
            else:
                text = batch.texts.get(column)
                data[column] = pd.Series([None] * n if text is None else text.to_pylist(), dtype=object)
        if "label" in batch.numbers:
            present = ~np.isnan(batch.numbers["label"])
        elif "label" in batch.texts:
            present = ~batch.texts["label"].is_null().to_numpy(zero_copy_only=False)
        else:
            present = np.zeros(n, dtype=bool)
        data["label_ts"] = np.where(present, batch.ts, NAT).astype(np.int64)  # a label sent with its prediction
        return pd.DataFrame(data)

    @staticmethod
    def _columns(layout: ModelLayout, rows: pd.DataFrame) -> Columns:
        def text(values: pd.Series) -> pa.Array:
            return pa.array(values.tolist(), type=pa.large_string())

        values = _value_columns(layout)
        return Columns(ids=text(rows["prediction_id"]), ts=rows["ts"].to_numpy(np.int64),
                       label_ts=rows["label_ts"].to_numpy(np.int64),
                       numbers={c: rows[c].to_numpy(np.float64) for c in values if layout.kind(c) is Kind.NUMBER},
                       texts={c: text(rows[c]) for c in values if layout.kind(c) is Kind.TEXT},
                       binaries={c: pa.array(rows[c].tolist(), type=pa.large_binary(), from_pandas=True)
                                 for c in values if layout.kind(c) is Kind.EMBEDDING})

    def upgrade(self) -> None:
        self._check()
        self.upgraded = True

    def ping(self) -> None:
        self._check()

    def write_probe(self) -> None:
        """Like the store's: fails with every call, or alone when ``read_only`` is set."""
        self._check()
        if self.read_only:
            raise StorageError("write to the database failed: the database refused the statement (ReadOnly)")

    def dispose(self) -> None:
        self.disposed = True

    # --- prediction log ------------------------------------------------------------------------

    def ingest_predictions(self, model: str, frame: pd.DataFrame) -> IngestResult:
        self._check()
        with self._lock:
            self.ingest_calls.append((model, frame.copy()))
            layout = self._layout(model)
            batch = prepare_predictions(layout, frame)  # InputError naming the column and row
            table = self._table(layout)
            rows = self._rows(layout, batch)
            fresh = rows[~rows["prediction_id"].isin(table["prediction_id"])]
            self._tables[model] = pd.concat([table, fresh], ignore_index=True) if len(table) else fresh
            return IngestResult(accepted=len(fresh), duplicates=len(frame) - len(fresh))

    def ingest_labels(self, model: str, frame: pd.DataFrame) -> LabelResult:
        self._check()
        with self._lock:
            self.label_calls.append((model, frame.copy()))
            layout = self._layout(model)
            batch = prepare_labels(layout, frame)  # a repeated id keeps its last label
            ids = pd.Index(batch.ids.to_pylist(), dtype=object)
            table = self._table(layout)
            known = ids.isin(table["prediction_id"])
            hit = table["prediction_id"].isin(ids).to_numpy()
            if hit.any():
                label = batch.numbers["label"] if "label" in batch.numbers else np.asarray(
                    batch.texts["label"].to_pylist(), dtype=object)
                where = ids.get_indexer(table.loc[hit, "prediction_id"])
                table.loc[hit, "label"] = label[where]
                table.loc[hit, "label_ts"] = batch.ts[where]
                self._tables[model] = table
            return LabelResult(updated=int(hit.sum()), unknown_ids=tuple(ids[~known]))

    def predictions(self, model: str) -> pd.DataFrame:
        """Everything logged for ``model``, oldest first, named as ingested (a test helper, not the contract)."""
        with self._lock:
            layout = self._layouts.get(model)
            if layout is None or model not in self._tables:
                return pd.DataFrame()
            names = {db: name for name, db in layout.frame_to_db().items()}
            names.setdefault("label", "label")
            names["label_ts"] = "label_ts"
            rows = self._tables[model].sort_values(["ts", "prediction_id"], kind="stable")
            return to_frame(names, self._columns(layout, rows))

    def read_window(self, monitor: Monitor, window: WindowSpec) -> pd.DataFrame:
        self._check()
        self.config.monitor(monitor.name)  # UnknownMonitor for a monitor this store does not serve
        layout = self._layout(monitor.model)
        if window.rows is not None and window.rows < 1:
            raise InputError(f"window.rows ({window.rows}) must be at least 1", field="rows")
        s = monitor.schema
        names = {"prediction_id": s.prediction_id, "ts": s.timestamp, **{f: f for f in s.features},
                 "prediction": s.prediction, **({"score": s.prediction_score} if s.prediction_score else {}),
                 "label": s.target or "label", "label_ts": "label_ts"}
        end = _micros(window.end)
        with self._lock:
            rows = self._table(layout)
        rows = rows[rows["ts"] < end]
        if window.start is not None:
            rows = rows[rows["ts"] >= _micros(window.start)]
        rows = rows.sort_values(["ts", "prediction_id"], kind="stable")
        if window.rows is not None:
            rows = rows.tail(window.rows)
        return to_frame(names, self._columns(layout, rows))

    def count_predictions(self, model: str) -> int:
        self._check()
        layout = self._layout(model)
        with self._lock:
            return len(self._table(layout))

    # --- references ------------------------------------------------------------------------------

    def add_reference(self, monitor: str, profile: bytes, content_hash: str, source: str, n_rows: int,
                      *, activate: bool = True, input_hash: str | None = None) -> ReferenceRecord:
        self._check()
        self.config.monitor(monitor)
        with self._lock:
            versions = self._references.setdefault(monitor, [])
            record = ReferenceRecord(monitor=monitor, version=len(versions) + 1, content_hash=content_hash,
                                     created_at=datetime.now(UTC), source=source, n_rows=n_rows,
                                     active=activate, profile=profile, input_hash=input_hash)
            if activate:
                versions[:] = [replace(r, active=False) for r in versions]
            versions.append(record)
            return record

    def active_reference(self, monitor: str) -> ReferenceRecord | None:
        self._check()
        self.config.monitor(monitor)
        with self._lock:
            active = next((r for r in self._references.get(monitor, []) if r.active), None)
        return None if active is None else replace(active, profile=b"")  # listed without the blob, as the Store

    def delete_predictions_before(self, model: str, cutoff: datetime, *, batch: int = 10_000) -> int:
        self._check()
        with self._lock:
            table = self._table(self._layout(model))
            old = (table["ts"] < _micros(cutoff)).to_numpy()
            self._tables[model] = table.loc[~old].reset_index(drop=True)
            return int(old.sum())

    def delete_runs_before(self, monitor: str, cutoff: datetime, *, batch: int = 1_000) -> int:
        self._check()
        with self._lock:
            old = [k for k, r in self._runs.items() if r.monitor == monitor and r.window_end < cutoff]
            for k in old:
                del self._runs[k]
            return len(old)

    def active_reference_versions(self) -> dict[str, tuple[int, str]]:
        self._check()
        configured = {m.name for m in self.config.monitors}
        with self._lock:
            return {monitor: (r.version, r.content_hash) for monitor, versions in self._references.items()
                    if monitor in configured for r in versions if r.active}

    def active_reference_version(self, monitor: str) -> int | None:
        self._check()
        self.config.monitor(monitor)
        with self._lock:
            return next((r.version for r in self._references.get(monitor, []) if r.active), None)

    def references(self, monitor: str) -> list[ReferenceRecord]:
        self._check()
        self.config.monitor(monitor)
        with self._lock:
            return [replace(r, profile=b"") for r in self._references.get(monitor, [])]

    def reference(self, monitor: str, version: int) -> ReferenceRecord | None:
        self._check()
        self.config.monitor(monitor)
        with self._lock:
            return next((r for r in self._references.get(monitor, []) if r.version == version), None)

    def has_reference_hash(self, monitor: str, content_hash: str) -> bool:
        self._check()
        self.config.monitor(monitor)
        with self._lock:
            return any(r.content_hash == content_hash for r in self._references.get(monitor, []))

    def has_reference_input(self, monitor: str, input_hash: str) -> bool:
        self._check()
        self.config.monitor(monitor)
        with self._lock:
            return any(r.input_hash == input_hash for r in self._references.get(monitor, []))

    def remember_reference_input(self, monitor: str, content_hash: str, input_hash: str) -> None:
        self._check()
        self.config.monitor(monitor)
        with self._lock:
            versions = self._references.get(monitor, [])
            versions[:] = [replace(r, input_hash=input_hash) if r.content_hash == content_hash else r for r in versions]

    def activate_reference(self, monitor: str, version: int) -> ReferenceRecord:
        self._check()
        self.config.monitor(monitor)
        with self._lock:
            versions = self._references.get(monitor, [])
            if not any(r.version == version for r in versions):
                raise UnknownReference(monitor, version)
            versions[:] = [replace(r, active=r.version == version) for r in versions]
            return versions[version - 1]

    # --- runs ------------------------------------------------------------------------------------

    def save_run(self, run: Run, events: Sequence[OutboxMessage] = (), *,
                 concept_state: ConceptStateRecord | None = None) -> None:
        self._check()
        with self._lock:
            if run.id in self._runs or any(r.monitor == run.monitor and r.window_end == run.window_end
                                           for r in self._runs.values()):
                raise DuplicateRun(f"monitor {run.monitor!r} already has a run for the window ending "
                                   f"{run.window_end.isoformat()} (or run id {run.id!r} exists)",
                                   monitor=run.monitor, window_end=run.window_end)
            self._runs[run.id] = replace(run, estimates=with_concept_flag(run.estimates, run.concept_drift))
            if concept_state is not None:  # compare-and-set on the revision, as the Store
                stored = self._concept.get(concept_state.monitor)
                if (stored.revision if stored is not None else 0) == concept_state.revision:
                    self._concept[concept_state.monitor] = replace(concept_state, state=copy.deepcopy(concept_state.state),
                                                                   revision=concept_state.revision + 1)

    def concept_state(self, monitor: str) -> ConceptStateRecord | None:
        self._check()
        with self._lock:
            stored = self._concept.get(monitor)
            return None if stored is None else replace(stored, state=copy.deepcopy(stored.state))

    def update_performance(self, run_id: str, performance: Sequence[PerformanceRecord], labelled_rows: int,
                           label_coverage: float | None, concept_drift: bool | None, *,
                           estimates: Sequence[Estimate] | None = None) -> None:
        self._check()
        with self._lock:
            if run_id not in self._runs:
                # What the committed Store raises; the contract test asks for a LookupError with this text.
                raise LookupError(f"no run with id {run_id!r}")
            run = self._runs[run_id]
            stored = run.estimates if estimates is None else tuple(estimates)
            self._runs[run_id] = replace(run, performance=tuple(performance), labelled_rows=labelled_rows,
                                         label_coverage=label_coverage, concept_drift=concept_drift,
                                         estimates=with_concept_flag(stored, concept_drift))

    def get_run(self, run_id: str) -> Run | None:
        self._check()
        with self._lock:
            return self._runs.get(run_id)

    def list_runs(self, monitor: str, start: datetime | None = None, end: datetime | None = None,
                  limit: int = 100, *, results: bool = True) -> list[Run]:
        self._check()
        with self._lock:
            runs = [r for r in self._runs.values() if r.monitor == monitor
                    and (start is None or r.window_end >= start) and (end is None or r.window_end < end)]
        newest = sorted(runs, key=lambda r: r.window_end, reverse=True)[:limit]
        return newest if results else [replace(r, features=(), performance=(), estimates=()) for r in newest]

    def latest_runs(self) -> dict[str, Run]:
        """Newest run (by window end, any status) of every configured monitor that has one."""
        return self._newest(verdict=False)

    def latest_verdicts(self) -> dict[str, Run]:
        """Newest run with a verdict (``ok`` or ``drift``) of every configured monitor that has one."""
        return self._newest(verdict=True)

    def latest_and_verdicts(self) -> tuple[dict[str, Run], dict[str, Run]]:
        """Both of the above, as one scrape reads them."""
        return self._newest(verdict=False), self._newest(verdict=True)

    def _newest(self, *, verdict: bool) -> dict[str, Run]:
        self._check()
        configured = {m.name for m in self.config.monitors}
        with self._lock:
            latest: dict[str, Run] = {}
            for run in self._runs.values():
                if verdict and not run.status.has_verdict:
                    continue
                if run.monitor in configured and (run.monitor not in latest
                                                  or run.window_end > latest[run.monitor].window_end):
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
