"""Did the model get worse? A block-bootstrap test of one quality metric, window against reference.

Why not a test on rows: errors cluster in time (a bad day, a bad batch), so rows are not
independent and a row-level test (the two-proportion z-test of
:func:`~monitor.stats.performance.performance_degradation`) sees a day-to-day wobble as
evidence; on a model's own holdout it flags one day against the rest far above its alpha.
Here both samples are cut into blocks (time buckets, or runs of consecutive rows) and the
*blocks* are resampled, so the interval carries the between-bucket variation.

Why not the error rate: it moves with the label prevalence even when the model is unchanged.
The default metric is prevalence-free: ROC AUC when a binary score is given, else balanced
accuracy (the mean recall per class) for classification; MAE for regression.

Vectorised: each block is reduced once to additive sufficient statistics (confusion counts per
class, sums of errors, score histograms per class for ROC AUC), a replicate is the
multinomial block counts times that matrix, and the metric is a function of the summed
statistics, so 1000 replicates cost one matrix product per side.

Why a prepared reference: the reference side does not change between runs, so everything about
it that does not depend on the window (its labels and their codes, its sorted scores and exact
ROC AUC, its per-block statistics for a given block size) is computed once in a
:class:`PreparedReference` and kept; a run then costs O(window) plus, for ROC AUC, one integer
pass over the reference's sorted rows (the score bins are cut at the pooled quantiles, which
move with the window). The results are those of the direct computation to the last bit.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from monitor.errors import InputError, InsufficientData
from monitor.stats._validate import check_alpha
from monitor.stats.performance import Labels, Metric, Task, _classes, _finite, _labelled

__all__ = [
    "DEFAULT_FLOOR", "HIGHER_IS_BETTER", "MAX_BLOCKS", "MIN_BLOCKS", "DegradationTest", "PreparedReference",
    "ScoredSample", "default_metric", "degradation",
]

#: Default practical floor: a drop must exceed 2 % of the reference's value to count.
DEFAULT_FLOOR = 0.02
#: Fewer buckets than this cannot estimate a between-bucket variance: the rows are then cut,
#: in bucket order, into this many blocks of equal size.
MIN_BLOCKS = 10
#: More buckets than this are merged with their neighbours (bounds the cost of a replicate).
MAX_BLOCKS = 200
#: Score bins per class for the bootstrap of ROC AUC (exact when there are fewer distinct scores).
_AUC_BINS = 128
#: How many window-dependent entries a prepared reference keeps: per-block statistics (small),
#: one per (statistics, block size, labels), and ROC AUC keys (one integer per row), one per block size.
_BOUNDS = {"block": 16, "base": 2}

#: Metrics where a larger value is better; for every other metric a smaller one is.
HIGHER_IS_BETTER = frozenset({Metric.ACCURACY, Metric.BALANCED_ACCURACY, Metric.PRECISION, Metric.RECALL,
                              Metric.F1, Metric.ROC_AUC, Metric.R2})
_CLASSIFICATION = frozenset({Metric.ACCURACY, Metric.ERROR_RATE, Metric.BALANCED_ACCURACY, Metric.PRECISION,
                             Metric.RECALL, Metric.F1, Metric.ROC_AUC, Metric.LOG_LOSS})
_REGRESSION = frozenset({Metric.MAE, Metric.RMSE, Metric.MAPE, Metric.R2})
#: Metrics bounded by 1 at their best: their "loss" for the in-sample heuristic is 1 - value.
_BOUNDED = HIGHER_IS_BETTER


@dataclass(frozen=True, slots=True, kw_only=True)
class ScoredSample:
    """Labelled rows of one side: truth, prediction, optional binary score and bucket keys.

    ``buckets`` holds one sortable key per row (e.g. the timestamp floored to the hour as an
    integer); rows sharing a key form one block. ``None``: blocks of consecutive rows.
    """

    y_true: Labels
    y_pred: Labels
    y_score: ArrayLike | None = None
    buckets: ArrayLike | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DegradationTest:
    """The block-bootstrap verdict on one metric.

    ``delta`` is ``current_value - reference_value``; ``lower`` and ``upper`` bound it with the
    two-sided ``1 - 2 alpha`` percentile interval, so each bound alone is a one-sided
    ``1 - alpha`` bound and ``degraded`` (the bound on the bad side excludes 0, and the drop
    exceeds ``floor``) is a level-``alpha`` one-sided test. ``floor`` is in the metric's units.
    """

    metric: Metric
    reference_value: float
    current_value: float
    delta: float
    lower: float
    upper: float
    p_value: float
    threshold: float
    floor: float
    degraded: bool
    n_reference: int
    n_current: int
    blocks_reference: int
    blocks_current: int
    warning: str | None = None


class _Side:
    """One side reduced to its labelled rows, encoded labels and block ids."""

    def __init__(self, sample: ScoredSample, name: str, block_rows: int | None) -> None:
        self.t, self.p, self.rows, n_rows = _labelled(sample.y_true, sample.y_pred, name)
        self.score: NDArray[np.float64] | None = None
        if sample.y_score is not None:
            score = np.asarray(sample.y_score)
            if score.shape != (n_rows,):
                raise InputError(f"{name} y_score has shape {score.shape}; expected ({n_rows},)", field="y_score")
            self.score = _finite(score[self.rows], "y_score", self.rows)
        keys = None
        if sample.buckets is not None:
            keys = np.asarray(sample.buckets)
            if keys.shape != (n_rows,):
                raise InputError(f"{name} buckets has shape {keys.shape}; expected ({n_rows},)", field="buckets")
            keys = keys[self.rows]
        self.blocks, self.n_blocks = _blocks(keys, self.t.size, block_rows)


def _blocks(keys: NDArray[Any] | None, n: int, block_rows: int | None) -> tuple[NDArray[np.intp], int]:
    """Block id of each row, ``0 .. b-1`` in bucket (or row) order, with MIN/MAX_BLOCKS applied."""
    if keys is None:
        k = block_rows if block_rows is not None else max(1, int(round(np.sqrt(n))))
        ids = np.arange(n, dtype=np.intp) // max(1, k)
        order = np.arange(n, dtype=np.intp)
    else:
        _, ids = np.unique(keys, return_inverse=True)
        ids = ids.astype(np.intp).ravel()
        order = np.argsort(ids, kind="stable")
    b = int(ids.max()) + 1 if n else 0
    target = min(MIN_BLOCKS, n)
    if b < target:  # too few buckets: equal runs of rows, in bucket order
        ids = np.empty(n, dtype=np.intp)
        ids[order] = np.arange(n, dtype=np.intp) * target // n
        b = target
    elif b > MAX_BLOCKS:  # neighbouring buckets merged
        ids = ids * MAX_BLOCKS // b
        b = MAX_BLOCKS
    return ids, b


def _row_blocks(positions: NDArray[np.integer[Any]], n: int, block_rows: int | None) -> tuple[NDArray[np.intp], int]:
    """Block id of the given row positions, as :func:`_blocks` numbers rows without bucket keys
    (its blocks are then runs of consecutive rows, so a row's block follows from its position)."""
    rows = positions.astype(np.intp, copy=False)
    k = max(1, block_rows if block_rows is not None else max(1, int(round(np.sqrt(n)))))
    b = (n - 1) // k + 1
    target = min(MIN_BLOCKS, n)
    if b < target:
        return rows * target // n, target
    if b > MAX_BLOCKS:
        return rows // k * MAX_BLOCKS // b, MAX_BLOCKS
    return rows // k, b


class PreparedReference:
    """The reference side of :func:`degradation`, reduced once and reused by every window.

    Built from a :class:`ScoredSample` (validated here, as the direct path does). What does not
    depend on the window is computed on first use and kept: the sorted distinct labels and each
    row's code among them, the float truth and prediction (regression), the score order and
    exact ROC AUC. Per-block statistics depend on the block size (from the window's median
    bucket) and the pooled labels, and the last few such keys are kept (:data:`_BOUNDS`).
    Safe to share between threads (a value computed twice is the same value).
    """

    def __init__(self, sample: ScoredSample, name: str = "reference") -> None:
        t, p, rows, n_rows = _labelled(sample.y_true, sample.y_pred, name)
        every = rows.size == n_rows  # every row labelled: keep the caller's arrays, not copies
        if every:
            t, p = np.asarray(sample.y_true), np.asarray(sample.y_pred)
        self.t, self.p, self.rows, self.n = t, p, rows, int(t.size)
        self.score: NDArray[np.float64] | None = None
        if sample.y_score is not None:
            score = np.asarray(sample.y_score)
            if score.shape != (n_rows,):
                raise InputError(f"{name} y_score has shape {score.shape}; expected ({n_rows},)", field="y_score")
            self.score = _finite(score if every else score[rows], "y_score", rows)
        self.keys: NDArray[Any] | None = None
        if sample.buckets is not None:
            keys = np.asarray(sample.buckets)
            if keys.shape != (n_rows,):
                raise InputError(f"{name} buckets has shape {keys.shape}; expected ({n_rows},)", field="buckets")
            self.keys = keys[rows]
        self._memo: dict[object, Any] = {}
        self._lock = threading.Lock()

    def _get(self, key: object, make: Callable[[], Any]) -> Any:
        """``make()`` kept under ``key``; keys ``("block", ...)``/``("base", ...)`` are bounded."""
        with self._lock:
            if key in self._memo:
                return self._memo[key]
        value = make()
        kind = key[0] if isinstance(key, tuple) else None
        with self._lock:
            if kind in _BOUNDS:
                same = [k for k in self._memo if isinstance(k, tuple) and k[0] == kind]
                for old in same[:max(0, len(same) - _BOUNDS[kind] + 1)]:
                    del self._memo[old]
            self._memo[key] = value
        return value

    def labels(self) -> NDArray[Any]:
        """The sorted distinct labels of truth and prediction."""
        return self._get("labels", lambda: np.unique(np.concatenate([self.t, self.p])))  # type: ignore[no-any-return]

    def codes(self) -> tuple[NDArray[np.integer[Any]], NDArray[np.integer[Any]]]:
        """Each row's truth and prediction as its position among :meth:`labels`."""
        def make() -> tuple[NDArray[np.integer[Any]], NDArray[np.integer[Any]]]:
            labels = self.labels()
            if self.t.dtype.kind in "iu" and np.array_equal(labels, np.arange(labels.size)):
                return self.t, self.p  # already codes (a fitted bundle's): no copy
            t, p = _classes(self.t, self.p, labels)[1:]
            return t.astype(np.int32), p.astype(np.int32)
        return self._get("codes", make)  # type: ignore[no-any-return]

    def values(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Truth and prediction as finite floats (regression)."""
        return self._get("values", lambda: (_finite(self.t, "y_true", self.rows),  # type: ignore[no-any-return]
                                            _finite(self.p, "y_pred", self.rows)))

    def blocks(self, block_rows: int | None) -> tuple[NDArray[np.intp], int]:
        """Block id of each row and the number of blocks (not kept: n integers per block size)."""
        if self.keys is not None:
            return self._get("bucket_blocks", lambda: _blocks(self.keys, self.n, None))  # type: ignore[no-any-return]
        return _row_blocks(np.arange(self.n, dtype=np.intp), self.n, block_rows)

    def block_stats(self, key: object, block_rows: int | None,
                    rows: Callable[[], NDArray[np.float64]]) -> NDArray[np.float64]:
        """Per-block sums of the row statistics ``rows()``, kept under ``(key, block_rows)``."""
        def make() -> NDArray[np.float64]:
            ids, b = self.blocks(block_rows)
            return _per_block(ids, b, rows())
        return self._get(("block", key, block_rows if self.keys is None else None), make)  # type: ignore[no-any-return]

    def sorted_scores(self) -> tuple[NDArray[np.integer[Any]], NDArray[np.float64], NDArray[np.float64] | None]:
        """Row order by score (stable), the sorted scores, and their distinct values when there
        are at most :data:`_AUC_BINS` of them (else ``None``: only that count matters)."""
        def make() -> tuple[NDArray[np.integer[Any]], NDArray[np.float64], NDArray[np.float64] | None]:
            assert self.score is not None
            order = np.argsort(self.score, kind="stable")
            ordered = self.score[order]
            first = np.concatenate([[True], ordered[1:] != ordered[:-1]])
            distinct = ordered[first] if np.count_nonzero(first) <= _AUC_BINS else None
            return order.astype(np.int32) if self.n < 2 ** 31 else order, ordered, distinct
        return self._get("sorted", make)  # type: ignore[no-any-return]

    def exact_auc(self, pos_code: int) -> float:
        """Exact ROC AUC with the rows whose truth code is ``pos_code`` as the positives."""
        score = self.score
        assert score is not None
        return self._get(("auc", pos_code),  # type: ignore[no-any-return]
                         lambda: _exact_auc(score, self.codes()[0] == pos_code))

    def sorted_groups(self, pos_code: int, block_rows: int | None) -> tuple[NDArray[np.integer[Any]], int]:
        """Each row's place in the score order, grouped by (block, negative), as one sorted key.

        The key of a row is ``group * (n + 1) + place`` with ``group = 2 * block + (not
        positive)``; how many rows of a group lie below a place is then one binary search, so a
        run's ROC AUC histogram of the reference costs O(blocks x bins x log n), not O(n). Kept
        for the last few block sizes (n integers each).
        """
        def make() -> tuple[NDArray[np.integer[Any]], int]:
            order = self.sorted_scores()[0]
            if self.keys is not None:
                ids, b = self.blocks(block_rows)
                ids = ids[order]
            else:
                ids, b = _row_blocks(order, self.n, block_rows)
            group = 2 * ids + (self.codes()[0][order] != pos_code)
            places = np.argsort(group, kind="stable")  # by group, then by place in the score order
            dtype = np.uint32 if 2 * b * (self.n + 1) < 2 ** 32 else np.int64
            return (group[places].astype(np.int64) * (self.n + 1) + places).astype(dtype), b
        return self._get(("base", pos_code, block_rows if self.keys is None else None), make)  # type: ignore[no-any-return]


def _per_block(ids: NDArray[np.intp], b: int, x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Sum of each column of ``x`` (rows) within each block: shape (b, columns)."""
    m = x.shape[1]
    flat = (ids[:, None] * m + np.arange(m)).ravel()
    sums: NDArray[np.float64] = np.bincount(flat, weights=x.ravel(), minlength=b * m).astype(np.float64)
    return sums.reshape(b, m)


def _ratio(num: NDArray[np.float64], den: NDArray[np.float64]) -> NDArray[np.float64]:
    out = np.full(np.broadcast(num, den).shape, np.nan)
    np.divide(num, den, out=out, where=den > 0)
    return out


def _nanmean(x: NDArray[np.float64]) -> NDArray[np.float64]:
    """Row means over the defined (non-NaN) classes; NaN when none is defined."""
    ok = ~np.isnan(x)
    total = np.where(ok, x, 0.0).sum(axis=-1)
    return _ratio(total, ok.sum(axis=-1).astype(np.float64))


def _positive_index(labels: NDArray[Any], pos_label: object) -> int:
    """Index of the positive label among the sorted ``labels``: ``pos_label`` if given, else as
    :func:`classification_metrics` picks it (1 for 0/1 labels, also as text; else the largest)."""
    text = [str(v) for v in labels.tolist()]
    if pos_label is None:
        return text.index("1") if set(text) <= {"0", "1"} and "1" in text else labels.size - 1
    hit = np.flatnonzero(labels == pos_label)
    if not hit.size:
        raise InputError(f"pos_label {pos_label!r} is not one of the labels {labels.tolist()}", field="pos_label")
    return int(hit[0])


_Value = Callable[[NDArray[np.float64]], NDArray[np.float64]]


def _class_stats(
    metric: Metric, k: int, pos: int | None
) -> tuple[Callable[[_Side, NDArray[np.intp], NDArray[np.intp]], NDArray[np.float64]], _Value]:
    """Rows -> [support | tp | predicted] per class, and the metric as a function of their sums."""

    def rows(_: _Side, t: NDArray[np.intp], p: NDArray[np.intp]) -> NDArray[np.float64]:
        cls = np.arange(k)
        sup, pred = t[:, None] == cls, p[:, None] == cls
        return np.concatenate([sup, sup & pred, pred], axis=1).astype(np.float64)

    def value(s: NDArray[np.float64]) -> NDArray[np.float64]:
        sup, tp, pred = s[..., :k], s[..., k:2 * k], s[..., 2 * k:]
        binary = pos is not None
        pick: Callable[[NDArray[np.float64]], NDArray[np.float64]] = (
            (lambda r: r[..., pos]) if binary else _nanmean)
        if metric is Metric.ACCURACY:
            return _ratio(tp.sum(axis=-1), sup.sum(axis=-1))
        if metric is Metric.ERROR_RATE:
            return 1.0 - _ratio(tp.sum(axis=-1), sup.sum(axis=-1))
        if metric is Metric.BALANCED_ACCURACY:
            return _nanmean(_ratio(tp, sup))
        if metric is Metric.RECALL:
            return pick(_ratio(tp, sup))
        if metric is Metric.PRECISION:
            return pick(_ratio(tp, pred))
        return pick(_ratio(2.0 * tp, sup + pred))  # F1

    return rows, value


def _auc_value(s: NDArray[np.float64]) -> NDArray[np.float64]:
    """ROC AUC from per-bin counts [positives | negatives], ties within a bin counted half."""
    g = s.shape[-1] // 2
    pos, neg = s[..., :g], s[..., g:]
    below = np.cumsum(neg, axis=-1) - neg
    u = (pos * (below + 0.5 * neg)).sum(axis=-1)
    return _ratio(u, pos.sum(axis=-1) * neg.sum(axis=-1))


def _exact_auc(score: NDArray[np.float64], positive: NDArray[np.bool_]) -> float:
    ranks = stats.rankdata(score)
    n_pos = float(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def default_metric(task: Task, *, has_score: bool, n_classes: int = 2) -> Metric:
    """The metric tested when none is named: one that does not move with prevalence alone.

    ROC AUC for a binary classifier with a score, balanced accuracy for any other classifier,
    MAE for a regressor.
    """
    if Task(task) is Task.REGRESSION:
        return Metric.MAE
    return Metric.ROC_AUC if has_score and n_classes <= 2 else Metric.BALANCED_ACCURACY


def _replicates(rng: np.random.Generator, s: NDArray[np.float64], value: _Value, n_resamples: int,
                shift: float) -> tuple[float, NDArray[np.float64]]:
    """Point value and block-bootstrap replicates of one side.

    The replicates' spread about the point value is widened by sqrt(b / (b - 1)), the usual
    small-sample correction of the bootstrap variance (it matters with a few dozen blocks).
    ``shift`` moves both onto the exact point value (binned ROC AUC -> exact ROC AUC).
    """
    b = s.shape[0]
    point = float(value(s.sum(axis=0)))
    # Block counts of each replicate: b draws with replacement, tallied per row of replicates.
    draws = rng.integers(0, b, size=(n_resamples, b)) + (np.arange(n_resamples) * b)[:, None]
    counts = np.bincount(draws.ravel(), minlength=n_resamples * b).reshape(n_resamples, b).astype(np.float64)
    reps = value(counts @ s)
    reps = point + (reps - point) * np.sqrt(b / (b - 1.0))
    return point + shift, reps + shift


def degradation(
    reference: ScoredSample | PreparedReference, current: ScoredSample, task: Task, *, rng: np.random.Generator,
    metric: Metric | None = None, alpha: float = 0.05, floor: float = DEFAULT_FLOOR, n_resamples: int = 1000,
    block_rows: int | None = None, pos_label: object = None,
) -> DegradationTest:
    """Block-bootstrap test that ``metric`` of the current sample is worse than the reference's.

    Both sides are cut into blocks (their ``buckets``, else runs of ``block_rows`` consecutive
    rows, default round(sqrt(n)); at least :data:`MIN_BLOCKS` and at most :data:`MAX_BLOCKS`),
    the blocks of each side are resampled with replacement ``n_resamples`` times, and the
    difference ``current - reference`` is recomputed from the resampled blocks' statistics.
    A :class:`PreparedReference` gives the same result as its :class:`ScoredSample`, and keeps
    the reference's window-independent work for the next call.

    Parameters
    ----------
    metric
        Default :func:`default_metric`. Classification: accuracy, error_rate,
        balanced_accuracy, precision, recall, f1 (of ``pos_label`` when binary, else macro),
        roc_auc (binary, needs ``y_score``), log_loss (binary, ``y_score`` a probability of
        ``pos_label``). Regression: mae, rmse, mape, r2.
    alpha
        One-sided level: ``lower``/``upper`` are the ``1 - 2 alpha`` interval of the difference.
    floor
        Practical floor, relative: a drop counts only when larger than ``floor * |reference|``.

    Returns
    -------
    DegradationTest
        ``p_value`` is the bootstrap share of replicates with no drop, ``(1 + #{drop* <= 0}) /
        (1 + replicates)``. ``warning`` is set when the reference looks in-sample: a perfect
        reference value, or a reference loss (``1 - value`` for metrics whose best is 1, the
        value itself for errors) less than half the current's while the drop is significant.

    Raises
    ------
    InputError
        A metric that does not fit the task (roc_auc without a score), mismatched lengths,
        missing predictions.
    InsufficientData
        A side without labelled rows, or on which the metric is undefined (one class only).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 2, 4000)
    >>> good = ScoredSample(y_true=y[:2000], y_pred=y[:2000], y_score=y[:2000] + rng.normal(0, 0.5, 2000))
    >>> bad = ScoredSample(y_true=y[2000:], y_pred=y[2000:], y_score=y[2000:] + rng.normal(0, 1.5, 2000))
    >>> r = degradation(good, bad, Task.CLASSIFICATION, rng=np.random.default_rng(1))
    >>> str(r.metric), round(r.reference_value, 2), round(r.current_value, 2), r.degraded
    ('roc_auc', 0.93, 0.69, True)
    """
    alpha = check_alpha(alpha)
    task = Task(task)
    if not (np.isfinite(floor) and floor >= 0.0):
        raise InputError(f"floor ({floor}) must be a finite number >= 0", field="floor")
    if n_resamples < 100:
        raise InputError(f"n_resamples ({n_resamples}) must be at least 100", field="n_resamples")
    ref = reference if isinstance(reference, PreparedReference) else PreparedReference(reference)
    cur = _Side(current, "current", block_rows)
    has_score = ref.score is not None and cur.score is not None
    s_ref: NDArray[np.float64]
    if task is Task.CLASSIFICATION:
        ref_labels = ref.labels()
        labels = np.unique(np.concatenate([ref_labels, cur.t, cur.p]))
        chosen = Metric(metric) if metric is not None else default_metric(task, has_score=has_score,
                                                                            n_classes=labels.size)
        if chosen not in _CLASSIFICATION:
            raise InputError(f"metric {str(chosen)!r} is not a classification metric", field="metric")
        k, binary = labels.size, labels.size <= 2
        pos = _positive_index(labels, pos_label) if binary else None
        cur_codes = _classes(cur.t, cur.p, labels)[1:]
        # The reference's codes among the pooled labels: its own codes through a k-entry table.
        to_pooled = _classes(ref_labels, ref_labels, labels)[1]
        shifts = (0.0, 0.0)
        if chosen in (Metric.ROC_AUC, Metric.LOG_LOSS):
            if not has_score or not binary:
                raise InputError(f"metric {str(chosen)!r} needs a binary task and a y_score on both sides",
                                 field="metric")
            assert ref.score is not None and cur.score is not None and pos is not None
            hit = np.flatnonzero(to_pooled == pos)
            pos_ref = int(hit[0]) if hit.size else -1  # the positive label's code in the reference's own labels
            positive_cur = cur_codes[0] == pos
            if chosen is Metric.ROC_AUC:
                s_ref, s_cur, shifts = _auc_stats(ref, cur, pos_ref, positive_cur, block_rows)
                value: _Value = _auc_value
            else:
                score = ref.score
                s_ref = ref.block_stats(("log_loss", pos_ref), block_rows,
                                        lambda: _log_loss_rows(score, ref.codes()[0] == pos_ref))
                s_cur = _per_block(cur.blocks, cur.n_blocks, _log_loss_rows(cur.score, positive_cur))
                value = _mean_value
        else:
            rows, value = _class_stats(chosen, k, pos if binary else None)
            s_ref = ref.block_stats(("class", tuple(to_pooled.tolist()), k), block_rows,
                                    lambda: rows(cur, *(to_pooled[c] for c in ref.codes())))
            s_cur = _per_block(cur.blocks, cur.n_blocks, rows(cur, *cur_codes))
    else:
        chosen = Metric(metric) if metric is not None else Metric.MAE
        if chosen not in _REGRESSION:
            raise InputError(f"metric {str(chosen)!r} is not a regression metric", field="metric")
        row_stats, value = _REGRESSION_STATS[chosen]
        s_ref = ref.block_stats(("regression", chosen), block_rows, lambda: row_stats(*ref.values()))
        s_cur = _per_block(cur.blocks, cur.n_blocks,
                           row_stats(_finite(cur.t, "y_true", cur.rows), _finite(cur.p, "y_pred", cur.rows)))
        shifts = (0.0, 0.0)
    ref_v, ref_r = _replicates(rng, s_ref, value, n_resamples, shifts[0])
    cur_v, cur_r = _replicates(rng, s_cur, value, n_resamples, shifts[1])
    if not (np.isfinite(ref_v) and np.isfinite(cur_v)):
        side = "reference" if not np.isfinite(ref_v) else "current"
        raise InsufficientData(f"metric {str(chosen)!r} is undefined on the {side} sample (a class never occurs, "
                               "or the truth is constant)", needed=2, got=1)
    sign = 1.0 if chosen in HIGHER_IS_BETTER else -1.0
    diff = cur_r - ref_r
    diff = diff[np.isfinite(diff)]
    delta = cur_v - ref_v
    lower, upper = (float(q) for q in np.quantile(diff, [alpha, 1.0 - alpha])) if diff.size else (np.nan, np.nan)
    drop = -sign * diff
    p_value = float((1 + np.count_nonzero(drop <= 0.0)) / (1 + diff.size))
    excludes = upper < 0.0 if sign > 0 else lower > 0.0
    floor_abs = floor * abs(ref_v)
    degraded = bool(excludes and -sign * delta > floor_abs)
    return DegradationTest(
        metric=chosen, reference_value=ref_v, current_value=cur_v, delta=delta, lower=lower, upper=upper,
        p_value=p_value, threshold=alpha, floor=floor_abs, degraded=degraded,
        n_reference=ref.n, n_current=int(cur.t.size),
        blocks_reference=int(s_ref.shape[0]), blocks_current=cur.n_blocks,
        warning=_in_sample(chosen, ref_v, cur_v, excludes),
    )


def _in_sample(metric: Metric, ref_v: float, cur_v: float, significant: bool) -> str | None:
    """The documented heuristic: a perfect reference, or half the current's loss with a significant drop."""
    ref_loss, cur_loss = (1.0 - ref_v, 1.0 - cur_v) if metric in _BOUNDED else (ref_v, cur_v)
    if ref_loss <= 0.0:
        return (f"the reference's {metric} is perfect ({ref_v:.4g}): it looks like in-sample (training) data; "
                "use a holdout the model never saw as the reference")
    if significant and ref_loss < cur_loss / 2.0:
        return (f"the reference's {metric} ({ref_v:.4g}) is far better than the window's ({cur_v:.4g}): if the "
                "reference is training data its performance is in-sample; use a holdout as the reference")
    return None


def _auc_stats(
    ref: PreparedReference, cur: _Side, pos_ref: int, positive: NDArray[np.bool_], block_rows: int | None,
) -> tuple[NDArray[np.float64], NDArray[np.float64], tuple[float, float]]:
    """Per-block score histograms [positives | negatives] on shared bins, and the shift of each
    side from its binned to its exact ROC AUC.

    The bins are cut at the pooled scores' distinct values (when few) or quantiles, found from
    the reference's sorted scores and the window's without pooling the rows. On the reference,
    bins are runs of its score order, so its histogram is a binary search per block and bin edge
    in kept integers (:meth:`PreparedReference.sorted_groups`).
    """
    assert ref.score is not None and cur.score is not None
    order, ordered, distinct = ref.sorted_scores()
    window = np.sort(cur.score)
    pooled = None
    if distinct is not None:  # else the pooled scores have more than _AUC_BINS distinct values too
        pooled = np.union1d(distinct, window)
    if pooled is not None and pooled.size <= _AUC_BINS:
        inner = pooled[1:]
    else:
        inner = np.unique(_merged_quantiles(ordered, window, np.linspace(0.0, 1.0, _AUC_BINS + 1)[1:-1]))
    g = inner.size + 1
    keys, b = ref.sorted_groups(pos_ref, block_rows)
    # Bin j holds the reference's score places [edges[j], edges[j + 1]): the rows below each cut.
    edges = np.concatenate([[0], np.searchsorted(ordered, inner, side="left"), [ref.n]])
    queries = (np.arange(2 * b, dtype=np.int64)[:, None] * (ref.n + 1) + edges).ravel().astype(keys.dtype)
    below = np.searchsorted(keys, queries, side="left").reshape(2 * b, g + 1)
    s_ref = np.diff(below, axis=1).reshape(b, 2 * g).astype(np.float64)
    col = np.searchsorted(inner, cur.score, side="right") + np.where(positive, 0, g)
    flat = cur.blocks * (2 * g) + col
    s_cur = np.bincount(flat, minlength=cur.n_blocks * 2 * g).reshape(cur.n_blocks, 2 * g).astype(np.float64)
    shifts = (ref.exact_auc(pos_ref) - float(_auc_value(s_ref.sum(axis=0))),
              _exact_auc(cur.score, positive) - float(_auc_value(s_cur.sum(axis=0))))
    return s_ref, s_cur, shifts


def _merged_quantiles(a: NDArray[np.float64], b: NDArray[np.float64], q: NDArray[np.float64]) -> NDArray[np.float64]:
    """``np.quantile(np.concatenate([a, b]), q)`` (linear method) from the sorted ``a`` and ``b``,
    without merging them: each needed order statistic is found by binary search, and the
    interpolation is NumPy's own arithmetic (so the result is the same to the last bit)."""
    n = a.size + b.size
    virtual = (n - 1) * q
    lower = np.floor(virtual)
    upper = lower + 1
    above, below = virtual >= n - 1, virtual < 0
    lower[above], upper[above] = n - 1, n - 1
    lower[below], upper[below] = 0, 0
    gamma = virtual - np.where(above, -1.0, lower)
    at_b = np.searchsorted(a, b, side="left") + np.arange(b.size)  # merged position of each of b's values

    def nth(j: NDArray[np.intp]) -> NDArray[np.float64]:
        m = np.searchsorted(at_b, j, side="right")  # b's values at or before position j
        from_b = (m > 0) & (at_b[np.maximum(m - 1, 0)] == j)
        return np.where(from_b, b[np.maximum(m - 1, 0)], a[np.minimum(j - m, a.size - 1)])

    prev, nxt = nth(lower.astype(np.intp)), nth(upper.astype(np.intp))
    diff = nxt - prev
    out = prev + diff * gamma
    np.subtract(nxt, diff * (1 - gamma), out=out, where=gamma >= 0.5)
    return out


def _log_loss_rows(score: NDArray[np.float64], positive: NDArray[np.bool_]) -> NDArray[np.float64]:
    if not ((score >= 0.0) & (score <= 1.0)).all():
        raise InputError("log_loss needs y_score to be a probability in [0, 1]", field="y_score")
    eps = float(np.finfo(np.float64).eps)
    p_true = np.clip(np.where(positive, score, 1.0 - score), eps, 1.0 - eps)
    return np.column_stack([np.ones(score.size), -np.log(p_true)])


def _mean_value(s: NDArray[np.float64]) -> NDArray[np.float64]:
    return _ratio(s[..., 1], s[..., 0])


def _abs_rows(t: NDArray[np.float64], p: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.column_stack([np.ones(t.size), np.abs(p - t)])


def _sq_rows(t: NDArray[np.float64], p: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.column_stack([np.ones(t.size), np.square(p - t)])


def _mape_rows(t: NDArray[np.float64], p: NDArray[np.float64]) -> NDArray[np.float64]:
    nonzero = t != 0.0
    eps = float(np.finfo(np.float64).eps)
    return np.column_stack([nonzero, np.where(nonzero, np.abs(p - t) / np.maximum(np.abs(t), eps), 0.0)])


def _r2_rows(t: NDArray[np.float64], p: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.column_stack([np.ones(t.size), t, np.square(t), np.square(p - t)])


def _r2_value(s: NDArray[np.float64]) -> NDArray[np.float64]:
    n, st, st2, sse = s[..., 0], s[..., 1], s[..., 2], s[..., 3]
    ss_tot = st2 - _ratio(np.square(st), n)
    return 1.0 - _ratio(sse, np.where(ss_tot > 1e-12 * np.maximum(st2, 1.0), ss_tot, 0.0))


_REGRESSION_STATS: dict[Metric, tuple[Callable[[NDArray[np.float64], NDArray[np.float64]], NDArray[np.float64]],
                                      _Value]] = {
    Metric.MAE: (_abs_rows, _mean_value),
    Metric.RMSE: (_sq_rows, lambda s: np.sqrt(_mean_value(s))),
    Metric.MAPE: (_mape_rows, _mean_value),
    Metric.R2: (_r2_rows, _r2_value),
}
