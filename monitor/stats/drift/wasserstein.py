"""Normed Wasserstein (earth mover's) distance between two numeric samples."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from monitor.stats._validate import check_threshold
from monitor.stats.sample import SortedSample, merge_ecdf
from monitor.stats.types import DriftMethod, DriftResult, distance_drifted

__all__ = ["wasserstein"]

#: Floor of the normalising standard deviation, so a constant reference does not divide by 0.
_MIN_SCALE = 0.001


def wasserstein(
    reference: ArrayLike | SortedSample,
    current: ArrayLike | SortedSample,
    *,
    threshold: float = 0.1,
) -> DriftResult:
    """First Wasserstein distance, in units of the reference's standard deviation.

    The Wasserstein-1 distance is the area between the two empirical CDFs: how far, on
    average, mass has to move to turn one sample into the other. Unlike a p-value it does
    not shrink towards "drift" as samples grow, so it suits large windows. Dividing by the
    reference's population standard deviation (``ddof=0``, floored at 0.001) makes the
    threshold unit-free; this is Evidently's ``wasserstein`` measure, with its default 0.1.

    The area is computed from a linear merge of the two sorted samples
    (:func:`~monitor.stats.sample.merge_ecdf`); it equals
    ``scipy.stats.wasserstein_distance(reference, current)``.

    Parameters
    ----------
    reference, current : array_like or SortedSample
        The two samples; NaN and ±inf are dropped. A :class:`SortedSample` is used as is.
    threshold : float, default 0.1
        Drift is reported when the normed distance is ``>= threshold``.

    Returns
    -------
    DriftResult
        ``statistic`` is the normed distance (>= 0); ``p_value`` is ``None``.

    Raises
    ------
    ValueError
        If ``threshold`` is negative or not finite, or a sample is not one-dimensional.
    InsufficientData
        If either sample has no finite value.

    Examples
    --------
    >>> result = wasserstein(np.arange(100.0), np.arange(100.0) + 50)
    >>> round(result.statistic, 6), result.drifted
    (1.732137, True)
    >>> wasserstein([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]).statistic
    0.0
    """
    threshold = check_threshold(threshold)
    ref = SortedSample.of(reference, "reference")
    cur = SortedSample.of(current, "current")
    e = merge_ecdf(ref, cur)
    # Between consecutive merged values both ECDFs are flat; inside a run of ties the step
    # width is 0, so the partial ECDF values there contribute nothing.
    gap = e.cdf_reference[:-1] - e.cdf_current[:-1]
    np.abs(gap, out=gap)
    distance = float(np.vecdot(gap, np.diff(e.merged)))
    statistic = distance / max(float(np.std(ref.values)), _MIN_SCALE)
    return DriftResult(
        method=DriftMethod.WASSERSTEIN,
        statistic=statistic,
        p_value=None,
        threshold=threshold,
        drifted=distance_drifted(DriftMethod.WASSERSTEIN, statistic, threshold),
        n_reference=ref.size,
        n_current=cur.size,
    )
