"""One run of a monitor: a window of prediction logs tested against the monitor's reference.

:func:`evaluate` is the CPU-bound middle (pure: frames in, a :class:`Run` out); the service
calls it off the event loop, between reading the window and writing the run in one transaction.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from datetime import datetime

import numpy as np
import pandas as pd

from monitor.config import MonitorConfig, PValueOptions, parse_duration
from monitor.domain import DatasetSummary, FeatureResult, PerformanceRecord, Role, Run, RunStatus
from monitor.errors import InputError
from monitor.stats.check import CheckOptions, ColumnOptions, ColumnResult, check
from monitor.stats.concept import Detector, detect_concept_drift, row_errors
from monitor.stats.performance import (
    LabelledSample,
    PerformanceResult,
    Task,
    classification_metrics,
    performance_degradation,
    regression_metrics,
)
from monitor.stats.profile import ReferenceProfile, fit_profile, profile_from_bytes, profile_to_bytes
from monitor.stats.types import ColumnType, DriftMethod

__all__ = ["ReferenceBundle", "conform", "evaluate", "evaluate_performance", "feature_result", "fit_reference",
           "insufficient", "monitor_types"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReferenceBundle:
    """A monitor's fitted reference: the drift profile plus the labelled rows for performance."""

    profile: ReferenceProfile
    y_true: np.ndarray | None
    y_pred: np.ndarray | None
    y_score: np.ndarray | None = None

    def to_bytes(self) -> bytes:
        """One ``.npz`` holding the profile's own ``.npz`` bytes and the labelled columns."""
        arrays: dict[str, np.ndarray] = {"profile": np.frombuffer(profile_to_bytes(self.profile), dtype=np.uint8)}
        for name in ("y_true", "y_pred", "y_score"):
            value = getattr(self, name)
            if value is not None:
                arrays[name] = np.asarray(value, dtype=np.str_ if value.dtype == object else value.dtype)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        return buffer.getvalue()

    @classmethod
    def from_bytes(cls, blob: bytes) -> ReferenceBundle:
        """Read what :meth:`to_bytes` wrote (the profile's content hash is verified)."""
        with np.load(io.BytesIO(blob), allow_pickle=False) as data:
            profile = profile_from_bytes(data["profile"].tobytes())
            # Labels were saved as fixed-width strings; give them back as the object arrays the
            # live window has, so both sides compare alike.
            get = {k: data[k].astype(object) if data[k].dtype.kind == "U" else data[k]
                   for k in ("y_true", "y_pred", "y_score") if k in data.files}
        return cls(profile=profile, y_true=get.get("y_true"), y_pred=get.get("y_pred"), y_score=get.get("y_score"))


def monitor_types(monitor: MonitorConfig) -> dict[str, ColumnType]:
    """Column types of a monitor: its features, and its prediction by task."""
    s = monitor.schema_
    pred_type = ColumnType.CATEGORICAL if s.task is Task.CLASSIFICATION else ColumnType.NUMERICAL
    types = {c: ColumnType.NUMERICAL for c in s.numerical} | {c: ColumnType.CATEGORICAL for c in s.categorical}
    types[s.prediction] = pred_type
    return types


def conform(monitor: MonitorConfig, frame: pd.DataFrame) -> pd.DataFrame:
    """Give a frame the schema's types, whatever its source: categories (and classification
    labels) as text, numerical features as floats, so ``0`` read from a CSV and ``"0"`` from the
    store are one category. Values that are not numbers in a numerical column become missing
    (and are counted as such).
    """
    s = monitor.schema_
    text = [*s.categorical, *([s.prediction, s.target] if s.task is Task.CLASSIFICATION else [])]
    numbers = [*s.numerical, *([s.prediction, s.target] if s.task is Task.REGRESSION else [])]
    out = {}
    for column in text:
        if column and column in frame.columns and not pd.api.types.is_string_dtype(frame[column].dtype):
            values = frame[column]
            out[column] = values.astype(object).where(values.isna(), values.map(_text)).astype(object)
    for column in numbers:
        if column and column in frame.columns and frame[column].dtype.kind != "f":
            out[column] = pd.to_numeric(frame[column], errors="coerce").astype(np.float64)
    return frame.assign(**out) if out else frame


def _text(value: object) -> str:
    """A category as text; integral floats (``1.0`` from a NaN-holding column) read as ``1``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    return str(value)


def _labels(values: pd.Series, task: Task) -> np.ndarray:
    if task is Task.REGRESSION:
        return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    return values.astype(object).where(values.notna(), None).map(lambda v: v if v is None else str(v)).to_numpy()


def fit_reference(monitor: MonitorConfig, frame: pd.DataFrame) -> ReferenceBundle:
    """Fit a monitor's reference from a frame holding its features, prediction and (optionally) label."""
    s = monitor.schema_
    frame = conform(monitor, frame)
    types = monitor_types(monitor)
    missing = [c for c in types if c not in frame.columns]
    if missing:
        raise InputError(f"reference data has no column {missing[0]!r}", field=missing[0])
    if s.target and s.target in frame.columns:
        types[s.target] = types[s.prediction]
    profile = fit_profile(frame, types=types)
    y_true = y_pred = y_score = None
    if s.target and s.target in frame.columns:
        y_true, y_pred = _labels(frame[s.target], s.task), _labels(frame[s.prediction], s.task)
        if s.prediction_score and s.prediction_score in frame.columns:
            y_score = pd.to_numeric(frame[s.prediction_score], errors="coerce").to_numpy(dtype=np.float64)
    return ReferenceBundle(profile=profile, y_true=y_true, y_pred=y_pred, y_score=y_score)


def _options(monitor: MonitorConfig) -> CheckOptions:
    columns = {}
    for name, opt in monitor.features.items():
        threshold = opt.alpha if isinstance(opt, PValueOptions) else opt.threshold
        columns[name] = ColumnOptions(method=DriftMethod(opt.method), threshold=threshold)
    return CheckOptions(columns=columns, drift_share=monitor.drift_share, correction=monitor.correction)


def feature_result(result: ColumnResult, role: Role) -> FeatureResult:
    """A column result of the core as the service's stored form (with the column's role)."""
    return FeatureResult(
        column=result.column, role=role, type=None if result.type is None else str(result.type),
        method=None if result.method is None else str(result.method), reason=result.reason,
        statistic=result.statistic, p_value=result.p_value, adjusted_p_value=result.adjusted_p_value,
        threshold=result.threshold, drifted=result.drifted, status=str(result.status),
        n_reference=result.n_reference, n_current=result.n_current,
        missing_reference=result.missing_reference, missing_current=result.missing_current,
        missing_p_value=result.missing_p_value, missing_drifted=result.missing_drifted,
        new_categories=tuple(result.new_categories or ()), out_of_range_current=result.out_of_range_current,
    )


def _subprofile(profile: ReferenceProfile, names: list[str]) -> ReferenceProfile:
    return replace(profile, columns={n: profile.columns[n] for n in names if n in profile.columns})


def _metrics(task: Task, y_true: np.ndarray, y_pred: np.ndarray, y_score: np.ndarray | None) -> PerformanceResult:
    if task is Task.REGRESSION:
        return regression_metrics(y_true, y_pred)
    return classification_metrics(y_true, y_pred, y_score=y_score) if y_score is not None else \
        classification_metrics(y_true, y_pred)


def evaluate_performance(
    monitor: MonitorConfig, bundle: ReferenceBundle, frame: pd.DataFrame
) -> tuple[tuple[PerformanceRecord, ...], int, float | None, bool | None, tuple[datetime, ...]]:
    """Performance and concept drift of the rows whose labels have arrived.

    Returns the records, the labelled row count, the label coverage, whether concept drift was
    detected (``None``: too few labels to say) and the change points.
    """
    s, perf = monitor.schema_, monitor.performance
    if not s.target or s.target not in frame.columns or len(frame) == 0:
        return (), 0, None, None, ()
    frame = conform(monitor, frame)
    labelled = frame[s.target].notna().to_numpy()
    n_labelled = int(labelled.sum())
    coverage = n_labelled / len(frame)
    if n_labelled < perf.min_labels:
        return (), n_labelled, coverage, None, ()
    cur = frame.loc[labelled]
    y_true, y_pred = _labels(cur[s.target], s.task), _labels(cur[s.prediction], s.task)
    y_score = None
    if s.prediction_score and s.prediction_score in cur.columns:
        y_score = pd.to_numeric(cur[s.prediction_score], errors="coerce").to_numpy(dtype=np.float64)
        if np.isnan(y_score).any():
            y_score = None
    current = _metrics(s.task, y_true, y_pred, y_score)
    reference = None
    if bundle.y_true is not None and bundle.y_pred is not None:
        reference = _metrics(s.task, bundle.y_true, bundle.y_pred, bundle.y_score if y_score is not None else None)
    records = []
    for metric, value in current.metrics.items():
        ref_value = reference.metrics.get(metric) if reference is not None else None
        records.append(PerformanceRecord(metric=str(metric), value=value, reference_value=ref_value))
    if bundle.y_true is not None and bundle.y_pred is not None:
        deg = performance_degradation(
            LabelledSample(y_true=bundle.y_true, y_pred=bundle.y_pred),
            LabelledSample(y_true=y_true, y_pred=y_pred), s.task, alpha=perf.alpha,
        )
        records = [r if r.metric != str(deg.metric) else replace(r, p_value=deg.p_value, degraded=deg.drifted)
                   for r in records]
        if not any(r.metric == str(deg.metric) for r in records):
            records.append(PerformanceRecord(metric=str(deg.metric), value=deg.current_value,
                                             reference_value=deg.reference_value, p_value=deg.p_value,
                                             degraded=deg.drifted))
    errors = row_errors(s.task, _labels(frame[s.target], s.task), _labels(frame[s.prediction], s.task))
    # KSWIN samples its reference window at random: a fixed seed keeps a run reproducible.
    rng = np.random.default_rng(0) if perf.detector is Detector.KSWIN else None
    concept = detect_concept_drift(frame[s.timestamp], errors, bucket=parse_duration(perf.bucket),
                                   detector=perf.detector, rng=rng)
    return tuple(records), n_labelled, coverage, concept.drifted, concept.change_points


def insufficient(run: Run, rows: int, needed: int) -> Run:
    """The run of a window with too few rows: recorded, with no verdict."""
    return replace(run, status=RunStatus.INSUFFICIENT_DATA, rows=rows,
                   error=f"{rows} rows in the window; the monitor needs at least {needed}")


def evaluate(monitor: MonitorConfig, bundle: ReferenceBundle, frame: pd.DataFrame, run: Run) -> Run:
    """Test a window against the reference and return ``run`` completed with every result.

    ``run`` carries the identity, window and start time; ``finished_at`` is left to the caller.
    """
    s = monitor.schema_
    if len(frame) < monitor.min_rows:
        return insufficient(run, len(frame), monitor.min_rows)
    frame = conform(monitor, frame)
    options = _options(monitor)
    features = list(s.features)
    main = check(_subprofile(bundle.profile, [*features, s.prediction]), frame, options)
    results = [feature_result(r, Role.PREDICTION if r.column == s.prediction else Role.FEATURE)
               for r in main.columns]
    if s.target and s.target in bundle.profile.columns and s.target in frame.columns:
        labelled = frame.loc[frame[s.target].notna(), [s.target]]
        if len(labelled):
            target = check(_subprofile(bundle.profile, [s.target]), labelled, CheckOptions())
            results.extend(feature_result(r, Role.TARGET) for r in target.columns)
    tested = [r for r in results if r.role is Role.FEATURE and r.status == "ok"]
    drifted = sum(r.drifted for r in tested)
    share = drifted / len(tested) if tested else 0.0
    dataset = DatasetSummary(drift_share=share, drifted_features=drifted, total_features=len(tested),
                             dataset_drift=bool(tested) and share >= monitor.drift_share,
                             threshold=monitor.drift_share)
    perf, n_labelled, coverage, concept, points = evaluate_performance(monitor, bundle, frame)
    degraded = any(r.degraded for r in perf)
    status = RunStatus.DRIFT if dataset.dataset_drift or degraded or bool(concept) else RunStatus.OK
    return replace(run, status=status, rows=len(frame), dataset=dataset, features=tuple(results),
                   performance=perf, labelled_rows=n_labelled, label_coverage=coverage,
                   concept_drift=concept, concept_change_points=points)
