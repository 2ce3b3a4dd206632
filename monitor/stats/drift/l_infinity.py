"""L-infinity distance (largest per-category share difference) between aligned counts."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from monitor.stats._validate import check_threshold, counts_pair
from monitor.stats.drift._counts import distance_result
from monitor.stats.types import DriftMethod, DriftResult

__all__ = ["l_infinity"]


def l_infinity(reference: ArrayLike, current: ArrayLike, *, threshold: float = 0.1) -> DriftResult:
    """L-infinity distance: the largest change in any single category's share.

    With ``p`` and ``q`` the reference and current shares per category (counts divided by
    their totals), the distance is ``max(|p - q|)``, in [0, 1]. Unlike the total variation
    distance it does not grow when a shift is spread over many categories, so it answers
    "did any one category move by more than ``threshold``?", which suits alerting on
    high-cardinality columns.

    Parameters
    ----------
    reference, current : array_like
        Non-negative counts per category (or histogram bin), aligned on the same categories.
    threshold : float, default 0.1
        Drift is reported when the distance is ``>= threshold``.

    Returns
    -------
    DriftResult
        ``statistic`` is the distance; ``p_value`` is ``None``.

    Raises
    ------
    ValueError
        If ``threshold`` is negative or not finite, or the counts are misaligned, negative
        or not finite.
    InsufficientData
        If either side's counts sum to zero.

    Examples
    --------
    >>> result = l_infinity([50, 30, 20], [30, 30, 40])
    >>> round(result.statistic, 12), result.drifted
    (0.2, True)
    >>> l_infinity([5, 5], [5, 5]).drifted
    False
    """
    threshold = check_threshold(threshold)
    ref, cur = counts_pair(reference, current)
    distance = float(np.abs(ref / ref.sum() - cur / cur.sum()).max())
    return distance_result(DriftMethod.L_INFINITY, distance, threshold, ref, cur)
