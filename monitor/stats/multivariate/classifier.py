"""Domain classifier: can a model tell current rows from reference rows? Held-out ROC AUC.

scikit-learn's ``HistGradientBoostingClassifier`` (seeded, no early stopping, balanced class
weights, categorical features native) learns "reference or current" on half of up to
``max_rows`` rows per side (hash-chosen, so the result does not depend on row order) and scores
the other half: within each class the rows at odd positions of the hash order train the model and
the rows at even positions are scored (:func:`monitor.stats._domain.holdout_auc`, shared with the
text and embedding columns).

The null is **exact**: the scored rows never touch the model, so under "same distribution" a
scored row's score is independent of its label, and the held-out AUC is the Mann-Whitney ``U``
over ``n1 n0`` with exactly the null of ``U`` (mean 1/2, tie-corrected variance); the p-value is
its upper tail. The threshold is the larger of the AUC at the ``1 - alpha`` normal quantile and
``auc_floor`` (0.55 by default: 5 points of separability, the effect floor). No permutation
refits are needed.

Why not k-fold cross-validation (what this method did first): five folds' ``U`` were pooled
(``sum U / sum n1 n0``) with the sum of their null variances, as if the folds were independent.
They are not: every fold's model is trained on the other folds' rows, so the folds' ``U`` are
correlated and the pooled z-score is too large. Measured on stationary data (50 features,
5,000 reference rows, windows of 100 to 10,000 rows; benchmarks/bench_multivariate.py,
docs/benchmarks.md), the pooled p-value fell below 0.05 in 15 of 180 draws (8.3%, Clopper-Pearson
95% 4.7-13.4%; 4 of 30 at 10,000 rows), the held-out p-value in 15 of 550 (2.7%, 1.5-4.5%).

Binning: the model bins each numerical feature into at most 255 values at the training rows'
quantiles before fitting, as ``HistGradientBoostingClassifier`` does itself without sample
weights. With class weights (``balanced``, needed when the window is much smaller than the
reference) scikit-learn 1.9 bins by 254 weighted-percentile calls per feature, about 8 s for
4,000 rows x 50 features, 60 times the fit; values that are already binned skip that path.

Threads: the fit runs on one OpenMP thread. On the 2 shared cores of our test machine (load
about 5), scikit-learn's default of one thread per core took 5-11 s per 560-row check against
0.3-0.5 s on one thread: its threads wait on each other when another process holds a core.

Top features: permutation importance on the scored half (the AUC lost when one feature's values
are shuffled among the scored rows, seeded), computed when the classifier separates the samples.

scikit-learn is the optional ``multivariate`` extra (also in ``estimate``): it is imported when
the method runs, and a missing install raises :class:`~monitor.errors.MissingExtra`.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor.errors import InsufficientData, MissingExtra
from monitor.stats._domain import fold_auc, holdout_auc, holdout_of
from monitor.stats.multivariate._encode import Encoding, lowest, row_hashes
from monitor.stats.multivariate.types import FeatureScore, MultivariateMethod, MultivariateOptions, MultivariateResult

__all__ = ["MIN_ROWS", "classifier_test", "fit_scores", "fold_auc", "quantised"]

_F = NDArray[np.float64]
_I = NDArray[np.intp]

#: Rows needed on each side (a few per class in each half).
MIN_ROWS = 20
#: Values per numerical feature the trees see (scikit-learn's default ``max_bins``).
_BINS = 255


def _ensemble() -> ModuleType:
    try:
        import sklearn.ensemble
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("sklearn"):
            raise
        raise MissingExtra("the domain_classifier multivariate method", "multivariate") from None
    module: ModuleType = sklearn.ensemble
    return module


def quantised(x: _F, is_cat: NDArray[np.bool_], train: _I) -> _F:
    """``x`` with each numerical column replaced by its bin among the ``train`` rows' 255 quantile bins.

    A value goes to bin ``i`` when ``edge[i - 1] < value <= edge[i]`` (scikit-learn's convention);
    NaN stays NaN (the trees' missing-value branch); a column with at most 255 distinct training
    values is left as it is (scikit-learn bins it exactly).
    """
    out = x.copy()
    levels = np.linspace(0.0, 1.0, _BINS + 1)[1:-1]
    for j in np.flatnonzero(~is_cat):  # one vectorised pass per feature
        column = x[train, j]
        column = column[~np.isnan(column)]
        if np.unique(column).size <= _BINS:
            continue
        edges = np.unique(np.quantile(column, levels, method="averaged_inverted_cdf"))
        values = x[:, j]
        out[:, j] = np.where(np.isnan(values), np.nan, np.searchsorted(edges, values, side="left"))
    return out


def fit_scores(x: _F, y: NDArray[np.bool_], is_cat: NDArray[np.bool_], train: _I, test: _I,
               seed: int) -> tuple[object, _F, _F]:
    """Fit the classifier on the ``train`` rows; return it, the binned ``x`` and the ``test`` rows' scores."""
    binned = quantised(x, is_cat, train)
    model = _ensemble().HistGradientBoostingClassifier(
        max_iter=50, learning_rate=0.2, max_leaf_nodes=15, early_stopping=False, class_weight="balanced",
        categorical_features=is_cat if is_cat.any() else None, random_state=seed)
    with _one_openmp_thread():
        model.fit(binned[train], y[train])
        scores: _F = np.asarray(model.predict_proba(binned[test])[:, 1], dtype=np.float64)
    return model, binned, scores


def _one_openmp_thread() -> Any:
    """Limit OpenMP (the trees' threads) to one while fitting: see the module docstring.

    OpenMP's thread count is per calling thread, so the limit holds on the service's worker
    threads too (unlike OpenBLAS's, :mod:`monitor.stats._threads`)."""
    from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]  # installed with scikit-learn

    return threadpool_limits(limits=1, user_api="openmp")


def classifier_test(encoding: Encoding, reference: _F, current: _F, options: MultivariateOptions,
                    rng: np.random.Generator) -> MultivariateResult:
    """Held-out AUC of reference (label 0) against current (label 1) rows, coded (:meth:`Encoding.coded`).

    ``reference`` is the fit's hash-ordered sample; ``current`` every row of the window.
    """
    n_cur_all = current.shape[0]
    current = current[lowest(row_hashes(current, options.seed), options.max_rows)]
    for name, rows in (("reference", reference), ("current", current)):
        if rows.shape[0] < MIN_ROWS:
            raise InsufficientData(f"{name} has {rows.shape[0]} rows; domain_classifier needs at least {MIN_ROWS}",
                                   needed=MIN_ROWS, got=int(rows.shape[0]))
    n0, n1 = reference.shape[0], current.shape[0]
    x = np.concatenate([reference, current])
    y = np.arange(n0 + n1) >= n0
    is_cat = np.zeros(x.shape[1], dtype=bool)
    is_cat[len(encoding.numerical):] = True
    fitted: list[tuple[object, _F]] = []

    def score(train: _I, test: _I) -> _F:
        model, binned, scores = fit_scores(x, y, is_cat, train, test, options.seed)
        fitted.append((model, binned))
        return scores

    outcome = holdout_auc(n0, n1, score, alpha=options.alpha, floor=options.auc_floor, what="domain_classifier")
    drifted = outcome.auc > outcome.threshold
    top: tuple[FeatureScore, ...] = ()
    if drifted:
        model, binned = fitted[0]
        top = _importance(encoding, model, binned[holdout_of(n0, n1)], y[holdout_of(n0, n1)], options, rng,
                          outcome.auc)
    warnings = []
    if n_cur_all > n1:
        warnings.append(f"the classifier used {n1:,} of the window's {n_cur_all:,} rows (max_rows)")
    return MultivariateResult(method=MultivariateMethod.DOMAIN_CLASSIFIER, statistic=outcome.auc,
                              threshold=outcome.threshold, p_value=outcome.p_value, drifted=drifted,
                              top_features=top, warnings=tuple(warnings), n_reference=n0, n_current=n_cur_all)


def _importance(encoding: Encoding, model: object, x: _F, y: NDArray[np.bool_], options: MultivariateOptions,
                rng: np.random.Generator, auc: float) -> tuple[FeatureScore, ...]:
    """The AUC lost when each feature is shuffled among the scored rows (one seeded shuffle per feature)."""
    lost = np.zeros(x.shape[1])
    pairs = float(y.sum()) * float(y.size - y.sum())
    for j in range(x.shape[1]):  # one pass per feature, vectorised over rows
        shuffled = x.copy()
        shuffled[:, j] = shuffled[rng.permutation(y.size), j]
        u, _, _ = fold_auc(model.predict_proba(shuffled)[:, 1], y)  # type: ignore[attr-defined]
        lost[j] = auc - u / pairs
    order = sorted(range(lost.size), key=lambda j: (-lost[j], encoding.features[j]))
    return tuple(FeatureScore(feature=encoding.features[j], score=float(lost[j])) for j in order[:options.top]
                 if lost[j] > 0)
