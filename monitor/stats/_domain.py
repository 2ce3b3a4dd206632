"""Cross-validated domain classifiers: out-of-fold ROC AUC with the Mann-Whitney bound as its null.

Shared by the text and embedding columns (:mod:`monitor.stats.text`, :mod:`monitor.stats.embedding`).
Rows are labelled 0 (reference) and 1 (current) and split into ``folds`` folds within each class;
every row is scored by a model fitted on the other folds. Under "same distribution" a held-out
row's score is independent of its label, so in each fold the AUC is the Mann-Whitney ``U`` of the
scores over ``n1 n0`` with mean 1/2 and the tie-corrected variance of ``U``. The statistic pools
the folds (``sum U / sum n1 n0``), its z-score the sum of their variances, and the p-value is the
upper tail (only separation is drift). The folds' models share training rows, so the folds are not
quite independent; the measured false-alarm rate (tests/stats/test_text.py) shows the bound holds.

scikit-learn is optional (the ``ml`` extra): :func:`sklearn_module` imports it on first use and
turns its absence into :class:`~monitor.errors.MissingExtra`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from monitor.errors import InsufficientData, MissingExtra
from monitor.stats.multivariate.classifier import fold_auc  # the multivariate domain_classifier's, reused

__all__ = ["EXTRA", "AucTest", "cross_validated_auc", "fold_auc", "fold_of", "sklearn_module"]

#: The extra that installs scikit-learn (``estimate`` and ``multivariate`` install the same).
EXTRA = "ml"
#: Rows needed on each side: a few per fold and class.
MIN_ROWS = 20

_F = NDArray[np.float64]
_I = NDArray[np.intp]


def sklearn_module(name: str, feature: str) -> ModuleType:
    """``sklearn.linear_model`` or ``sklearn.feature_extraction.text``, imported here on first use.

    The only import of scikit-learn by the text and embedding columns (the import-linter contract
    names this module); without it, :class:`MissingExtra` names ``feature`` and the ``ml`` extra.
    """
    try:
        if name == "linear_model":
            import sklearn.linear_model

            linear: ModuleType = sklearn.linear_model
            return linear
        if name == "feature_extraction.text":
            import sklearn.feature_extraction.text

            text: ModuleType = sklearn.feature_extraction.text
            return text
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("sklearn"):
            raise
        raise MissingExtra(feature, EXTRA) from None
    raise ValueError(f"no scikit-learn module {name!r} is used here")


def fold_of(n0: int, n1: int, folds: int) -> _I:
    """The fold of each row: position modulo ``folds`` within each class (rows come in a seeded order)."""
    return np.concatenate([np.arange(n0) % folds, np.arange(n1) % folds]).astype(np.intp)


@dataclass(frozen=True, slots=True, kw_only=True)
class AucTest:
    """The pooled out-of-fold AUC, its p-value and the calibrated threshold (``max(floor, null quantile)``)."""

    auc: float
    p_value: float
    null_threshold: float
    threshold: float
    drifted: bool


def cross_validated_auc(n0: int, n1: int, score: Callable[[_I, _I], _F], *, folds: int, alpha: float,
                        floor: float, what: str) -> AucTest:
    """Out-of-fold AUC of rows ``0..n0-1`` (reference) against ``n0..n0+n1-1`` (current).

    ``score(train, test)`` fits on the ``train`` rows (labels: ``index >= n0``) and returns the
    scores of the ``test`` rows. Drifted: ``p < alpha`` and ``auc >= floor``.
    """
    for side, rows in (("reference", n0), ("current", n1)):
        if rows < MIN_ROWS:
            raise InsufficientData(f"{what}: {side} has {rows} rows; the domain classifier needs at least {MIN_ROWS}",
                                   needed=MIN_ROWS, got=rows)
    labels = np.arange(n0 + n1) >= n0
    fold = fold_of(n0, n1, folds)
    u_sum = mean_sum = var_sum = pairs = 0.0
    for f in range(folds):
        test = np.flatnonzero(fold == f)
        train = np.flatnonzero(fold != f)
        u, mean, var = fold_auc(np.asarray(score(train, test), dtype=np.float64), labels[test])
        k1 = float(labels[test].sum())
        u_sum, mean_sum, var_sum, pairs = u_sum + u, mean_sum + mean, var_sum + var, pairs + k1 * (test.size - k1)
    auc = u_sum / pairs
    z = (u_sum - mean_sum) / np.sqrt(var_sum) if var_sum > 0 else 0.0
    p_value = float(stats.norm.sf(z))
    null_threshold = 0.5 + float(stats.norm.isf(alpha)) * float(np.sqrt(var_sum)) / pairs
    return AucTest(auc=float(auc), p_value=p_value, null_threshold=null_threshold,
                   threshold=max(floor, null_threshold), drifted=bool(p_value < alpha and auc >= floor))
