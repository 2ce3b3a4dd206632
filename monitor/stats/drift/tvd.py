"""Total variation distance between two aligned count vectors."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from monitor.stats._validate import check_threshold, counts_pair
from monitor.stats.drift._counts import distance_result
from monitor.stats.types import DriftMethod, DriftResult

__all__ = ["tvd"]


def tvd(reference: ArrayLike, current: ArrayLike, *, threshold: float = 0.1) -> DriftResult:
    """Total variation distance: the largest difference in probability any event can have.

    With ``p`` and ``q`` the reference and current shares per category (counts divided by
    their totals), ``TVD = 0.5 * sum(|p - q|)``, which lies in [0, 1]: 0 for identical
    shares, 1 for disjoint supports. It equals the share of the current window that would
    have to change category to match the reference. Evidently's ``TVD`` turns this distance
    into a permutation-test p-value; here it is reported as a distance with a threshold.

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
    >>> result = tvd([50, 50], [30, 70])
    >>> round(result.statistic, 12), result.drifted
    (0.2, True)
    >>> tvd([1, 0], [0, 1]).statistic
    1.0
    """
    threshold = check_threshold(threshold)
    ref, cur = counts_pair(reference, current)
    distance = float(0.5 * np.abs(ref / ref.sum() - cur / cur.sum()).sum())
    return distance_result(DriftMethod.TVD, distance, threshold, ref, cur)
