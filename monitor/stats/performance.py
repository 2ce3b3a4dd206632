"""Model performance on labelled rows, and a test that it degraded against the reference.

Metrics are computed with NumPy alone (scikit-learn is the tests' oracle, never imported here).
A metric that is undefined on the data (ROC AUC with one class present, R² of a constant
truth, precision with no positive predictions) is ``None`` with a reason in ``reasons``;
never NaN and never an exception, so one odd window cannot break a run.

Data policy: a missing label (NaN or None in ``y_true``) is a row whose outcome is not known
yet; it is excluded and counted (``n_rows - n_labelled``). Predictions and scores must be
complete: a missing prediction is malformed input and raises :class:`InputError`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, NamedTuple, TypeAlias

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from monitor.errors import InputError, InsufficientData
from monitor.stats._validate import check_alpha
from monitor.stats.types import Metric, Task  # defined with the other closed sets; re-exported here

__all__ = [
    "DegradationResult", "LabelledSample", "Labels", "Metric", "PerformanceResult", "Task",
    "classification_metrics", "performance_degradation", "regression_metrics",
]

#: Probabilities are clipped to [eps, 1 - eps] before the log, as scikit-learn >= 1.5 does
#: (it uses the dtype's machine epsilon, 2.2e-16, no longer the 1e-15 of older releases).
_EPS = float(np.finfo(np.float64).eps)


#: Labels or values of one column; lists may hold ``None`` for a missing label.
Labels: TypeAlias = "ArrayLike | Sequence[object]"


@dataclass(frozen=True, slots=True, kw_only=True)
class PerformanceResult:
    """Metrics on one sample; ``None`` marks an undefined metric, explained in ``reasons``.

    ``n_mape_excluded`` counts labelled rows left out of MAPE because their truth is 0.
    """

    task: Task
    metrics: Mapping[Metric, float | None]
    reasons: Mapping[Metric, str]
    n_rows: int
    n_labelled: int
    n_mape_excluded: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class LabelledSample:
    """Truth and prediction of the same rows (``y_true`` may hold NaN/None: not labelled yet)."""

    y_true: Labels
    y_pred: Labels


@dataclass(frozen=True, slots=True, kw_only=True)
class DegradationResult:
    """One-sided test that the current window performs worse than the reference.

    ``metric`` is ``error_rate`` (classification) or ``mae`` (regression); ``delta`` is
    ``current_value - reference_value``, so a positive delta is a degradation.
    """

    task: Task
    metric: Metric
    statistic: float
    p_value: float
    threshold: float
    drifted: bool
    reference_value: float
    current_value: float
    delta: float
    n_reference: int
    n_current: int


def _column(values: Labels, name: str, n: int | None = None) -> NDArray[Any]:
    arr = np.asarray(values)
    if arr.ndim != 1:
        raise InputError(f"{name} must be one-dimensional, got shape {arr.shape}", field=name)
    if n is not None and arr.shape[0] != n:
        raise InputError(f"{name} has {arr.shape[0]} rows; y_true has {n}", field=name)
    return arr


class _Rows(NamedTuple):
    """The labelled rows: truth, prediction, their input row numbers, and the input length."""

    t: NDArray[Any]
    p: NDArray[Any]
    rows: NDArray[np.intp]
    n_rows: int


def _labelled(y_true: Labels, y_pred: Labels, sample: str = "sample") -> _Rows:
    """Drop rows without a label (NaN/None in ``y_true``); a missing prediction raises."""
    t = _column(y_true, "y_true")
    p = _column(y_pred, "y_pred", t.shape[0])
    bad = np.flatnonzero(pd.isna(p))
    if bad.size:
        raise InputError(f"y_pred is missing at row {bad[0]}; every row needs a prediction",
                         field="y_pred", row=int(bad[0]))
    rows = np.flatnonzero(~np.asarray(pd.isna(t), dtype=bool))
    if not rows.size:
        raise InsufficientData(f"none of the {t.shape[0]} rows of the {sample} has a label",
                               needed=1, got=0)
    return _Rows(t[rows], p[rows], rows, int(t.shape[0]))


def _finite(values: NDArray[Any], name: str, rows: NDArray[np.intp]) -> NDArray[np.float64]:
    """``values`` as float64; ``rows`` maps positions back to input rows for the message."""
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise InputError(f"{name} must be numeric, got dtype {values.dtype}", field=name) from exc
    bad = np.flatnonzero(~np.isfinite(arr).reshape(arr.shape[0], -1).all(axis=1))
    if bad.size:
        raise InputError(f"{name} at row {rows[bad[0]]} is {arr[bad[0]]}; expected finite numbers",
                         field=name, row=int(rows[bad[0]]))
    return arr


def _classes(
    t: NDArray[Any], p: NDArray[Any], classes: Labels | None
) -> tuple[NDArray[Any], NDArray[np.intp], NDArray[np.intp]]:
    """Labels in column order (``classes`` as given, else the sorted labels seen), and the
    index of each truth and prediction among them."""
    try:
        if classes is None:
            labels = np.unique(np.concatenate([t, p]))
        else:
            labels = _column(classes, "classes")
            if np.unique(labels).size != labels.size:
                raise InputError(f"classes {labels.tolist()} repeats a label", field="classes")
        return labels, _encode(labels, t, "y_true"), _encode(labels, p, "y_pred")
    except TypeError as exc:  # e.g. str labels against int labels: they cannot be ordered
        raise InputError(f"labels of y_true ({t.dtype}) and y_pred ({p.dtype}) cannot be compared",
                         field="y_pred") from exc


def _encode(labels: NDArray[Any], values: NDArray[Any], name: str) -> NDArray[np.intp]:
    """Position of each value in ``labels``; a value that is not a label raises."""
    sorter = np.argsort(labels, kind="stable")
    idx = sorter[np.minimum(np.searchsorted(labels, values, sorter=sorter), labels.size - 1)]
    unknown = np.flatnonzero(labels[idx] != values)
    if unknown.size:
        raise InputError(f"{name} holds label {values[unknown[0]]!r}, not one of classes "
                         f"{labels.tolist()}", field=name)
    return idx


def _errors(
    task: Task, t: NDArray[Any], p: NDArray[Any], rows: NDArray[np.intp]
) -> NDArray[np.float64]:
    """Per labelled row: 1.0/0.0 for a misclassification, or the absolute error."""
    if task is Task.CLASSIFICATION:
        _classes(t, p, None)  # refuses labels that cannot be compared (str against int)
        return np.asarray(t != p, dtype=np.float64)
    return np.abs(_finite(p, "y_pred", rows) - _finite(t, "y_true", rows))


def _ratio(num: NDArray[np.float64], den: NDArray[np.float64]) -> NDArray[np.float64]:
    """num / den, NaN where den is 0 (the metric is undefined for that class)."""
    out = np.full(num.shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _mean_or_none(values: NDArray[np.float64]) -> float | None:
    ok = values[~np.isnan(values)]
    return float(ok.mean()) if ok.size else None


def _auc(ranks: NDArray[np.float64], positive: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Column-wise ROC AUC = Mann-Whitney U / (n_pos * n_neg), NaN where a class is missing."""
    n_pos = positive.sum(axis=0).astype(np.float64)
    u = np.where(positive, ranks, 0.0).sum(axis=0) - n_pos * (n_pos + 1.0) / 2.0
    return _ratio(u, n_pos * (positive.shape[0] - n_pos))


def classification_metrics(
    y_true: Labels, y_pred: Labels, y_score: ArrayLike | None = None, *,
    pos_label: object = None, classes: Labels | None = None,
) -> PerformanceResult:
    """Accuracy, precision, recall, F1, ROC AUC and log loss of a classifier.

    With at most two classes the task is binary and precision, recall and F1 are those of
    ``pos_label`` (default: ``1`` when the labels are 0/1 or booleans, else the larger label).
    With more, they are macro averages over the labels seen in ``y_true`` or ``y_pred``;
    a class whose value is undefined (e.g. never predicted, for precision) is left out of the
    average, as scikit-learn does with ``zero_division=np.nan``.

    Parameters
    ----------
    y_true, y_pred
        Labels; NaN/None in ``y_true`` marks an unlabelled row (excluded, counted).
    y_score
        Optional. Binary: probability (or any score) of ``pos_label``, shape (n,).
        Multiclass: probabilities, shape (n, k), columns in the order of ``classes``.
    pos_label
        The positive label of a binary task.
    classes
        All labels the model knows, in the order of ``y_score``'s columns (default: the
        sorted labels seen in ``y_true`` and ``y_pred``).

    Returns
    -------
    PerformanceResult
        ROC AUC is the one-vs-rest macro average in the multiclass case, over classes with
        both positives and negatives in ``y_true``. Log loss needs probabilities.

    Raises
    ------
    InputError
        Mismatched lengths, missing predictions, a label not in ``classes``, or a ``y_score``
        of the wrong shape. The error's ``field`` names the argument.
    InsufficientData
        No labelled row.

    Examples
    --------
    >>> r = classification_metrics([0, 1, 1, float("nan")], [0, 1, 0, 1], [0.2, 0.9, 0.4, 0.7])
    >>> r.metrics["accuracy"], r.metrics["recall"], r.metrics["roc_auc"], r.n_labelled
    (0.6666666666666666, 0.5, 1.0, 3)
    """
    t, p, rows, n_rows = _labelled(y_true, y_pred)
    n = t.shape[0]
    labels, t_idx, p_idx = _classes(t, p, classes)
    k = labels.size
    binary = k <= 2
    if binary:
        if pos_label is None:
            # ``labels`` is sorted: its last element is the largest, whatever the dtype (NumPy's
            # max has no loop for string arrays).
            pos_label = 1 if np.isin(labels, [0, 1]).all() else labels[-1]
        is_true, is_pred = (t == pos_label)[:, None], (p == pos_label)[:, None]
    else:  # one indicator column per class, in the order of ``labels``
        is_true, is_pred = t_idx[:, None] == np.arange(k), p_idx[:, None] == np.arange(k)
    tp = np.count_nonzero(is_true & is_pred, axis=0).astype(np.float64)
    support = np.count_nonzero(is_true, axis=0).astype(np.float64)
    predicted = np.count_nonzero(is_pred, axis=0).astype(np.float64)
    metrics: dict[Metric, float | None] = {
        Metric.ACCURACY: float(np.count_nonzero(t == p) / n),
        Metric.PRECISION: _mean_or_none(_ratio(tp, predicted)),
        Metric.RECALL: _mean_or_none(_ratio(tp, support)),
        Metric.F1: _mean_or_none(_ratio(2.0 * tp, support + predicted)),
        Metric.ROC_AUC: None,
        Metric.LOG_LOSS: None,
    }
    reasons = {m: why for m, why in ((Metric.PRECISION, "no row was predicted positive"),
                                     (Metric.RECALL, "no labelled row is positive"),
                                     (Metric.F1, "the positive label never occurs"))
               if metrics[m] is None}
    if y_score is None:
        reasons[Metric.ROC_AUC] = reasons[Metric.LOG_LOSS] = "no y_score given"
        return _classification_result(metrics, reasons, n_rows, n)
    score = np.asarray(y_score)
    want = (n_rows,) if binary else (n_rows, k)
    if score.shape != want:
        raise InputError(f"y_score has shape {score.shape}; expected {want} for classes "
                         f"{labels.tolist()} (pass classes= to name its columns)", field="y_score")
    score = _finite(score[rows], "y_score", rows).reshape(n, -1)
    metrics[Metric.ROC_AUC] = _mean_or_none(_auc(stats.rankdata(score, axis=0), is_true))
    if metrics[Metric.ROC_AUC] is None:
        reasons[Metric.ROC_AUC] = "y_true holds a single class"
    is_prob = bool(((score >= 0.0) & (score <= 1.0)).all())
    if binary:  # the probability given to what happened: s for positives, 1 - s otherwise
        p_true = np.where(is_true[:, 0], score[:, 0], 1.0 - score[:, 0])
    else:
        p_true = score[np.arange(n), t_idx]
        sums_to_one = np.allclose(score.sum(axis=1), 1.0, rtol=np.sqrt(_EPS), atol=0.0)
        is_prob = is_prob and bool(sums_to_one)
    if is_prob:
        metrics[Metric.LOG_LOSS] = float(-np.log(np.clip(p_true, _EPS, 1.0 - _EPS)).mean())
    else:
        reasons[Metric.LOG_LOSS] = "y_score is not a probability (in [0, 1], rows summing to 1)"
    return _classification_result(metrics, reasons, n_rows, n)


def _classification_result(metrics: dict[Metric, float | None], reasons: dict[Metric, str],
                           n_rows: int, n: int) -> PerformanceResult:
    return PerformanceResult(task=Task.CLASSIFICATION, metrics=MappingProxyType(metrics),
                             reasons=MappingProxyType(reasons), n_rows=n_rows, n_labelled=n)


def _mape(err: NDArray[np.float64], truth: NDArray[np.float64]) -> float | None:
    # Denominator floored at machine epsilon, as scikit-learn does, so a subnormal truth
    # cannot overflow the ratio.
    return float((np.abs(err) / np.maximum(np.abs(truth), _EPS)).mean()) if truth.size else None


def regression_metrics(y_true: Labels, y_pred: Labels) -> PerformanceResult:
    """MAE, RMSE, MAPE, R² and bias (mean of prediction - truth) of a regressor.

    MAPE leaves out rows whose truth is 0 (their percentage error is infinite) and counts them
    in ``n_mape_excluded``; it is a fraction (0.1 = 10 %), and like scikit-learn it divides by
    ``max(|truth|, machine epsilon)``. R² is ``None`` when the truth is constant.

    Raises
    ------
    InputError
        Mismatched lengths, or a missing or non-finite prediction, or a non-finite truth.
    InsufficientData
        No labelled row.

    Examples
    --------
    >>> r = regression_metrics([1.0, 2.0, 0.0, float("nan")], [2.0, 2.0, 1.0, 5.0])
    >>> r.metrics["mae"], r.metrics["mape"], r.metrics["bias"], r.n_mape_excluded
    (0.6666666666666666, 0.5, 0.6666666666666666, 1)
    """
    t_raw, p_raw, rows, n_rows = _labelled(y_true, y_pred)
    t, p = _finite(t_raw, "y_true", rows), _finite(p_raw, "y_pred", rows)
    err = p - t
    nonzero = t != 0.0
    ss_tot = float(np.square(t - t.mean()).sum())
    reasons: dict[Metric, str] = {}
    metrics: dict[Metric, float | None] = {
        Metric.MAE: float(np.abs(err).mean()),
        Metric.RMSE: float(np.sqrt(np.square(err).mean())),
        Metric.MAPE: _mape(err[nonzero], t[nonzero]),
        Metric.R2: 1.0 - float(np.square(err).sum()) / ss_tot if ss_tot > 0 else None,
        Metric.BIAS: float(err.mean()),
    }
    if metrics[Metric.MAPE] is None:
        reasons[Metric.MAPE] = "every labelled truth is 0"
    if metrics[Metric.R2] is None:
        reasons[Metric.R2] = "y_true is constant"
    return PerformanceResult(task=Task.REGRESSION, metrics=MappingProxyType(metrics),
                             reasons=MappingProxyType(reasons), n_rows=n_rows, n_labelled=t.size,
                             n_mape_excluded=int(t.size - np.count_nonzero(nonzero)))


def performance_degradation(
    reference: LabelledSample, current: LabelledSample, task: Task, *, alpha: float = 0.05,
) -> DegradationResult:
    """Test whether the current window performs worse than the reference.

    The test is one-sided on purpose: an alert means the model got worse; an improvement is
    not a reason to page anyone, and a two-sided test would halve the power to see a drop.

    * classification: two-proportion z-test on the error rate, H1: current > reference,
      ``z = (e_cur - e_ref) / sqrt(e (1 - e) (1/n_ref + 1/n_cur))`` with the pooled rate ``e``,
      ``p = 1 - Phi(z)``. When both windows are all right (or all wrong) ``z = 0, p = 1``.
    * regression: Mann-Whitney U on the absolute errors, H1: current errors are
      stochastically larger (``scipy.stats.mannwhitneyu(alternative="greater")``); the
      statistic is U of the current window; MAE is reported alongside.

    Raises
    ------
    InputError, InsufficientData
        As :func:`classification_metrics`, for either sample.

    Examples
    --------
    >>> ref = LabelledSample(y_true=[0, 1] * 50, y_pred=[0, 1] * 45 + [1, 0] * 5)
    >>> cur = LabelledSample(y_true=[0, 1] * 50, y_pred=[0, 1] * 30 + [1, 0] * 20)
    >>> r = performance_degradation(ref, cur, Task.CLASSIFICATION)
    >>> str(r.metric), r.reference_value, r.current_value, f"{r.p_value:.2e}", r.drifted
    ('error_rate', 0.1, 0.4, '4.82e-07', True)
    """
    alpha = check_alpha(alpha)
    task = Task(task)
    ref, cur = _labelled(reference.y_true, reference.y_pred, "reference"), _labelled(
        current.y_true, current.y_pred, "current")
    ref_e, cur_e = _errors(task, ref.t, ref.p, ref.rows), _errors(task, cur.t, cur.p, cur.rows)
    n_ref, n_cur = ref_e.size, cur_e.size
    if task is Task.CLASSIFICATION:
        ref_v, cur_v, metric = float(ref_e.mean()), float(cur_e.mean()), Metric.ERROR_RATE
        pooled = (ref_e.sum() + cur_e.sum()) / (n_ref + n_cur)
        se = float(np.sqrt(pooled * (1.0 - pooled) * (1.0 / n_ref + 1.0 / n_cur)))
        # se == 0: both windows all right (or all wrong), so no evidence of an increase.
        statistic = (cur_v - ref_v) / se if se > 0 else 0.0
        p_value = float(stats.norm.sf(statistic)) if se > 0 else 1.0
    else:
        res = stats.mannwhitneyu(cur_e, ref_e, alternative="greater")
        statistic, p_value, metric = float(res.statistic), float(res.pvalue), Metric.MAE
        ref_v, cur_v = float(ref_e.mean()), float(cur_e.mean())
    return DegradationResult(task=task, metric=metric, statistic=statistic, p_value=p_value,
                             threshold=alpha, drifted=p_value < alpha, reference_value=ref_v,
                             current_value=cur_v, delta=cur_v - ref_v,
                             n_reference=n_ref, n_current=n_cur)
