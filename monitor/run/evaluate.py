"""One window tested against a monitor's reference: pure, frames in and a :class:`Run` out.

:func:`evaluate` is the CPU-bound middle of a run; :func:`monitor.run.execute.run_monitor` calls it
off the event loop, between reading the window and writing the run in one transaction.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from monitor.domain import DatasetSummary, FeatureResult, Monitor, PerformanceRecord, Role, Run, RunStatus
from monitor.errors import InputError, InsufficientData
from monitor.run.bundle import ReferenceBundle, encode_window, reference_labels
from monitor.run.concept import concept_step
from monitor.run.estimation import estimate_window, fit_estimators
from monitor.run.multivariate import evaluate_multivariate, fit_monitor_multivariate
from monitor.run.segments import evaluate_segments, fit_segments
from monitor.stats.check import CheckOptions, DatasetResult, check
from monitor.stats.concept_state import RowBucket
from monitor.stats.degradation import DegradationTest, PreparedReference, ScoredSample, degradation
from monitor.stats.performance import (
    PerformanceResult,
    Task,
    classification_metrics,
    regression_metrics,
)
from monitor.stats.profile import ReferenceProfile, fit_profile
from monitor.stats.seasonal import SeasonalNull, seasonal_check

__all__ = ["PerformanceOutcome", "ReferenceBundle", "complete", "conform", "evaluate", "evaluate_performance",
           "fit_reference", "insufficient", "subprofile"]

_Array = NDArray[np.generic]


@dataclass(frozen=True, slots=True, kw_only=True)
class PerformanceOutcome:
    """Performance and concept drift of a window's labelled rows."""

    records: tuple[PerformanceRecord, ...] = ()
    labelled_rows: int = 0
    label_coverage: float | None = None
    concept_drift: bool | None = None  # None: too few labels to say
    change_points: tuple[datetime, ...] = ()


def conform(monitor: Monitor, frame: pd.DataFrame) -> pd.DataFrame:
    """Give a frame the schema's types, whatever its source: categories (and classification
    labels) as text, numerical features as floats, so ``0`` read from a CSV and ``"0"`` from the
    store are one category. Values that are not numbers in a numerical column become missing
    (and are counted as such).
    """
    s = monitor.schema
    outputs = [c for c in (s.prediction, s.target) if c]
    text = [*s.categorical, *(outputs if s.task is Task.CLASSIFICATION else [])]
    numbers = [*s.numerical, *(outputs if s.task is Task.REGRESSION else [])]
    out = {}
    for column in text:
        if column in frame.columns and not pd.api.types.is_string_dtype(frame[column].dtype):
            values = frame[column]
            out[column] = values.astype(object).where(values.isna(), values.map(_text)).astype(object)
    for column in numbers:
        if column in frame.columns and frame[column].dtype.kind != "f":
            out[column] = pd.to_numeric(frame[column], errors="coerce").astype(np.float64)
    return frame.assign(**out) if out else frame


def _text(value: object) -> str:
    """A category as text; integral floats (``1.0`` from a NaN-holding column) read as ``1``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    return str(value)


def _labels(values: pd.Series, task: Task) -> _Array:
    if task is Task.REGRESSION:
        return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    # str() of every value by NumPy's conversion loop, not a Python lambda per row (1.2 s for a
    # 1M-row reference's labels and predictions, the fit's second largest cost); missing: None.
    missing = values.isna().to_numpy()
    text = values.to_numpy(dtype=object).astype(np.str_).astype(object)
    text[missing] = None
    return text


def _scores(values: pd.Series) -> NDArray[np.float64]:
    return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)


def fit_reference(monitor: Monitor, frame: pd.DataFrame) -> ReferenceBundle:
    """Fit a monitor's reference from a frame holding its features, prediction and (optionally) label,
    and the monitor's multivariate methods when it names any."""
    bundle = _fit_reference(monitor, frame)
    if not monitor.multivariate:
        return bundle
    return replace(bundle, multivariate=fit_monitor_multivariate(monitor, conform(monitor, frame)))


def _fit_reference(monitor: Monitor, frame: pd.DataFrame) -> ReferenceBundle:
    s = monitor.schema
    frame = conform(monitor, frame)
    types = s.types()
    missing = [c for c in types if c not in frame.columns]
    if missing:
        raise InputError(f"reference data has no column {missing[0]!r}", field=missing[0])
    y_true = y_pred = y_score = None
    if s.target and s.target in frame.columns:
        types[s.target] = s.prediction_type
        y_true, y_pred = _labels(frame[s.target], s.task), _labels(frame[s.prediction], s.task)
        if s.prediction_score and s.prediction_score in frame.columns:
            y_score = _scores(frame[s.prediction_score])
    classes = None
    if y_true is not None and y_pred is not None:
        y_true, y_pred, y_score, classes = reference_labels(s.task, y_true, y_pred, y_score)
    bundle = ReferenceBundle(profile=fit_profile(frame, types=types, dims=s.dims), y_true=y_true, y_pred=y_pred, y_score=y_score,
                             classes=classes, segments=fit_segments(monitor, frame))
    return fit_estimators(monitor, frame, bundle)


def subprofile(profile: ReferenceProfile, names: list[str]) -> ReferenceProfile:
    """The profile of ``names`` only (those it has), in that order."""
    return replace(profile, columns={n: profile.columns[n] for n in names if n in profile.columns})


def _metrics(task: Task, y_true: _Array, y_pred: _Array, y_score: NDArray[np.float64] | None) -> PerformanceResult:
    if task is Task.REGRESSION:
        return regression_metrics(y_true, y_pred)
    return classification_metrics(y_true, y_pred, y_score=y_score) if y_score is not None else \
        classification_metrics(y_true, y_pred)


def evaluate_performance(monitor: Monitor, bundle: ReferenceBundle, frame: pd.DataFrame) -> PerformanceOutcome:
    """Performance and concept drift of the rows whose labels have arrived."""
    s, perf = monitor.schema, monitor.performance
    if not s.target or s.target not in frame.columns or len(frame) == 0:
        return PerformanceOutcome()
    frame = conform(monitor, frame)
    labelled = frame[s.target].notna().to_numpy()
    n_labelled = int(labelled.sum())
    coverage = n_labelled / len(frame)
    if n_labelled < perf.min_labels:
        return PerformanceOutcome(labelled_rows=n_labelled, label_coverage=coverage)
    cur = frame.loc[labelled]
    y_true, y_pred = _labels(cur[s.target], s.task), _labels(cur[s.prediction], s.task)
    y_score = None
    if s.prediction_score and s.prediction_score in cur.columns:
        y_score = _scores(cur[s.prediction_score])
        if np.isnan(y_score).any():
            y_score = None
    ref_score = bundle.y_score if y_score is not None and _complete(bundle.y_score) else None
    prepared: PreparedReference | None = None
    if s.task is Task.CLASSIFICATION and bundle.classes is not None and bundle.labelled:
        # Both sides as codes into one sorted vocabulary: the reference's million rows are never
        # turned back into strings, and label order (hence the positive label) is kept. The
        # reference side of the test is prepared once per fitted bundle (and vocabulary).
        union, window = encode_window(bundle.classes, y_true, y_pred)
        y_true, y_pred = window.y_true, window.y_pred
        prepared = bundle.degradation_reference(union, with_score=ref_score is not None)
    elif bundle.labelled:
        prepared = bundle.degradation_reference(None, with_score=ref_score is not None)
    current = _metrics(s.task, y_true, y_pred, y_score)
    reference = bundle.metrics(s.task, with_score=ref_score is not None) if bundle.labelled else None
    records = [PerformanceRecord(metric=str(metric), value=value,
                                 reference_value=reference.metrics.get(metric) if reference is not None else None)
               for metric, value in current.metrics.items()]
    deg = None
    if prepared is not None:
        deg = _degradation(monitor, prepared, cur, (y_true, y_pred, y_score if ref_score is not None else None))
    if deg is not None:
        tested = PerformanceRecord(metric=str(deg.metric), value=deg.current_value,
                                   reference_value=deg.reference_value, p_value=deg.p_value,
                                   degraded=deg.degraded, lower=deg.lower, upper=deg.upper)
        if any(r.metric == tested.metric for r in records):  # in place: the order of metrics is kept
            records = [tested if r.metric == tested.metric else r for r in records]
        else:
            records.append(tested)
    # A fresh detector on the reference's error level over this window alone; a scheduled run then
    # advances the monitor's stored detector instead (monitor.run.concept, run_monitor).
    concept = concept_step(monitor, bundle, frame, end=None)
    return PerformanceOutcome(records=tuple(records), labelled_rows=n_labelled, label_coverage=coverage,
                              concept_drift=concept.drifted if concept is not None else None,
                              change_points=concept.change_points if concept is not None else ())


def _complete(score: NDArray[np.float64] | None) -> bool:
    return score is not None and not bool(np.isnan(score).any())


def _degradation(
    monitor: Monitor, reference: PreparedReference, cur: pd.DataFrame,
    window: tuple[_Array, _Array, NDArray[np.float64] | None],
) -> DegradationTest | None:
    """The block-bootstrap degradation test of the window's labelled rows against the reference.

    The window's blocks are its ``performance.bucket`` time buckets. The reference keeps no
    timestamps, so its blocks are runs of consecutive rows as long as the window's median
    bucket (a reference stored in time order then has blocks of about one bucket of traffic).
    ``None`` when the reference has no labels or the metric is undefined on a side (one class).
    A fixed seed keeps a run reproducible.
    """
    s, perf = monitor.schema, monitor.performance
    buckets = None
    block_rows = None
    if s.timestamp in cur.columns:
        times = pd.to_datetime(cur[s.timestamp], utc=True, errors="coerce")
        if isinstance(perf.bucket, RowBucket):  # runs of N labelled rows in time order
            keys = np.argsort(np.argsort(times.to_numpy(), kind="stable"), kind="stable") // perf.bucket.rows
        else:
            step = max(1, int(perf.bucket.total_seconds() * 1e9))
            keys = times.to_numpy(dtype="datetime64[ns]").astype(np.int64) // step
        buckets = keys
        block_rows = max(1, int(np.median(np.unique(keys, return_counts=True)[1])))
    y_true, y_pred, y_score = window
    try:
        return degradation(reference, ScoredSample(y_true=y_true, y_pred=y_pred, y_score=y_score, buckets=buckets),
                           s.task, rng=np.random.default_rng(0), alpha=perf.alpha, block_rows=block_rows)
    except InsufficientData:
        return None


def insufficient(run: Run, rows: int, needed: int) -> Run:
    """The run of a window with too few rows: recorded, with no verdict."""
    return replace(run, status=RunStatus.INSUFFICIENT_DATA, rows=rows,
                   error=f"{rows} rows in the window; the monitor needs at least {needed}")


def with_performance(run: Run, outcome: PerformanceOutcome) -> Run:
    """``run`` with its performance fields set from ``outcome``."""
    return replace(run, performance=outcome.records, labelled_rows=outcome.labelled_rows,
                   label_coverage=outcome.label_coverage, concept_drift=outcome.concept_drift,
                   concept_change_points=outcome.change_points)


def evaluate(monitor: Monitor, bundle: ReferenceBundle, frame: pd.DataFrame, run: Run, *,
             seasonal: SeasonalNull | None = None) -> Run:
    """Test a window against the reference and return ``run`` completed with every result.

    ``run`` carries the identity, window and start time; ``finished_at`` is left to the caller.
    The dataset verdict is the core's, over the features only (the prediction is tested beside
    them and reported, not counted). ``seasonal`` (a dynamic reference's between-period spread)
    widens the simulated nulls (:func:`monitor.stats.seasonal.seasonal_check`).
    """
    s = monitor.schema
    if len(frame) < monitor.min_rows:
        return insufficient(run, len(frame), monitor.min_rows)
    frame = conform(monitor, frame)
    main = seasonal_check(subprofile(bundle.profile, [*s.features, s.prediction]), frame, monitor.check_options(),
                          seasonal)
    return complete(monitor, bundle, main, frame, run, rows=len(frame))


def complete(monitor: Monitor, bundle: ReferenceBundle, main: DatasetResult, frame: pd.DataFrame, run: Run, *,
             rows: int) -> Run:
    """``run`` completed from the main check's result and the window's (conformed) ``frame``.

    Everything after the per-column check of the features and the prediction: the target's
    drift, multivariate tests, performance, estimates, segments and the run's status. A pushed-
    down window passes the frame of the columns these read (no features) and its row count.
    """
    s = monitor.schema
    results = [FeatureResult.of(r, Role.PREDICTION if r.column == s.prediction else Role.FEATURE)
               for r in main.columns]
    if s.target and s.target in bundle.profile.columns and s.target in frame.columns:
        labelled = frame.loc[frame[s.target].notna(), [s.target]]
        if len(labelled):
            target = check(subprofile(bundle.profile, [s.target]), labelled, CheckOptions(compat=monitor.compat))
            results.extend(FeatureResult.of(r, Role.TARGET) for r in target.columns)
    dataset = DatasetSummary.of(main)
    multivariate = evaluate_multivariate(monitor, bundle.multivariate, frame)
    outcome = evaluate_performance(monitor, bundle, frame)
    run = replace(run, estimates=estimate_window(monitor, bundle, frame, concept_drift=outcome.concept_drift))
    degraded = any(r.degraded for r in outcome.records)
    segments = evaluate_segments(monitor, bundle.segments, frame) if monitor.segments else None
    run = replace(run, segments=segments)
    status = RunStatus.DRIFT if dataset.dataset_drift or degraded or bool(outcome.concept_drift) \
        or (segments is not None and segments.any_drift) else RunStatus.OK
    status = RunStatus.DRIFT if any(m.drifted for m in multivariate) else status
    return with_performance(replace(run, status=status, rows=rows, dataset=dataset, features=tuple(results),
                                    multivariate=multivariate),
                            outcome)
