"""Kullback-Leibler divergence of the current counts from the reference counts."""

from __future__ import annotations

from numpy.typing import ArrayLike
from scipy import stats

from monitor.stats._validate import check_threshold, counts_pair
from monitor.stats.drift._counts import distance_result, smoothed_shares
from monitor.stats.types import DriftMethod, DriftResult

__all__ = ["kl_div"]


def kl_div(
    reference: ArrayLike,
    current: ArrayLike,
    *,
    threshold: float = 0.1,
    smoothing: float = 0.5,
) -> DriftResult:
    """Kullback-Leibler divergence ``KL(reference || current)`` of the per-bin shares.

    With ``p`` and ``q`` the reference and current shares per category (or bin), the
    divergence is ``sum(p * ln(p / q))`` in nats, computed by :func:`scipy.stats.entropy`.
    It is not symmetric: it weighs changes in the bins that were common in the reference.

    An empty current bin where the reference has mass makes the divergence infinite, so
    the shares are taken after adding ``smoothing`` to every bin's count on both sides
    (additive smoothing; the default 0.5 is the Jeffreys prior for multinomial shares). The
    smoothing is part of the result's definition, so it is an explicit, documented argument.
    Evidently instead replaces zero shares with 1e-4 (or a millionth of the smallest nonzero
    share), a fill that ignores the sample size and lets one empty bin dominate; its values
    therefore differ from these wherever a bin is empty on either side, and agree (with
    ``smoothing=0``) when none is.

    Parameters
    ----------
    reference, current : array_like
        Non-negative counts per category (or histogram bin), aligned on the same categories.
    threshold : float, default 0.1
        Drift is reported when the divergence is ``>= threshold``.
    smoothing : float, default 0.5
        Pseudo-count added to every bin on both sides before taking shares; ``>= 0``.
        With 0, every bin must be non-empty on both sides.

    Returns
    -------
    DriftResult
        ``statistic`` is the divergence (>= 0); ``p_value`` is ``None``. ``n_reference`` and
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
    .. [1] S. Kullback and R. A. Leibler, "On information and sufficiency", Annals of
       Mathematical Statistics 22 (1951).

    Examples
    --------
    >>> result = kl_div([50, 50], [30, 70])
    >>> round(result.statistic, 4), result.drifted
    (0.0853, False)
    >>> round(kl_div([50, 50], [30, 70], smoothing=0).statistic, 4)
    0.0872
    >>> round(kl_div([60, 40, 0], [50, 45, 5]).statistic, 4)
    0.0494
    """
    threshold = check_threshold(threshold)
    ref, cur = counts_pair(reference, current)
    p = smoothed_shares(ref, smoothing, "reference", DriftMethod.KL_DIV)
    q = smoothed_shares(cur, smoothing, "current", DriftMethod.KL_DIV)
    divergence = float(stats.entropy(p, q))
    return distance_result(DriftMethod.KL_DIV, divergence, threshold, ref, cur)

