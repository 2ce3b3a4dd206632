"""The automatic method choice: Evidently 0.7.23's table, or the calibrated one.

Under ``compat=evidently`` the choice is exactly Evidently's ``_get_default_stattest``:

By the number of non-missing reference values and the distinct non-missing values of both
windows pooled:

========================  ==============================  ==========================
reference values          numerical                       categorical
========================  ==============================  ==========================
<= 1000                   ks (> 5 distinct),              chi_square (> 2 distinct),
                          chi_square (3-5), z_test (<= 2) z_test (<= 2)
> 1000                    wasserstein (> 5 distinct),     jensen_shannon
                          jensen_shannon (<= 5)
========================  ==============================  ==========================

A numerical column with at most five distinct values is tested on its values as categories.
Thresholds: 0.05 for p-value tests, 0.1 for distances. One deliberate difference: our
``chi_square`` is a two-sample contingency test (see docs/statistics.md).

Under ``compat=calibrated`` (the default) the choice does not depend on the reference size,
because a switch of method at 1000 rows is a switch of false-alarm rate at 1000 rows:
``wasserstein`` for numerical columns with more than five distinct values, ``jensen_shannon``
for the others (tested as categories), ``kuiper`` for circular columns. Their thresholds are
calibrated to both window sizes (:mod:`monitor.stats.calibration`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from monitor.stats.types import P_VALUE_METHODS, ColumnType, Compat, DriftMethod

__all__ = ["AutoChoice", "LARGE_REFERENCE", "FEW_DISTINCT", "choose_method", "default_threshold"]

#: Above this many reference values distances replace p-value tests.
LARGE_REFERENCE = 1000
#: Numerical columns with at most this many distinct values are tested as categories.
FEW_DISTINCT = 5


@dataclass(frozen=True, slots=True, kw_only=True)
class AutoChoice:
    """The chosen method, whether values are tested as categories, and why."""

    method: DriftMethod
    as_categories: bool
    reason: str


def default_threshold(method: DriftMethod) -> float:
    """Evidently's defaults: alpha 0.05 for p-value tests, 0.1 for distances."""
    return 0.05 if method in P_VALUE_METHODS else 0.1


#: Under the calibrated rule, a numerical reference whose central 99.8% spans more than this many
#: interquartile ranges is heavy-tailed (a normal spans 4.6, a log-normal with sigma 0.7 spans 8.7,
#: sigma 1 spans 15, Student's t with 2 degrees of freedom 27).
HEAVY_TAIL_SPAN = 10.0


def tail_span(sorted_values: NDArray[np.float64]) -> float:
    """``(q99.9 - q0.1) / IQR`` of a sorted sample (``inf`` when the IQR is 0, e.g. zero-inflated).

    Why: Wasserstein's null is simulated by resampling the reference, which knows nothing of the
    population's tail beyond its own extremes; on heavy tails that null is too narrow and false
    alarms exceed alpha (measured: 8-13% at alpha 0.05 for Student t df 2, 100-1000 rows). Heavy-tailed
    columns get KS instead, whose null is distribution-free.

    Examples
    --------
    >>> round(tail_span(np.sort(np.random.default_rng(0).normal(size=100_000))), 1)
    4.6
    """
    n = sorted_values.size
    if n < 4:
        return 0.0
    q = sorted_values[np.round(np.array([0.001, 0.25, 0.75, 0.999]) * (n - 1)).astype(np.int64)]
    iqr = float(q[2] - q[1])
    return math.inf if iqr <= 0 else float(q[3] - q[0]) / iqr


def choose_method(column_type: ColumnType, n_reference: int, n_distinct: int,
                  compat: Compat = Compat.EVIDENTLY, *, span: float = 0.0) -> AutoChoice:
    """Pick the method for a column from its type, reference size and pooled distinct values.

    ``span`` is the reference's :func:`tail_span` (used by the calibrated choice only).

    Examples
    --------
    >>> choose_method(ColumnType.NUMERICAL, 5000, 300).method
    <DriftMethod.WASSERSTEIN: 'wasserstein'>
    >>> choose_method(ColumnType.CATEGORICAL, 800, 2).reason
    'categorical, 800 reference values <= 1000, 2 distinct values: z_test'
    >>> choose_method(ColumnType.NUMERICAL, 800, 300, Compat.CALIBRATED).reason
    'numerical, 300 distinct values > 5: wasserstein (calibrated)'
    """
    if column_type is ColumnType.CIRCULAR:
        return AutoChoice(method=DriftMethod.KUIPER, as_categories=False,
                          reason="circular: kuiper (rotation-invariant)")
    if compat is Compat.CALIBRATED:
        if column_type is ColumnType.NUMERICAL and n_distinct > FEW_DISTINCT and span > HEAVY_TAIL_SPAN:
            return AutoChoice(method=DriftMethod.KS, as_categories=False,
                              reason=f"numerical, heavy-tailed (tail span {span:.3g} IQRs > {HEAVY_TAIL_SPAN:g}): "
                                     "ks (calibrated; its null is distribution-free)")
        if column_type is ColumnType.NUMERICAL and n_distinct > FEW_DISTINCT:
            return AutoChoice(method=DriftMethod.WASSERSTEIN, as_categories=False,
                              reason=f"numerical, {n_distinct} distinct values > {FEW_DISTINCT}: "
                                     "wasserstein (calibrated)")
        kind = "categorical" if column_type is ColumnType.CATEGORICAL else \
            f"numerical with <= {FEW_DISTINCT} distinct values, tested as categories"
        return AutoChoice(method=DriftMethod.JENSEN_SHANNON, as_categories=True,
                          reason=f"{kind}, {n_distinct} distinct values: jensen_shannon (calibrated)")
    small = n_reference <= LARGE_REFERENCE
    size = f"{n_reference} reference values {'<=' if small else '>'} {LARGE_REFERENCE}"
    if column_type is ColumnType.NUMERICAL and n_distinct > FEW_DISTINCT:
        method = DriftMethod.KS if small else DriftMethod.WASSERSTEIN
        return AutoChoice(
            method=method,
            as_categories=False,
            reason=f"numerical, {size}, {n_distinct} distinct values > {FEW_DISTINCT}: {method}",
        )
    if small:
        method = DriftMethod.CHI_SQUARE if n_distinct > 2 else DriftMethod.Z_TEST
    else:
        method = DriftMethod.JENSEN_SHANNON
    kind = (
        "categorical"
        if column_type is ColumnType.CATEGORICAL
        else f"numerical with <= {FEW_DISTINCT} distinct values, tested as categories"
    )
    return AutoChoice(
        method=method,
        as_categories=True,
        reason=f"{kind}, {size}, {n_distinct} distinct values: {method}",
    )
