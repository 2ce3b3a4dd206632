"""Domain classifier: can a model tell current rows from reference rows? Out-of-fold ROC AUC.

scikit-learn's ``HistGradientBoostingClassifier`` (seeded, no early stopping, categorical
features native) learns "reference or current" on up to ``max_rows`` rows per side (hash-chosen,
so the result does not depend on row order), with stratified ``folds``-fold cross-validation:
every row is scored by a model that never saw it.

The null: the **Mann-Whitney bound on the AUC**. Under "same distribution" a held-out row's
score is independent of its label, so within each fold the AUC is the Mann-Whitney U of the
scores divided by ``n1 n0``, with mean 1/2 and the tie-corrected variance of U. The statistic
pools the folds (``sum U / sum n1 n0``) and its z-score uses the sum of the folds' variances.
The folds' models share training rows, so the folds are not quite independent; the measured
false-alarm rate (docs/statistics.md) shows the bound holds. The threshold is the larger of
the AUC at the ``1 - alpha`` normal quantile and ``auc_floor`` (0.55 by default: 5 points of
separability, the effect floor). No permutation refits are needed.

Top features: permutation importance on the held-out folds (the AUC lost when one feature's
values are shuffled, seeded), computed when the classifier separates the samples.

scikit-learn is the optional ``multivariate`` extra (also in ``estimate``): it is imported when
the method runs, and a missing install raises :class:`~monitor.errors.MissingExtra`.
"""

from __future__ import annotations

from types import ModuleType

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from monitor.errors import InsufficientData, MissingExtra
from monitor.stats.multivariate._encode import Encoding, lowest, row_hashes
from monitor.stats.multivariate.types import FeatureScore, MultivariateMethod, MultivariateOptions, MultivariateResult

__all__ = ["MIN_ROWS", "classifier_test", "fold_auc"]

_F = NDArray[np.float64]

#: Rows needed on each side (a few per fold and class).
MIN_ROWS = 20


def _ensemble() -> ModuleType:
    try:
        import sklearn.ensemble
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("sklearn"):
            raise
        raise MissingExtra("the domain_classifier multivariate method", "multivariate") from None
    module: ModuleType = sklearn.ensemble
    return module


def fold_auc(scores: _F, labels: NDArray[np.bool_]) -> tuple[float, float, float]:
    """Mann-Whitney U of the positives' scores, its null mean and tie-corrected null variance."""
    n1 = int(labels.sum())
    n0 = labels.size - n1
    n = labels.size
    ranks = stats.rankdata(scores)
    u = float(ranks[labels].sum() - n1 * (n1 + 1) / 2)
    _, counts = np.unique(scores, return_counts=True)
    ties = float(((counts.astype(np.float64) ** 3) - counts).sum())
    variance = n1 * n0 / 12.0 * ((n + 1) - ties / (n * (n - 1)))
    return u, n1 * n0 / 2.0, variance


def classifier_test(encoding: Encoding, reference: _F, current: _F, options: MultivariateOptions,
                    rng: np.random.Generator) -> MultivariateResult:
    """Out-of-fold AUC of reference (label 0) against current (label 1) rows, coded (:meth:`Encoding.coded`).

    ``reference`` is the fit's hash-ordered sample; ``current`` every row of the window.
    """
    n_cur_all = current.shape[0]
    current = current[lowest(row_hashes(current, options.seed), options.max_rows)]
    for name, rows in (("reference", reference), ("current", current)):
        if rows.shape[0] < MIN_ROWS:
            raise InsufficientData(f"{name} has {rows.shape[0]} rows; domain_classifier needs at least {MIN_ROWS}",
                                   needed=MIN_ROWS, got=int(rows.shape[0]))
    ensemble = _ensemble()
    x = np.concatenate([reference, current])
    y = np.concatenate([np.zeros(reference.shape[0], dtype=bool), np.ones(current.shape[0], dtype=bool)])
    # Stratified folds by position in hash order, within each class.
    folds = np.concatenate([np.arange(reference.shape[0]) % options.folds, np.arange(current.shape[0]) % options.folds])
    is_cat = np.zeros(x.shape[1], dtype=bool)
    is_cat[len(encoding.numerical):] = True
    u_sum = mean_sum = var_sum = pairs = 0.0
    held: list[tuple[object, NDArray[np.intp]]] = []
    for f in range(options.folds):
        test = np.flatnonzero(folds == f)
        train = np.flatnonzero(folds != f)
        model = ensemble.HistGradientBoostingClassifier(
            max_iter=50, learning_rate=0.2, max_leaf_nodes=15, early_stopping=False, class_weight="balanced",
            categorical_features=is_cat if is_cat.any() else None, random_state=options.seed)
        model.fit(x[train], y[train])
        scores = model.predict_proba(x[test])[:, 1]
        u, mean, var = fold_auc(scores, y[test])
        n1 = float(y[test].sum())
        u_sum, mean_sum, var_sum, pairs = u_sum + u, mean_sum + mean, var_sum + var, pairs + n1 * (test.size - n1)
        held.append((model, test))
    auc = u_sum / pairs
    sd = np.sqrt(var_sum) / pairs
    z = (u_sum - mean_sum) / np.sqrt(var_sum) if var_sum > 0 else 0.0
    p_value = float(stats.norm.sf(z))
    threshold = max(options.auc_floor, 0.5 + float(stats.norm.isf(options.alpha)) * float(sd))
    drifted = auc > threshold
    top: tuple[FeatureScore, ...] = ()
    if drifted:
        top = _importance(encoding, x, y, held, options, rng, auc)
    warnings = []
    if n_cur_all > current.shape[0]:
        warnings.append(f"the classifier used {current.shape[0]:,} of the window's {n_cur_all:,} rows (max_rows)")
    return MultivariateResult(method=MultivariateMethod.DOMAIN_CLASSIFIER, statistic=float(auc), threshold=threshold,
                              p_value=p_value, drifted=drifted, top_features=top, warnings=tuple(warnings),
                              n_reference=int(reference.shape[0]), n_current=n_cur_all)


def _importance(encoding: Encoding, x: _F, y: NDArray[np.bool_], held: list[tuple[object, NDArray[np.intp]]],
                options: MultivariateOptions, rng: np.random.Generator, auc: float) -> tuple[FeatureScore, ...]:
    """The AUC lost when each feature is shuffled in the held-out folds (one seeded shuffle per fold)."""
    lost = np.zeros(x.shape[1])
    for j in range(x.shape[1]):  # one pass per feature, vectorised over rows
        u_sum = pairs = 0.0
        for model, test in held:
            shuffled = x[test].copy()
            shuffled[:, j] = shuffled[rng.permutation(test.size), j]
            scores = model.predict_proba(shuffled)[:, 1]  # type: ignore[attr-defined]
            u, _, _ = fold_auc(scores, y[test])
            n1 = float(y[test].sum())
            u_sum, pairs = u_sum + u, pairs + n1 * (test.size - n1)
        lost[j] = auc - u_sum / pairs
    order = sorted(range(lost.size), key=lambda j: (-lost[j], encoding.features[j]))
    return tuple(FeatureScore(feature=encoding.features[j], score=float(lost[j])) for j in order[:options.top]
                 if lost[j] > 0)
