"""Performance estimated before the labels arrive: CBPE for classifiers, DLE for regressors.

Fit once on the labelled reference, estimate every window::

    model = fit_cbpe(y_true, y_pred, y_score)            # frozen, plain values (to_dict / from_dict)
    estimates = estimate(model, y_pred, y_score)         # one Estimate per metric
    dle = fit_dle(features, y_true, y_pred)              # needs the `estimate` extra (scikit-learn)
    estimates = estimate_dle(dle, features, y_pred)

Names load on first use (as in :mod:`monitor.stats`), so importing this package imports neither
SciPy nor scikit-learn; DLE imports scikit-learn only when it fits.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor.stats.estimation.calibration import CalibrationMethod, Calibrator
    from monitor.stats.estimation.cbpe import CbpeModel, estimate, fit_cbpe
    from monitor.stats.estimation.dle import DleModel, estimate_dle, fit_dle
    from monitor.stats.estimation.types import (
        Estimate,
        EstimateMetric,
        EstimateStatus,
        EstimateWarning,
        WarningCode,
        status_of,
        warnings_of,
    )

_WHERE = {
    **dict.fromkeys(["CalibrationMethod", "Calibrator"], "monitor.stats.estimation.calibration"),
    **dict.fromkeys(["CbpeModel", "estimate", "fit_cbpe"], "monitor.stats.estimation.cbpe"),
    **dict.fromkeys(["DleModel", "estimate_dle", "fit_dle"], "monitor.stats.estimation.dle"),
    **dict.fromkeys(["Estimate", "EstimateMetric", "EstimateStatus", "EstimateWarning", "WarningCode", "status_of",
                     "warnings_of"], "monitor.stats.estimation.types"),
}

__all__ = [
    "CalibrationMethod",
    "Calibrator",
    "CbpeModel",
    "DleModel",
    "Estimate",
    "EstimateMetric",
    "EstimateStatus",
    "EstimateWarning",
    "WarningCode",
    "estimate",
    "estimate_dle",
    "fit_cbpe",
    "fit_dle",
    "status_of",
    "warnings_of",
]
assert sorted(__all__) == sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'monitor.stats.estimation' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
