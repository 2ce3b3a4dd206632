"""Hellinger distance between two aligned count vectors."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from monitor.stats._validate import check_threshold, counts_pair
from monitor.stats.drift._counts import distance_result
from monitor.stats.types import DriftMethod, DriftResult

__all__ = ["hellinger"]


def hellinger(reference: ArrayLike, current: ArrayLike, *, threshold: float = 0.1) -> DriftResult:
    """Hellinger distance: one minus the overlap (Bhattacharyya coefficient), square-rooted.

    With ``p`` and ``q`` the reference and current shares per category (or bin), the
    distance is ``sqrt(1 - sum(sqrt(p * q)))``, in [0, 1]: 0 for identical shares, 1 for
    disjoint supports. No smoothing is needed.

    It is computed in the equivalent form ``sqrt(sum((sqrt(p) - sqrt(q))**2) / 2)`` (the two
    are equal because ``p`` and ``q`` each sum to 1) and clipped to [0, 1]. Evidently's
    categorical ``hellinger`` evaluates ``1 - sum(sqrt(p * q))`` literally, clipping the sum
    to [0, 1]; the values agree, except that the subtraction cancels when the shares are
    nearly equal, so Evidently reports about 1e-8 for identical shares where this reports 0.

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
    >>> result = hellinger([50, 50], [30, 70])
    >>> round(result.statistic, 4), result.drifted
    (0.1452, True)
    >>> hellinger([3, 0], [0, 7]).statistic
    1.0
    """
    threshold = check_threshold(threshold)
    ref, cur = counts_pair(reference, current)
    squared = 0.5 * float(np.square(np.sqrt(ref / ref.sum()) - np.sqrt(cur / cur.sum())).sum())
    distance = min(math.sqrt(squared), 1.0)
    return distance_result(DriftMethod.HELLINGER, distance, threshold, ref, cur)
