"""Domain classifiers: held-out ROC AUC with the Mann-Whitney null, exact under "no drift".

Shared by the text and embedding columns (:mod:`monitor.stats.text`, :mod:`monitor.stats.embedding`)
and the multivariate ``domain_classifier`` (:mod:`monitor.stats.multivariate.classifier`).
Rows are labelled 0 (reference) and 1 (current); within each class, rows at odd positions (of a
seeded order) train the model and rows at even positions are scored. The scored rows never touch
the model, so under "same distribution" a score is independent of its label and the held-out AUC
is the Mann-Whitney ``U`` over ``n1 n0`` with exactly the null of ``U``: mean 1/2 and the
tie-corrected variance; the p-value is its upper tail (only separation is drift).

Why not k-fold cross-validation with the folds' ``U`` pooled: measured on stationary text (250
reference and 150 current documents, TF-IDF and logistic regression, 300 draws), pooling five
folds as if independent alarmed at 12.0% for alpha 5% (99% Clopper-Pearson 7.6-17.6%): the folds'
models share training rows and their ``U`` are positively correlated. One held-out half is exact.

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

__all__ = ["EXTRA", "AucTest", "fold_auc", "holdout_auc", "holdout_of", "sklearn_module"]

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


def fold_auc(scores: _F, labels: NDArray[np.bool_]) -> tuple[float, float, float]:
    """Mann-Whitney U of the positives' scores, its null mean and tie-corrected null variance.

    Also the multivariate ``domain_classifier``'s (:mod:`monitor.stats.multivariate.classifier`).
    """
    n1 = int(labels.sum())
    n0 = labels.size - n1
    n = labels.size
    ranks = stats.rankdata(scores)
    u = float(ranks[labels].sum() - n1 * (n1 + 1) / 2)
    _, counts = np.unique(scores, return_counts=True)
    ties = float(((counts.astype(np.float64) ** 3) - counts).sum())
    variance = n1 * n0 / 12.0 * ((n + 1) - ties / (n * (n - 1)))
    return u, n1 * n0 / 2.0, variance


def holdout_of(n0: int, n1: int) -> NDArray[np.bool_]:
    """Which rows are held out (scored): even positions within each class (rows come in a seeded order)."""
    return np.concatenate([np.arange(n0) % 2 == 0, np.arange(n1) % 2 == 0])


@dataclass(frozen=True, slots=True, kw_only=True)
class AucTest:
    """The held-out AUC, its p-value and the calibrated threshold (``max(floor, null quantile)``)."""

    auc: float
    p_value: float
    null_threshold: float
    threshold: float
    drifted: bool
    n_held_out: int


def holdout_auc(n0: int, n1: int, score: Callable[[_I, _I], _F], *, alpha: float, floor: float, what: str) -> AucTest:
    """Held-out AUC of rows ``0..n0-1`` (reference) against ``n0..n0+n1-1`` (current).

    ``score(train, test)`` fits on the ``train`` rows (labels: ``index >= n0``) and returns the
    scores of the ``test`` rows. Drifted: ``p < alpha`` and ``auc >= floor``.
    """
    for side, rows in (("reference", n0), ("current", n1)):
        if rows < MIN_ROWS:
            raise InsufficientData(f"{what}: {side} has {rows} rows; the domain classifier needs at least {MIN_ROWS}",
                                   needed=MIN_ROWS, got=rows)
    labels = np.arange(n0 + n1) >= n0
    held = holdout_of(n0, n1)
    test, train = np.flatnonzero(held), np.flatnonzero(~held)
    u, mean, var = fold_auc(np.asarray(score(train, test), dtype=np.float64), labels[test])
    k1 = int(labels[test].sum())
    pairs = float(k1 * (test.size - k1))
    auc = u / pairs
    z = (u - mean) / np.sqrt(var) if var > 0 else 0.0
    p_value = float(stats.norm.sf(z))
    null_threshold = 0.5 + float(stats.norm.isf(alpha)) * float(np.sqrt(var)) / pairs
    return AucTest(auc=float(auc), p_value=p_value, null_threshold=null_threshold,
                   threshold=max(floor, null_threshold), drifted=bool(p_value < alpha and auc >= floor),
                   n_held_out=int(test.size))
