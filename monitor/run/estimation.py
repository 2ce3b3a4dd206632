"""Performance estimated before the labels arrive, as a run computes it (CBPE or DLE).

Fitted with the reference (:func:`fit_estimators`, called by ``fit_reference``) and applied to the
whole window by :func:`estimate_window`: every row with a prediction counts, labelled or not; the
realized value is over the rows whose labels have arrived, with the label coverage and the status
(``estimated`` -> ``partial`` -> ``realized``). Late labels recompute it (``monitor.run.labels``).
Rows without a prediction are not part of the estimate (``n_rows`` counts the rows estimated on).
"""

from __future__ import annotations

import logging
import threading
from dataclasses import replace

import numpy as np
import pandas as pd

from monitor.domain import EstimateMethod, Monitor, estimate_method, with_concept_flag
from monitor.errors import InputError, InsufficientData
from monitor.run.bundle import ReferenceBundle, fit_bundle_cbpe
from monitor.stats.estimation.cbpe import estimate
from monitor.stats.estimation.dle import estimate_dle, fit_dle
from monitor.stats.estimation.types import Estimate

__all__ = ["estimate_window", "fit_estimators", "method_of"]

logger = logging.getLogger(__name__)


def method_of(monitor: Monitor) -> EstimateMethod:
    """The monitor's estimation method (``performance.estimate``, or its default)."""
    s = monitor.schema
    return estimate_method(s.task, s.prediction_score, s.target, monitor.performance.estimate)


def fit_estimators(monitor: Monitor, frame: pd.DataFrame, bundle: ReferenceBundle) -> ReferenceBundle:
    """``bundle`` with the monitor's estimator fitted on the reference ``frame`` (conformed).

    A reference it cannot be fitted on (no labels or scores, fewer than 100 labelled rows, a single
    class, a multiclass model with one score column) keeps no estimator: the reason is logged, the
    reference is still used for drift, and its runs carry no estimate. (Refusing it would also stop
    a dynamic reference whose window has no labels yet.)
    """
    method = method_of(monitor)
    try:
        if method is EstimateMethod.CBPE and bundle.labelled:
            return replace(bundle, cbpe=fit_bundle_cbpe(bundle), _memo={}, _lock=threading.Lock())
        if method is EstimateMethod.DLE and bundle.labelled:
            s = monitor.schema
            assert s.target is not None
            return replace(bundle, dle=fit_dle(frame[list(s.features)], frame[s.target].to_numpy(),
                                               frame[s.prediction].to_numpy(), seed=0),
                           _memo={}, _lock=threading.Lock())
        if method is not EstimateMethod.NONE:
            raise InsufficientData("the reference has no labels", needed=1, got=0)
    except (InputError, InsufficientData) as exc:
        logger.warning("monitor %s: %s not fitted on the reference, its runs estimate no performance: %s",
                       monitor.name, str(method).upper(), exc)
    return bundle


def estimate_window(monitor: Monitor, bundle: ReferenceBundle, frame: pd.DataFrame, *,
                    concept_drift: bool | None) -> tuple[Estimate, ...]:
    """The window's estimated performance, one :class:`Estimate` per metric (empty: none).

    ``frame`` is conformed (``monitor.run.evaluate.conform``); ``concept_drift`` is the run's
    concept verdict, which flags every estimate untrustworthy when true.
    """
    method = method_of(monitor)
    if method is EstimateMethod.NONE or len(frame) == 0:
        return ()
    s = monitor.schema
    if s.prediction not in frame.columns:
        return ()
    frame = frame.loc[frame[s.prediction].notna()]
    if len(frame) == 0:
        return ()
    try:
        return with_concept_flag(_estimates(method, bundle, monitor, frame), concept_drift)
    except InputError as exc:  # e.g. a feature DLE needs is missing: the drift verdict still stands
        logger.warning("monitor %s: no estimated performance for this window: %s", monitor.name, exc)
        return ()


def _estimates(method: EstimateMethod, bundle: ReferenceBundle, monitor: Monitor, frame: pd.DataFrame) -> list[Estimate]:
    s = monitor.schema
    y_true = frame[s.target].to_numpy(dtype=object) if s.target and s.target in frame.columns else None
    if method is EstimateMethod.CBPE:
        model = bundle.cbpe_model()
        if model is None:
            return []
        score = None
        if s.prediction_score and s.prediction_score in frame.columns:
            score = pd.to_numeric(frame[s.prediction_score], errors="coerce").to_numpy(dtype=np.float64)
        return estimate(model, frame[s.prediction].to_numpy(dtype=object), score, y_true=y_true)
    else:
        if bundle.dle is None:
            return []
        truth = None if y_true is None else pd.to_numeric(frame[s.target], errors="coerce").to_numpy(np.float64)
        return estimate_dle(bundle.dle, frame, frame[s.prediction].to_numpy(), y_true=truth)
