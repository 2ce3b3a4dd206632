"""Multivariate drift: tests of the features' joint distribution that per-column tests miss.

``pca_reconstruction`` (NannyML's data reconstruction error), ``domain_classifier`` (a gradient
boosted classifier's held-out ROC AUC) and ``mmd`` (kernel maximum mean discrepancy on random
Fourier features). Each returns a :class:`MultivariateResult` with the calibrated rule: a null
drawn from the reference at the window's size, and an effect floor. Fit once
(:func:`fit_multivariate`), test many (:func:`multivariate_check`). See docs/statistics.md,
"Multivariate drift".

Examples
--------
>>> import numpy as np, pandas as pd
>>> from monitor.stats.multivariate import fit_multivariate, multivariate_check
>>> rng = np.random.default_rng(0)
>>> a = rng.normal(size=2000)
>>> ref = pd.DataFrame({"x": a, "y": a + 0.3 * rng.normal(size=2000)})
>>> b = rng.normal(size=500)
>>> flipped = pd.DataFrame({"x": b, "y": -b + 0.3 * rng.normal(size=500)})   # same marginals
>>> fitted = fit_multivariate(ref, numerical=["x", "y"], methods=["pca_reconstruction"])
>>> [r.drifted for r in multivariate_check(fitted, flipped)]
[True]
>>> [r.drifted for r in multivariate_check(fitted, ref)]
[False]
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor.stats.multivariate.fit import MultivariateReference, fit_multivariate, multivariate_check
    from monitor.stats.multivariate.types import (
        FeatureScore,
        MultivariateMethod,
        MultivariateOptions,
        MultivariateResult,
    )

# Loaded on first use, so the command line can name the methods without importing pandas or SciPy.
_WHERE = {
    **dict.fromkeys(["MultivariateReference", "fit_multivariate", "multivariate_check"], "monitor.stats.multivariate.fit"),
    **dict.fromkeys(["FeatureScore", "MultivariateMethod", "MultivariateOptions", "MultivariateResult"],
                    "monitor.stats.multivariate.types"),
}

__all__ = [
    "FeatureScore",
    "MultivariateMethod",
    "MultivariateOptions",
    "MultivariateReference",
    "MultivariateResult",
    "fit_multivariate",
    "multivariate_check",
]
assert sorted(__all__) == sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'monitor.stats.multivariate' has no attribute {name!r}")
    return getattr(importlib.import_module(_WHERE[name]), name)
