"""Concept drift of a run: the monitor's detector, advanced by the window's new labelled rows.

:func:`concept_step` is pure: the stored state in, the advanced state and the window's change
points out. :func:`monitor.run.execute.run_monitor` reads the state before the run and writes the
advanced one in the run's transaction; without a stored state (the first run, a changed detector,
bucket or reference version, a state of another release) the detector starts afresh, on the
reference's error level (so a window wholly after a jump still fires).
"""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from monitor.domain import Monitor, Run, RunStatus, RunStore
from monitor.domain.concept import ConceptStateRecord
from monitor.run.bundle import ReferenceBundle
from monitor.stats.concept import row_errors
from monitor.stats.concept_state import Advance, ConceptState, advance, fresh_state
from monitor.stats.cusum import Baseline, baseline_of
from monitor.stats.performance import Task

__all__ = ["advance_run", "concept_step", "record_of", "reference_baseline", "with_concept"]

logger = logging.getLogger(__name__)


def reference_baseline(task: Task, bundle: ReferenceBundle) -> Baseline | None:
    """The reference's error level (rate or mean absolute error and sd); None without labels.

    Computed once per fitted bundle and kept with it (a pass over every reference row).
    """
    if not bundle.labelled:
        return None
    assert bundle.y_true is not None and bundle.y_pred is not None
    y_true, y_pred = bundle.y_true, bundle.y_pred

    def make() -> Baseline | None:
        if task is Task.CLASSIFICATION:
            errors = (y_true != y_pred).astype(np.float64)
        else:
            errors = np.abs(y_true.astype(np.float64) - y_pred.astype(np.float64))
        return baseline_of(task, errors)

    return bundle.memoised(f"baseline:{task}", make)


def _state(monitor: Monitor, bundle: ReferenceBundle, stored: dict[str, Any] | None,
           reference_version: int | None) -> ConceptState:
    perf = monitor.performance
    if stored is not None:
        try:
            state = ConceptState.from_json(stored)
        except ValueError as exc:
            logger.warning("concept state of monitor %s discarded: %s", monitor.name, exc)
        else:
            if state.matches(perf.detector, perf.bucket, reference_version):
                return state
            logger.info("concept detector of monitor %s restarted: detector, bucket or reference changed", monitor.name)
    return fresh_state(perf.detector, perf.bucket, reference_version, reference_baseline(monitor.schema.task, bundle))


def concept_step(monitor: Monitor, bundle: ReferenceBundle, frame: pd.DataFrame, *, end: datetime | None,
                 stored: dict[str, Any] | None = None, reference_version: int | None = None) -> Advance | None:
    """Advance the monitor's detector (``stored``: its JSON state, None: a fresh one) by ``frame``'s
    labelled rows before ``end`` (None: every row). None when the frame has no labels column or no label.

    ``frame`` must be conformed (:func:`monitor.run.evaluate.conform`).
    """
    from monitor.run.evaluate import _labels  # the one label conversion of the run layer

    s = monitor.schema
    if not s.target or s.target not in frame.columns or s.timestamp not in frame.columns:
        return None
    if not frame[s.target].notna().any():
        return None  # nothing to consume: the state stays as it is
    errors = row_errors(s.task, _labels(frame[s.target], s.task), _labels(frame[s.prediction], s.task))
    times = pd.to_datetime(frame[s.timestamp], utc=True)
    if end is None:
        end = (times.max() + timedelta(microseconds=1)).to_pydatetime() if len(times) else datetime.now().astimezone()
    return advance(_state(monitor, bundle, stored, reference_version), times, errors, end=end,
                   bucket=monitor.performance.bucket, task=s.task)


def with_concept(run: Run, step: Advance | None, *, labelled_rows: int, min_labels: int) -> Run:
    """``run`` with its concept-drift fields (and status) from ``step``: drifted when a change point was
    found in this step, unknown (None) when there were too few labels and none was found."""
    if step is None:
        return run
    drifted: bool | None = step.drifted or (None if labelled_rows < min_labels else False)
    status = run.status
    if status in (RunStatus.OK, RunStatus.DRIFT):
        dataset = run.dataset is not None and run.dataset.dataset_drift
        degraded = any(r.degraded for r in run.performance)
        status = RunStatus.DRIFT if dataset or degraded or bool(drifted) else RunStatus.OK
    return replace(run, status=status, concept_drift=drifted, concept_change_points=step.change_points)


def record_of(monitor: Monitor, step: Advance, stored: ConceptStateRecord | None) -> ConceptStateRecord:
    """The record to write: the advanced state with the revision that was read."""
    return ConceptStateRecord(monitor=monitor.name, state=step.state.to_json(),
                              revision=stored.revision if stored is not None else 0)


def advance_run(monitor: Monitor, bundle: ReferenceBundle, frame: pd.DataFrame, run: Run,
                store: RunStore) -> tuple[Run, ConceptStateRecord | None]:
    """A scheduled run's concept drift: the stored detector advanced by the window (``run`` as
    :func:`monitor.run.evaluate.evaluate` returned it); the record to write with the run, or None."""
    from monitor.run.evaluate import conform

    if not run.status.has_verdict or run.status is RunStatus.INSUFFICIENT_DATA:
        return run, None
    frame = conform(monitor, frame)
    stored = store.concept_state(monitor.name)
    step = concept_step(monitor, bundle, frame, end=run.window_end, stored=stored.state if stored else None,
                        reference_version=run.reference_version)
    if step is None:
        return run, None
    return (with_concept(run, step, labelled_rows=run.labelled_rows, min_labels=monitor.performance.min_labels),
            record_of(monitor, step, stored))
