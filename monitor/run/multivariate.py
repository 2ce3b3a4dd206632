"""A monitor's multivariate methods in the run: fitted with its reference, tested on each window.

The fit (:class:`~monitor.stats.multivariate.MultivariateReference`) is kept in the
:class:`~monitor.run.bundle.ReferenceBundle`, so it is stored with the reference version and
read back with it, never refitted per run. A ``file`` reference is refitted at start when the
methods change (the bundle's content hash names them, monitor.run.bundle); an uploaded one fitted
before the monitor named any method has no fit: its runs carry no multivariate results until a
reference is uploaded again (docs/configuration.md).
"""

from __future__ import annotations

import pandas as pd

from monitor.domain import Monitor
from monitor.errors import InsufficientData
from monitor.stats.multivariate import MultivariateReference, MultivariateResult, fit_multivariate, multivariate_check

__all__ = ["evaluate_multivariate", "fit_monitor_multivariate"]


def fit_monitor_multivariate(monitor: Monitor, frame: pd.DataFrame) -> MultivariateReference | None:
    """The monitor's multivariate fit on its (conformed) reference frame; ``None`` when it names no method."""
    if not monitor.multivariate:
        return None
    s = monitor.schema
    return fit_multivariate(frame, numerical=list(s.numerical), categorical=list(s.categorical),
                            methods=monitor.multivariate)


def evaluate_multivariate(monitor: Monitor, fitted: MultivariateReference | None,
                          frame: pd.DataFrame) -> tuple[MultivariateResult, ...]:
    """Each configured (and fitted) method's result on the window; a method the window is too small for is left out."""
    if fitted is None or not monitor.multivariate:
        return ()
    out: list[MultivariateResult] = []
    for method in monitor.multivariate:
        if method not in fitted.methods:
            continue
        try:
            out.extend(multivariate_check(fitted, frame, [method]))
        except InsufficientData:
            continue
    return tuple(out)
