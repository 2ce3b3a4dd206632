"""DLE (direct loss estimation): a regressor's MAE and RMSE estimated without labels.

Fitted once on the labelled reference (:func:`fit_dle`): two error models, scikit-learn's
``HistGradientBoostingRegressor`` (seeded, early stopping on a 10% validation split), learn the
absolute error ``|y - ŷ|`` and the squared
error ``(y - ŷ)²`` from the features and the prediction. On a window (:func:`estimate_dle`) the
estimated MAE is the mean predicted absolute error and the estimated RMSE the root of the mean
predicted squared error (negative predictions clipped to 0, as NannyML does). The band is
``estimate ± 3 SE`` clipped at 0, SE the realized metric's chunk-to-chunk spread on the reference at
the window's size (``_sampling``). Like CBPE, DLE assumes **no concept shift**: the error models
learned how wrong the model is where; if P(y | x) changes they no longer know.

Categorical features (object, string, category or bool columns) are coded by the reference's
categories (an unseen value becomes missing, which the trees route, and draws an ``unseen_category``
warning); a column with more than 255 categories is passed as its integer codes.

scikit-learn is the optional ``estimate`` extra: it is imported when DLE runs, and a missing
install raises :class:`~monitor.errors.MissingExtra` naming ``pip install 'driftline[estimate]'``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray

from monitor.errors import InputError, InsufficientData, MissingExtra
from monitor.stats.estimation._sampling import SamplingTable, fit_sampling_table
from monitor.stats.estimation.types import (
    BAND_SES,
    REALIZED_COVERAGE,
    REGRESSION_METRICS,
    Estimate,
    EstimateMetric,
    EstimateWarning,
    WarningCode,
    status_of,
)

__all__ = ["DleModel", "estimate_dle", "fit_dle"]

MIN_REFERENCE = 100
MIN_GAP_ROWS = 30
_MAX_CATEGORIES = 255


def _sklearn_ensemble() -> ModuleType:
    """scikit-learn's ensemble module, imported on first use: it is the optional ``estimate`` extra."""
    try:
        import sklearn.ensemble
    except ModuleNotFoundError as exc:
        if not (exc.name or "").startswith("sklearn"):
            raise
        raise MissingExtra("DLE (estimated regression performance)", "estimate") from None
    ensemble: ModuleType = sklearn.ensemble
    return ensemble


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class DleModel:
    """A fitted DLE estimator. ``abs_model`` and ``sq_model`` are fitted scikit-learn regressors (store
    the model with pickle); the rest are plain values. ``categories`` holds each categorical feature's
    reference categories; ``reference`` the realized MAE and RMSE on the whole reference."""

    features: tuple[str, ...]
    categories: Mapping[str, tuple[str, ...]]
    abs_model: Any
    sq_model: Any
    sampling: SamplingTable
    reference: Mapping[str, float | None]
    n_reference: int
    seed: int


def _is_categorical(column: pd.Series) -> bool:
    return not pd.api.types.is_numeric_dtype(column) or pd.api.types.is_bool_dtype(column)


def _design(frame: pd.DataFrame, features: tuple[str, ...], categories: Mapping[str, tuple[str, ...]],
            y_pred: NDArray[np.float64]) -> tuple[NDArray[np.float64], dict[str, int]]:
    """The error models' inputs (features, then the prediction) and each categorical's unseen count."""
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise InputError(f"the data has no feature column {missing[0]!r}", field=missing[0])
    cols, unseen = [], {}
    for f in features:
        if f in categories:
            text = frame[f].astype("string")
            codes = pd.Index(categories[f]).get_indexer(pd.Index(text.fillna("\0missing")))
            codes_f = codes.astype(np.float64)
            new = (codes < 0) & text.notna().to_numpy()
            if new.any():
                unseen[f] = int(new.sum())
            codes_f[codes < 0] = np.nan
            cols.append(codes_f)
        else:
            try:
                cols.append(pd.to_numeric(frame[f]).to_numpy(dtype=np.float64))
            except (TypeError, ValueError) as exc:
                raise InputError(f"feature {f!r} is not numeric in this data", field=f) from exc
    cols.append(y_pred)
    return np.column_stack(cols), unseen


def _prediction(y_pred: ArrayLike, n: int) -> NDArray[np.float64]:
    p = pd.to_numeric(pd.Series(np.asarray(y_pred)), errors="coerce").to_numpy(dtype=np.float64)
    if p.shape != (n,):
        raise InputError(f"y_pred has {p.shape[0]} rows; the features have {n}", field="y_pred")
    bad = np.flatnonzero(~np.isfinite(p))
    if bad.size:
        raise InputError(f"y_pred is missing or not a number at row {bad[0]}", field="y_pred", row=int(bad[0]))
    return p


def _truth(y_true: ArrayLike, n: int) -> NDArray[np.float64]:
    t = pd.to_numeric(pd.Series(np.asarray(y_true, dtype=object)), errors="coerce").to_numpy(dtype=np.float64)
    if t.shape != (n,):
        raise InputError(f"y_true has {t.shape[0]} rows; y_pred has {n}", field="y_true")
    return t


def fit_dle(features: pd.DataFrame, y_true: ArrayLike, y_pred: ArrayLike, *, seed: int = 0) -> DleModel:
    """Fit DLE on a labelled reference: ``features`` (one column per feature), truth and prediction.

    Rows without a label are left out; a missing prediction raises :class:`InputError`. ``seed``
    seeds the boosted trees, so the same reference gives the same model.

    Raises
    ------
    MissingExtra
        scikit-learn is not installed.
    InsufficientData
        Fewer than 100 labelled rows.
    """
    ensemble = _sklearn_ensemble()
    n = len(features)
    p = _prediction(y_pred, n)
    t = _truth(y_true, n)
    labelled = np.flatnonzero(np.isfinite(t))
    if labelled.size < MIN_REFERENCE:
        raise InsufficientData(f"DLE needs at least {MIN_REFERENCE} labelled reference rows, got {labelled.size}",
                               needed=MIN_REFERENCE, got=int(labelled.size))
    frame = features.iloc[labelled]
    names = tuple(str(c) for c in features.columns)
    categories = {f: tuple(sorted(frame[f].dropna().astype("string").unique().tolist()))
                  for f in names if _is_categorical(frame[f])}
    x, _ = _design(frame, names, categories, p[labelled])
    mask = [f in categories and len(categories[f]) <= _MAX_CATEGORIES for f in names] + [False]
    err = t[labelled] - p[labelled]

    def model(target: NDArray[np.float64]) -> Any:
        return ensemble.HistGradientBoostingRegressor(random_state=seed, categorical_features=mask,
                                                      early_stopping=True).fit(x, target)

    abs_err, sq_err = np.abs(err), err ** 2
    m = labelled.size

    def realized(chunk: NDArray[np.intp] | None, n_chunks: int) -> dict[str, NDArray[np.float64]]:
        g = np.zeros(m, dtype=np.intp) if chunk is None else chunk
        rows = slice(0, g.size)
        size = np.bincount(g, minlength=n_chunks).astype(np.float64)
        return {"mae": np.bincount(g, weights=abs_err[rows], minlength=n_chunks) / size,
                "rmse": np.sqrt(np.bincount(g, weights=sq_err[rows], minlength=n_chunks) / size)}

    metric_names = tuple(str(mm) for mm in REGRESSION_METRICS)
    whole = realized(None, 1)
    return DleModel(features=names, categories=categories, abs_model=model(abs_err), sq_model=model(sq_err),
                    sampling=fit_sampling_table(m, metric_names, realized),
                    reference={k: float(v[0]) for k, v in whole.items()}, n_reference=m, seed=seed)


def _estimated(model: DleModel, x: NDArray[np.float64]) -> dict[str, float]:
    abs_hat = np.maximum(model.abs_model.predict(x), 0.0)
    sq_hat = np.maximum(model.sq_model.predict(x), 0.0)
    return {"mae": float(abs_hat.mean()), "rmse": math.sqrt(float(sq_hat.mean()))}


def _band(value: float, se: float | None) -> tuple[float | None, float | None]:
    if se is None:
        return None, None
    return max(0.0, value - BAND_SES * se), value + BAND_SES * se


def estimate_dle(model: DleModel, features: pd.DataFrame, y_pred: ArrayLike, *, y_true: ArrayLike | None = None,
                 concept_drift: bool = False, coverage_threshold: float = REALIZED_COVERAGE) -> list[Estimate]:
    """Estimated MAE and RMSE of one window (one :class:`Estimate` each); ``y_true``, ``concept_drift``
    and the warnings as in :func:`monitor.stats.estimation.cbpe.estimate`."""
    n = len(features)
    if n == 0:
        raise InsufficientData("the window has no rows", needed=1, got=0)
    p = _prediction(y_pred, n)
    x, unseen = _design(features, model.features, model.categories, p)
    warnings = [EstimateWarning(code=WarningCode.UNSEEN_CATEGORY, message=(
        f"{count} of {n} rows have a {f!r} value the reference never had")) for f, count in unseen.items()]
    estimated = _estimated(model, x)
    realized: dict[str, float | None] = dict.fromkeys(estimated, None)
    gap: dict[str, float] = {}
    n_labelled = 0
    if y_true is not None:
        t = _truth(y_true, n)
        labelled = np.isfinite(t)
        n_labelled = int(labelled.sum())
        if n_labelled:
            err = t[labelled] - p[labelled]
            realized = {"mae": float(np.abs(err).mean()), "rmse": math.sqrt(float((err ** 2).mean()))}
        if n_labelled >= MIN_GAP_ROWS:
            gap = _estimated(model, x[labelled])
    if concept_drift:
        warnings.append(EstimateWarning(code=WarningCode.CONCEPT_DRIFT, message=(
            "concept drift was detected: DLE assumes P(y | x) did not change, so the estimate may be wrong")))
    coverage = n_labelled / n
    status = status_of(coverage, threshold=coverage_threshold)
    out = []
    for metric in REGRESSION_METRICS:
        name = str(metric)
        value = estimated[name]
        se = model.sampling.sampling_error(name, n)
        lower, upper = _band(value, se)
        mine = list(warnings)
        if se is None:
            mine.append(EstimateWarning(code=WarningCode.NO_BAND, metric=metric,
                                        message=f"{name}: the reference is too small to measure a band"))
        real = realized[name]
        if name in gap and real is not None:
            lo, hi = _band(gap[name], model.sampling.sampling_error(name, n_labelled))
            if lo is not None and hi is not None and not lo <= real <= hi:
                mine.append(EstimateWarning(code=WarningCode.REALIZED_OUTSIDE_BAND, metric=metric, message=(
                    f"{name}: realized {real:.4g} on the {n_labelled} labelled rows is outside the estimate's band "
                    f"[{lo:.4g}, {hi:.4g}] on the same rows: the estimate is off (concept shift?)")))
        out.append(Estimate(metric=EstimateMetric(name), estimated=value, lower=lower, upper=upper, sampling_error=se,
                            realized=real, n_rows=n, n_estimated=n, n_labelled=n_labelled, coverage=coverage,
                            status=status, warnings=tuple(mine)))
    return out
