"""Population stability index between two aligned count vectors."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from monitor.stats._validate import check_threshold, counts_pair
from monitor.stats.drift._counts import distance_result, smoothed_shares
from monitor.stats.types import DriftMethod, DriftResult

__all__ = ["psi"]


def psi(
    reference: ArrayLike,
    current: ArrayLike,
    *,
    threshold: float = 0.1,
    smoothing: float = 0.5,
) -> DriftResult:
    """Population stability index: the symmetrised Kullback-Leibler divergence of the shares.

    With ``p`` and ``q`` the reference and current shares per category (or bin),
    ``PSI = sum((p - q) * ln(p / q)) = KL(p || q) + KL(q || p)``. Common rules of thumb read
    PSI < 0.1 as stable, 0.1 to 0.25 as a moderate shift and > 0.25 as a major one.

    An empty bin makes PSI infinite, so the shares are taken after adding ``smoothing`` to
    every bin's count on both sides (additive smoothing; the default 0.5 is the Jeffreys
    prior for multinomial shares). The smoothing is part of the result's definition, so it is
    an explicit, documented argument. Evidently instead replaces zero shares with 1e-4 (or
    a millionth of the smallest nonzero share), a fill that ignores the sample size and lets
    one empty bin dominate the index; its values therefore differ from these wherever a bin
    is empty on either side, and agree (with ``smoothing=0``) when none is.

    Parameters
    ----------
    reference, current : array_like
        Non-negative counts per category (or histogram bin), aligned on the same categories.
    threshold : float, default 0.1
        Drift is reported when the index is ``>= threshold``.
    smoothing : float, default 0.5
        Pseudo-count added to every bin on both sides before taking shares; ``>= 0``.
        With 0, every bin must be non-empty on both sides.

    Returns
    -------
    DriftResult
        ``statistic`` is the index (>= 0); ``p_value`` is ``None``. ``n_reference`` and
        ``n_current`` are the observed totals, without the pseudo-counts.

    Raises
    ------
    ValueError
        If ``smoothing`` is negative or not finite, or 0 while a bin is empty; if
        ``threshold`` is negative or not finite; if the counts are misaligned, negative or
        not finite.
    InsufficientData
        If either side's counts sum to zero.

    References
    ----------
    .. [1] B. Yurdakul, "Statistical properties of population stability index", PhD thesis,
       Western Michigan University (2018).

    Examples
    --------
    >>> result = psi([50, 50], [30, 70])
    >>> round(result.statistic, 4), result.drifted
    (0.1659, True)
    >>> round(psi([50, 50], [30, 70], smoothing=0).statistic, 4)
    0.1695
    >>> round(psi([60, 40, 0], [50, 45, 5]).statistic, 4)
    0.1417
    """
    threshold = check_threshold(threshold)
    ref, cur = counts_pair(reference, current)
    p = smoothed_shares(ref, smoothing, "reference", DriftMethod.PSI)
    q = smoothed_shares(cur, smoothing, "current", DriftMethod.PSI)
    # Each term is >= 0 (p - q and ln(p / q) share their sign), so the sum is too.
    index = float(((p - q) * np.log(p / q)).sum())
    return distance_result(DriftMethod.PSI, index, threshold, ref, cur)

