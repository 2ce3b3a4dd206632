"""The report's order of columns: most drifted first, by how far each is past its own threshold.

Columns are tested by different methods on different scales (a KS p-value, a PSI, a Wasserstein
distance), so neither the statistic nor the p-value orders them across methods. Each verdict
compares one number with one threshold, so the report ranks by that comparison, made unitless
(:func:`exceedance`):

* a distance (PSI, Wasserstein, Jensen-Shannon, …): ``statistic / threshold``;
* a p-value test (KS, chi-square, …): ``log(p) / log(alpha)``, i.e. ``-log p`` over
  ``-log alpha``, on the adjusted p-value when a correction was applied. ``p = alpha`` gives 1,
  each factor of ``alpha`` below it adds 1 (``p = alpha**3`` gives 3) and ``p = 0`` gives
  infinity. The plain ratio ``alpha / p`` would order the same way on one alpha but explodes
  into the hundreds of orders of magnitude on large windows; the logarithm keeps the figure
  readable and still orders "most drifted first".

Both read "1 is the threshold, above 1 is past it". The order is then: drifted columns, then
the other tested columns, then the columns that were not tested, each group by exceedance
(highest first; ties, such as several ``p = 0``, by effect over effect floor, then by name).
Grouping by the stored verdict first means the order never contradicts the verdict, even where
the verdict needs more than the exceedance (the calibrated rule also asks for an effect floor).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from monitor.domain import FeatureResult
from monitor.stats.check import Status
from monitor.stats.types import P_VALUE_METHODS

__all__ = ["by_drift", "exceedance"]


def exceedance(result: FeatureResult) -> float | None:
    """How far ``result`` is past its threshold (1 is the threshold), or ``None`` when it cannot say.

    Examples
    --------
    >>> from dataclasses import replace
    >>> from monitor.domain import Role
    >>> from monitor.stats.check import ColumnResult
    >>> from monitor.stats.types import DriftMethod
    >>> base = ColumnResult(column="x", type=None, method=DriftMethod.PSI, reason="", statistic=0.3,
    ...                     p_value=None, adjusted_p_value=None, threshold=0.1, drifted=True, status=Status.OK,
    ...                     n_reference=1, n_current=1, missing_reference=0, missing_current=0,
    ...                     missing_p_value=None, missing_drifted=False)
    >>> round(exceedance(FeatureResult.of(base, Role.FEATURE)), 6)
    3.0
    >>> ks = replace(base, method=DriftMethod.KS, p_value=0.05 ** 3, threshold=0.05)
    >>> round(exceedance(FeatureResult.of(ks, Role.FEATURE)), 6)
    3.0
    """
    if result.status is not Status.OK or result.method is None or result.threshold is None:
        return None
    if result.method in P_VALUE_METHODS:
        p = result.adjusted_p_value if result.adjusted_p_value is not None else result.p_value
        alpha = result.alpha if result.alpha is not None else result.threshold
        if p is None or not 0.0 < alpha < 1.0 or math.isnan(p):
            return None
        return math.inf if p <= 0.0 else math.log(p) / math.log(alpha)
    if result.statistic is None or math.isnan(result.statistic) or result.threshold <= 0.0:
        return None
    return result.statistic / result.threshold


def _effect_ratio(result: FeatureResult) -> float:
    if result.effect is None or result.effect_floor is None or result.effect_floor <= 0 or math.isnan(result.effect):
        return -math.inf
    return result.effect / result.effect_floor


def _key(result: FeatureResult) -> tuple[int, float, float, str]:
    group = 0 if result.drifted else (1 if result.status is Status.OK else 2)
    score = exceedance(result)
    return group, -(score if score is not None else -math.inf), -_effect_ratio(result), result.column


def by_drift(features: Sequence[FeatureResult]) -> list[FeatureResult]:
    """``features`` most drifted first (the rule in this module's docstring)."""
    return sorted(features, key=_key)
