"""CBPE (confidence-based performance estimation): a classifier's performance without labels.

Fitted once on the labelled reference (:func:`fit_cbpe`): the scores are calibrated
(:mod:`monitor.stats.estimation.calibration`), and the realized metrics' chunk-to-chunk spread is
measured (:mod:`monitor.stats.estimation._sampling`). On a window (:func:`estimate`), a row with
calibrated class probabilities ``p_i`` and prediction ``ŷ_i`` adds ``p_ij`` to cell (true ``j``,
predicted ``ŷ_i``) of the **expected confusion matrix**; accuracy, precision, recall, F1 and
specificity follow from it exactly as the realized ones follow from the counted matrix. Binary
metrics are the positive class's; multiclass ones are macro averages over the classes (one-vs-rest),
leaving out a class whose value is undefined. ROC AUC is NannyML's expected AUC: rows ranked by the
raw score, the expected true- and false-positive counts ``cumsum(p)`` and ``cumsum(1 - p)`` drawn as a
curve and integrated by the trapezoid rule (tied scores form one step, so ties count half, as in the
realized AUC; NannyML also rounds the counts to 5 decimals, which we do not).

The band is ``estimate ± 3 SE`` clipped to [0, 1], where SE is the realized metric's chunk-to-chunk
standard deviation on the reference at the window's size (``std_m * sqrt(m / n)``; see ``_sampling``).
NannyML derives its SE from per-row components instead; both are the reference's sampling error.

Assumption: **no concept shift**. CBPE is right when only the inputs' distribution moves and
P(y | x), hence calibration, holds; when P(y | x) changes the estimate misses. The honesty checks
(:class:`~monitor.stats.estimation.types.WarningCode`) say when not to trust it.

A predicted class the reference never had is a certain error (the calibrated probabilities cover
the reference's classes only): it counts as a prediction of no known class. A row without
probabilities is left out of the estimate (``n_estimated``) and counted in a warning.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from monitor.errors import InputError, InsufficientData
from monitor.stats.estimation._sampling import SamplingTable, fit_sampling_table
from monitor.stats.estimation.calibration import CalibrationMethod, Calibrator, calibrate, fit_calibrator
from monitor.stats.estimation.types import (
    BAND_SES,
    CLASSIFICATION_METRICS,
    REALIZED_COVERAGE,
    Estimate,
    EstimateMetric,
    EstimateWarning,
    WarningCode,
    status_of,
)

__all__ = ["CbpeModel", "confusion_metrics", "estimate", "expected_auc", "expected_confusion", "fit_cbpe"]

#: Fewest labelled reference rows CBPE fits on.
MIN_REFERENCE = 100
#: Fewest labelled rows for the realized-vs-estimated check on a window.
MIN_GAP_ROWS = 30


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class CbpeModel:
    """A fitted CBPE estimator: plain values, cheap to store (:meth:`to_dict` / :meth:`from_dict`).

    ``classes`` are the reference's labels in score-column order; ``positive`` is the index of the
    positive class (binary) or ``None`` (multiclass, one calibrator per class). ``reference`` holds
    the realized metrics on the whole reference; ``n_reference`` the labelled rows fitted on.
    """

    classes: tuple[Any, ...]
    positive: int | None
    calibrators: tuple[Calibrator, ...]
    sampling: SamplingTable
    reference: Mapping[str, float | None]
    n_reference: int

    @property
    def binary(self) -> bool:
        return self.positive is not None

    def to_dict(self) -> dict[str, Any]:
        return {"classes": [c.item() if isinstance(c, np.generic) else c for c in self.classes],
                "positive": self.positive, "calibrators": [c.to_dict() for c in self.calibrators],
                "sampling": self.sampling.to_dict(), "reference": dict(self.reference),
                "n_reference": self.n_reference}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CbpeModel:
        return cls(classes=tuple(data["classes"]), positive=data["positive"],
                   calibrators=tuple(Calibrator.from_dict(c) for c in data["calibrators"]),
                   sampling=SamplingTable.from_dict(data["sampling"]), reference=dict(data["reference"]),
                   n_reference=int(data["n_reference"]))


# --- the arithmetic: confusion matrices and AUC ------------------------------------------------


def expected_confusion(prob: NDArray[np.float64], pred: NDArray[np.intp], k: int) -> NDArray[np.float64]:
    """Expected confusion matrix ``(k + 1, k + 1)``: rows true class, columns predicted class; index
    ``k`` is "a class the reference never had". ``prob`` is ``(n, k)``, ``pred`` class indices."""
    c = np.zeros((k + 1, k + 1))
    for j in range(k):  # one vectorised pass per class
        c[j] = np.bincount(pred, weights=prob[:, j], minlength=k + 1)
    return c


def _counted_confusion(true: NDArray[np.intp], pred: NDArray[np.intp], k: int,
                       chunk: NDArray[np.intp] | None = None, n_chunks: int = 1) -> NDArray[np.float64]:
    """Counted confusion matrices ``(n_chunks, k + 1, k + 1)`` (index ``k``: an unseen class)."""
    g = np.zeros(true.size, dtype=np.intp) if chunk is None else chunk
    flat = (g * (k + 1) + true) * (k + 1) + pred
    return np.bincount(flat, minlength=n_chunks * (k + 1) ** 2).reshape(n_chunks, k + 1, k + 1).astype(np.float64)


def _ratio(num: NDArray[np.float64], den: NDArray[np.float64]) -> NDArray[np.float64]:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def confusion_metrics(c: NDArray[np.float64], k: int, positive: int | None) -> dict[str, NDArray[np.float64]]:
    """Accuracy, precision, recall, F1 and specificity of confusion matrices ``(..., k + 1, k + 1)``.

    Binary (``positive`` given): the positive class's values. Multiclass: macro averages over the
    ``k`` classes, a class with an undefined value left out (NaN when every class is undefined).
    """
    total = c.sum(axis=(-2, -1))
    diag = np.diagonal(c, axis1=-2, axis2=-1)[..., :k]
    tp = diag
    fp = c.sum(axis=-2)[..., :k] - tp
    fn = c.sum(axis=-1)[..., :k] - tp
    tn = total[..., None] - tp - fp - fn
    per_class = {
        EstimateMetric.PRECISION: _ratio(tp, tp + fp),
        EstimateMetric.RECALL: _ratio(tp, tp + fn),
        EstimateMetric.F1: _ratio(2.0 * tp, 2.0 * tp + fp + fn),
        EstimateMetric.SPECIFICITY: _ratio(tn, tn + fp),
    }
    out = {str(EstimateMetric.ACCURACY): _ratio(diag.sum(axis=-1), total)}
    for metric, values in per_class.items():
        if positive is not None:
            out[str(metric)] = values[..., positive]
        else:
            defined = np.isfinite(values)
            count = defined.sum(axis=-1)
            out[str(metric)] = _ratio(np.where(defined, values, 0.0).sum(axis=-1), count.astype(np.float64))
    return out


def expected_auc(prob: ArrayLike, score: ArrayLike) -> float:
    """NannyML's expected ROC AUC of calibrated probabilities ``prob`` ranked by raw ``score``.

    Returns NaN when the expected positives or negatives are zero.

    Examples
    --------
    >>> expected_auc([0.9, 0.8, 0.3, 0.1], [0.9, 0.8, 0.3, 0.1])
    0.8634085213032581
    """
    p = np.asarray(prob, dtype=np.float64)
    s = np.asarray(score, dtype=np.float64)
    order = np.argsort(-s, kind="stable")
    p, s = p[order], s[order]
    last = np.append(np.flatnonzero(np.diff(s) != 0.0), s.size - 1)  # the last row of each tied run
    tps = np.append(0.0, np.cumsum(p)[last])
    fps = np.append(0.0, np.cumsum(1.0 - p)[last])
    if s.size == 0 or tps[-1] <= 0.0 or fps[-1] <= 0.0:
        return float("nan")
    return float(np.trapezoid(tps / tps[-1], fps / fps[-1]))


def _realized_auc(score: NDArray[np.float64], positive: NDArray[np.bool_],
                  chunk: NDArray[np.intp] | None = None, n_chunks: int = 1) -> NDArray[np.float64]:
    """Mann-Whitney ROC AUC per chunk (ties count half); NaN where a chunk lacks either class.

    Equal contiguous chunks (the sampling table's, and the whole window) are ranked row by row
    of a matrix (:func:`_block_auc`); any other grouping by one ordering of the rows by (chunk,
    score): sorted by score, then stably by chunk (a radix sort of small integers), each run of
    equal (chunk, score) getting the mean of its positions. ``pandas``' grouped rank, used
    before, took 0.38 s per chunking of 1M rows, a dozen times per fit: the fit's largest cost.
    """
    g = np.zeros(score.size, dtype=np.intp) if chunk is None else chunk
    n = score.size
    finite = n > 0 and bool(np.isfinite(score).all())
    if finite and n % n_chunks == 0 and (chunk is None or np.array_equal(chunk, np.arange(n) // (n // n_chunks))):
        return _block_auc(score, positive, n_chunks)
    if not finite:  # NaN scores keep pandas' rule (no rank), rare
        ranks = pd.Series(score).groupby(g).rank(method="average").to_numpy(dtype=np.float64)
    else:
        order = np.argsort(score, kind="stable")
        key = g[order]
        by = order[np.argsort(key.astype(np.uint16) if n_chunks <= 65_536 else key, kind="stable")]
        gs, ss = g[by], score[by]
        new = np.empty(n, dtype=bool)
        new[0] = True
        new[1:] = (gs[1:] != gs[:-1]) | (ss[1:] != ss[:-1])
        run = np.cumsum(new) - 1
        starts = np.searchsorted(gs, np.arange(n_chunks))  # each chunk's first sorted position
        within = np.arange(1, n + 1, dtype=np.float64) - starts[gs]
        mean = np.bincount(run, weights=within) / np.bincount(run)
        ranks = np.empty(n, dtype=np.float64)
        ranks[by] = mean[run]
    n_pos = np.bincount(g, weights=positive.astype(np.float64), minlength=n_chunks)
    n_all = np.bincount(g, minlength=n_chunks).astype(np.float64)
    rank_sum = np.bincount(g, weights=np.where(positive, ranks, 0.0), minlength=n_chunks)
    return _ratio(rank_sum - n_pos * (n_pos + 1.0) / 2.0, n_pos * (n_all - n_pos))


def _block_auc(score: NDArray[np.float64], positive: NDArray[np.bool_], n_chunks: int) -> NDArray[np.float64]:
    """:func:`_realized_auc` for equal contiguous chunks (what the sampling table asks for): each
    chunk is a row of a (chunks x size) matrix, sorted in place of the others (cache-local)."""
    size = score.size // n_chunks
    scores = score.reshape(n_chunks, size)
    order = np.argsort(scores, axis=1)  # ties are averaged below: their order is irrelevant
    ss = np.take_along_axis(scores, order, axis=1)
    ps = np.take_along_axis(positive.reshape(n_chunks, size), order, axis=1)
    new = np.ones((n_chunks, size), dtype=bool)
    new[:, 1:] = ss[:, 1:] != ss[:, :-1]  # a tie run never crosses a chunk: each row starts one
    run = np.cumsum(new.reshape(-1)) - 1
    within = np.tile(np.arange(1, size + 1, dtype=np.float64), n_chunks)
    mean = np.bincount(run, weights=within) / np.bincount(run)
    rank_sum = np.where(ps.reshape(-1), mean[run], 0.0).reshape(n_chunks, size).sum(axis=1)
    n_pos = ps.sum(axis=1).astype(np.float64)
    return _ratio(rank_sum - n_pos * (n_pos + 1.0) / 2.0, n_pos * (size - n_pos))


def _auc_macro(per_class: list[NDArray[np.float64]]) -> NDArray[np.float64]:
    stacked = np.stack(per_class, axis=-1)
    defined = np.isfinite(stacked)
    return _ratio(np.where(defined, stacked, 0.0).sum(axis=-1), defined.sum(axis=-1).astype(np.float64))


# --- inputs -------------------------------------------------------------------------------------


def _index(values: NDArray[Any], classes: Sequence[Any]) -> NDArray[np.intp]:
    """Class indices of ``values`` (-1 for a value not in ``classes``)."""
    return np.asarray(pd.Index(list(classes)).get_indexer(pd.Index(values)), dtype=np.intp)


def _default_positive(classes: Sequence[Any]) -> int:
    text = [str(c) for c in classes]
    return text.index("1") if set(text) == {"0", "1"} else len(classes) - 1


def _scores(y_score: ArrayLike, n: int, k: int, positive: int | None) -> NDArray[np.float64]:
    """Scores as ``(n,)`` (binary: the positive class's) or ``(n, k)``; a wrong shape raises."""
    s = np.asarray(y_score, dtype=np.float64)
    if positive is not None and s.ndim == 2 and s.shape == (n, 2):
        s = s[:, positive]
    want = (n,) if positive is not None else (n, k)
    if s.shape != want:
        raise InputError(f"y_score has shape {s.shape}; expected {want}", field="y_score")
    return s


def _probabilities(model: CbpeModel, raw: NDArray[np.float64]) -> NDArray[np.float64]:
    """Calibrated ``(n, k)`` probabilities (binary: both columns)."""
    cal = calibrate(model.calibrators, raw)
    if model.positive is None:
        return cal
    prob = np.empty((raw.shape[0], 2))
    prob[:, model.positive] = cal
    prob[:, 1 - model.positive] = 1.0 - cal
    return prob


def _raw_columns(model: CbpeModel, raw: NDArray[np.float64]) -> list[NDArray[np.float64]]:
    """Per class, the raw score that ranks it (binary: the positive class only)."""
    if model.positive is not None:
        return [raw]
    return [raw[:, j] for j in range(raw.shape[1])]


# --- fit ----------------------------------------------------------------------------------------


def fit_cbpe(y_true: ArrayLike, y_pred: ArrayLike, y_score: ArrayLike, *, classes: Sequence[Any] | None = None,
             pos_label: Any = None, folds: int = 5, rng: np.random.Generator | None = None) -> CbpeModel:
    """Fit CBPE on a labelled reference.

    Parameters
    ----------
    y_true, y_pred
        Labels and predictions. Rows without a label (NaN/None) are left out; a missing prediction raises.
    y_score
        Binary: the positive class's score, shape ``(n,)`` (an ``(n, 2)`` array gives its positive column).
        Multiclass: one column per class, shape ``(n, k)``, in the order of ``classes``.
    classes
        The model's classes in score-column order (default: the sorted labels of ``y_true``).
    pos_label
        Binary: the positive class (default ``1`` for 0/1 labels, also as text, else the last class).
    folds, rng
        Cross-validation of the calibrators (default ``numpy.random.default_rng(0)``).

    Raises
    ------
    InputError
        Mismatched lengths, missing predictions or scores, a wrong score shape, an unknown ``pos_label``,
        a class of ``classes`` the reference never has.
    InsufficientData
        Fewer than 100 labelled rows, or a single class.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(size=5000)
    >>> y = (rng.uniform(size=5000) < p).astype(int)
    >>> model = fit_cbpe(y, (p > 0.5).astype(int), p)
    >>> model.classes, model.positive, str(model.calibrators[0].method)
    ((0, 1), 1, 'none')
    """
    t = np.asarray(y_true, dtype=object) if not isinstance(y_true, np.ndarray) else y_true
    p = np.asarray(y_pred)
    if t.ndim != 1 or p.shape != t.shape:
        raise InputError(f"y_true {t.shape} and y_pred {p.shape} must be 1-d of one length", field="y_pred")
    missing_pred = np.flatnonzero(pd.isna(p))
    if missing_pred.size:
        raise InputError(f"y_pred is missing at row {missing_pred[0]}", field="y_pred", row=int(missing_pred[0]))
    labelled = np.flatnonzero(~np.asarray(pd.isna(t), dtype=bool))
    if labelled.size < MIN_REFERENCE:
        raise InsufficientData(f"CBPE needs at least {MIN_REFERENCE} labelled reference rows, got {labelled.size}",
                               needed=MIN_REFERENCE, got=int(labelled.size))
    t, p = t[labelled], p[labelled]
    seen = pd.unique(pd.Series(t))
    if classes is None:
        score_arr = np.asarray(y_score)
        classes = sorted(seen.tolist())
        if score_arr.ndim == 2 and score_arr.shape[1] not in (2, len(classes)) or (
                score_arr.ndim == 2 and score_arr.shape[1] == 2 and len(classes) != 2):
            raise InputError(f"y_score has {score_arr.shape[1]} columns but the reference has {len(classes)} "
                             f"classes {classes}; pass classes= to name the columns", field="y_score")
    classes = tuple(classes)
    k = len(classes)
    if k < 2 or len(seen) < 2:
        raise InsufficientData(f"the reference holds {len(seen)} class(es); CBPE needs at least 2", needed=2,
                               got=len(seen))
    t_idx = _index(t, classes)
    if (t_idx < 0).any():
        bad = t[np.flatnonzero(t_idx < 0)[0]]
        raise InputError(f"reference label {bad!r} is not one of the classes {list(classes)}", field="y_true")
    absent = [c for j, c in enumerate(classes) if not (t_idx == j).any()]
    if absent:
        raise InputError(f"the reference never has class(es) {absent}; every class needs labelled rows",
                         field="y_true")
    positive: int | None = None
    if k == 2 and np.asarray(y_score).ndim == 1 or k == 2 and np.asarray(y_score).shape[1:] == (2,):
        if pos_label is None:
            positive = _default_positive(classes)
        else:
            hits = [j for j, c in enumerate(classes) if c == pos_label or str(c) == str(pos_label)]
            if not hits:
                raise InputError(f"pos_label {pos_label!r} is not one of the classes {list(classes)}", field="pos_label")
            positive = hits[0]
    raw_all = _scores(y_score, int(np.asarray(y_pred).shape[0]), k, positive)
    raw = raw_all[labelled]
    bad_rows = np.flatnonzero(~np.isfinite(raw).reshape(raw.shape[0], -1).all(axis=1))
    if bad_rows.size:
        row = int(labelled[bad_rows[0]])
        raise InputError(f"y_score is missing or not finite at row {row}; the reference needs every score",
                         field="y_score", row=row)
    p_idx = _index(p, classes)
    p_idx = np.where(p_idx < 0, k, p_idx)
    rng = np.random.default_rng(0) if rng is None else rng
    if positive is not None:
        calibrators: tuple[Calibrator, ...] = (fit_calibrator(raw, t_idx == positive, folds=folds, rng=rng),)
    else:
        calibrators = tuple(fit_calibrator(raw[:, j], t_idx == j, folds=folds, rng=rng) for j in range(k))
    model_raw = [raw] if positive is not None else [raw[:, j] for j in range(k)]
    auc_classes = [positive] if positive is not None else list(range(k))
    n = t_idx.size

    def realized(chunk: NDArray[np.intp] | None, n_chunks: int) -> dict[str, NDArray[np.float64]]:
        rows = slice(None) if chunk is None else slice(0, chunk.size)
        c = _counted_confusion(t_idx[rows], p_idx[rows], k, chunk, n_chunks)
        out = confusion_metrics(c, k, positive)
        aucs = [_realized_auc(s[rows], t_idx[rows] == j, chunk, n_chunks) for s, j in zip(model_raw, auc_classes,
                                                                                         strict=True)]
        out[str(EstimateMetric.ROC_AUC)] = _auc_macro(aucs)
        return out

    names = tuple(str(m) for m in CLASSIFICATION_METRICS)
    whole = realized(None, 1)
    return CbpeModel(classes=classes, positive=positive, calibrators=calibrators,
                     sampling=fit_sampling_table(n, names, realized),
                     reference={m: _finite_or_none(whole[m][0]) for m in names}, n_reference=n)


def _finite_or_none(value: float | np.floating[Any]) -> float | None:
    v = float(value)
    return v if np.isfinite(v) else None


# --- estimate -----------------------------------------------------------------------------------


def _estimated_metrics(model: CbpeModel, prob: NDArray[np.float64], raw: NDArray[np.float64],
                       pred: NDArray[np.intp]) -> dict[str, float | None]:
    k = len(model.classes)
    c = expected_confusion(prob, pred, k)
    out = {m: _finite_or_none(float(v)) for m, v in confusion_metrics(c, k, model.positive).items()}
    classes = [model.positive] if model.positive is not None else list(range(k))
    aucs = [expected_auc(prob[:, j], s) for j, s in zip(classes, _raw_columns(model, raw), strict=True)]
    finite = [a for a in aucs if np.isfinite(a)]
    out[str(EstimateMetric.ROC_AUC)] = float(np.mean(finite)) if finite else None
    return out


def _realized_metrics(model: CbpeModel, true: NDArray[np.intp], pred: NDArray[np.intp],
                      raw: NDArray[np.float64] | None) -> dict[str, float | None]:
    k = len(model.classes)
    c = _counted_confusion(true, pred, k)
    out = {m: _finite_or_none(v[0]) for m, v in confusion_metrics(c, k, model.positive).items()}
    out[str(EstimateMetric.ROC_AUC)] = None
    if raw is not None and true.size:
        classes = [model.positive] if model.positive is not None else list(range(k))
        aucs = [_realized_auc(s, true == j) for j, s in zip(classes, _raw_columns(model, raw), strict=True)]
        out[str(EstimateMetric.ROC_AUC)] = _finite_or_none(_auc_macro(aucs)[0])
    return out


def _band(value: float | None, se: float | None) -> tuple[float | None, float | None]:
    if value is None or se is None:
        return None, None
    return max(0.0, value - BAND_SES * se), min(1.0, value + BAND_SES * se)


def _calibration_warnings(model: CbpeModel) -> list[EstimateWarning]:
    out = []
    for j, cal in enumerate(model.calibrators):
        if cal.method is CalibrationMethod.NONE:
            which = "the scores" if model.binary else f"the scores of class {model.classes[j]!r}"
            out.append(EstimateWarning(
                code=WarningCode.CALIBRATION_NOT_APPLIED,
                message=(f"calibration ({cal.chosen}) did not lower the reference's expected calibration error "
                         f"({cal.ece_calibrated:.4f} vs {cal.ece_raw:.4f} uncalibrated): {which} are used as "
                         "probabilities unchanged")))
    return out


def estimate(model: CbpeModel, y_pred: ArrayLike, y_score: ArrayLike | None, *, y_true: ArrayLike | None = None,
             concept_drift: bool = False, coverage_threshold: float = REALIZED_COVERAGE) -> list[Estimate]:
    """Estimate every classification metric of one window (one :class:`Estimate` per metric).

    Parameters
    ----------
    model
        From :func:`fit_cbpe`.
    y_pred, y_score
        The window's predictions and scores (shaped as at fit time). ``y_score=None``: no probabilities,
        every estimate is ``None`` with a ``probabilities_missing`` warning.
    y_true
        Optional labels (NaN/None: not labelled yet): ``realized`` over the labelled rows, the coverage,
        the status, and the check that the realized value lies inside the estimate's band on the same
        rows (``realized_outside_band``, from 30 labelled rows).
    concept_drift
        The caller detected concept drift (e.g. :mod:`monitor.stats.concept`): adds a ``concept_drift``
        warning, since CBPE assumes none.

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> p = rng.uniform(size=5000)
    >>> model = fit_cbpe((rng.uniform(size=5000) < p).astype(int), (p > 0.5).astype(int), p)
    >>> q = rng.uniform(size=1000) ** 0.5                       # covariate shift: more confident rows
    >>> acc = estimate(model, (q > 0.5).astype(int), q)[0]
    >>> str(acc.metric), round(acc.estimated, 3), str(acc.status)
    ('accuracy', 0.747, 'estimated')
    """
    p = np.asarray(y_pred)
    if p.ndim != 1:
        raise InputError(f"y_pred must be one-dimensional, got shape {p.shape}", field="y_pred")
    n = p.shape[0]
    missing_pred = np.flatnonzero(pd.isna(p))
    if missing_pred.size:
        raise InputError(f"y_pred is missing at row {missing_pred[0]}", field="y_pred", row=int(missing_pred[0]))
    k = len(model.classes)
    warnings: list[EstimateWarning] = _calibration_warnings(model)
    p_idx = _index(p, model.classes)
    unseen = p_idx < 0
    if unseen.any():
        values = sorted({str(v) for v in p[unseen][:1000]})[:5]
        warnings.append(EstimateWarning(code=WarningCode.UNSEEN_CLASS, message=(
            f"{int(unseen.sum())} of {n} predictions are a class the reference never had ({', '.join(values)}): "
            "counted as errors")))
    p_idx = np.where(unseen, k, p_idx)

    raw: NDArray[np.float64] | None = None
    scored: NDArray[np.bool_] = np.zeros(n, dtype=bool)
    if y_score is not None:
        raw = _scores(y_score, n, k, model.positive)
        scored = np.asarray(np.isfinite(raw).reshape(n, -1).all(axis=1), dtype=bool)
    if y_score is None or not scored.any():
        warnings.append(EstimateWarning(code=WarningCode.PROBABILITIES_MISSING, message=(
            "no probabilities: CBPE needs the model's scores" if y_score is None
            else f"none of the {n} rows has probabilities: nothing to estimate")))
    elif not scored.all():
        warnings.append(EstimateWarning(code=WarningCode.PROBABILITIES_MISSING, message=(
            f"{int((~scored).sum())} of {n} rows have no probabilities: estimated over the other "
            f"{int(scored.sum())}")))
    n_est = int(scored.sum())
    estimated: dict[str, float | None] = dict.fromkeys((str(m) for m in CLASSIFICATION_METRICS), None)
    prob = np.empty((0, k))
    if raw is not None and n_est:
        prob = np.full((n, k), np.nan)
        prob[scored] = _probabilities(model, raw[scored])
        estimated = _estimated_metrics(model, prob[scored], raw[scored], p_idx[scored])

    labelled = np.zeros(n, dtype=bool)
    realized: dict[str, float | None] = dict.fromkeys(estimated, None)
    gap: dict[str, float | None] = {}
    gap_n = 0
    if y_true is not None:
        t = np.asarray(y_true, dtype=object) if not isinstance(y_true, np.ndarray) else y_true
        if t.shape != p.shape:
            raise InputError(f"y_true has {t.shape[0] if t.ndim else 0} rows; y_pred has {n}", field="y_true")
        labelled = np.asarray(~np.asarray(pd.isna(t), dtype=bool), dtype=bool)
        t_idx = _index(t, model.classes)
        unseen_true = labelled & (t_idx < 0)
        if unseen_true.any():
            values = sorted({str(v) for v in t[unseen_true][:1000]})[:5]
            warnings.append(EstimateWarning(code=WarningCode.UNSEEN_CLASS, message=(
                f"{int(unseen_true.sum())} labels are a class the reference never had ({', '.join(values)})")))
        t_idx = np.where(t_idx < 0, k, t_idx)
        if labelled.any():
            rows = labelled & scored if raw is not None else labelled
            realized = _realized_metrics(model, t_idx[labelled], p_idx[labelled], None)
            if raw is not None and rows.any():
                realized[str(EstimateMetric.ROC_AUC)] = _realized_metrics(
                    model, t_idx[rows], p_idx[rows], raw[rows])[str(EstimateMetric.ROC_AUC)]
            both = labelled & scored
            if int(both.sum()) >= MIN_GAP_ROWS and raw is not None:
                gap = _estimated_metrics(model, prob[both], raw[both], p_idx[both])
                gap_n = int(both.sum())
    if concept_drift:
        warnings.append(EstimateWarning(code=WarningCode.CONCEPT_DRIFT, message=(
            "concept drift was detected: CBPE assumes P(y | x) did not change, so the estimate may be wrong")))

    n_labelled = int(labelled.sum())
    coverage = n_labelled / n if n else 0.0
    status = status_of(coverage, threshold=coverage_threshold)
    out = []
    for metric in CLASSIFICATION_METRICS:
        name = str(metric)
        value = estimated[name]
        se = model.sampling.sampling_error(name, n_est) if value is not None else None
        lower, upper = _band(value, se)
        mine = list(warnings)
        if value is not None and se is None:
            mine.append(EstimateWarning(code=WarningCode.NO_BAND, metric=metric, message=(
                f"{name}: the reference's chunks never define it, so there is no band")))
        est_gap, real = gap.get(name), realized[name]
        if est_gap is not None and real is not None:
            lo, hi = _band(est_gap, model.sampling.sampling_error(name, gap_n))
            if lo is not None and hi is not None and not lo <= real <= hi:
                mine.append(EstimateWarning(code=WarningCode.REALIZED_OUTSIDE_BAND, metric=metric, message=(
                    f"{name}: realized {real:.4f} on the {gap_n} labelled rows is outside the estimate's band "
                    f"[{lo:.4f}, {hi:.4f}] on the same rows: the estimate is off (concept shift?)")))
        reason = None if value is not None else (
            "no probabilities" if not n_est else f"{name} is undefined on this window's expected confusion matrix")
        out.append(Estimate(metric=metric, estimated=value, lower=lower, upper=upper, sampling_error=se,
                            realized=real, n_rows=n, n_estimated=n_est, n_labelled=n_labelled, coverage=coverage,
                            status=status, reason=reason, warnings=tuple(mine)))
    return out
