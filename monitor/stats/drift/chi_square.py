"""Pearson's chi-square test of homogeneity for two aligned count vectors."""

from __future__ import annotations

from numpy.typing import ArrayLike

from monitor.stats._validate import check_alpha, counts_pair
from monitor.stats.drift._counts import contingency_test
from monitor.stats.types import DriftMethod, DriftResult

__all__ = ["chi_square"]


def chi_square(reference: ArrayLike, current: ArrayLike, *, alpha: float = 0.05) -> DriftResult:
    """Two-sample chi-square test: do both count vectors come from the same distribution?

    The counts form a 2 x k contingency table (row 0 the reference, row 1 the current window)
    and Pearson's chi-square test of independence is applied to it, without Yates'
    continuity correction. Categories (or bins) that are empty on both sides carry no
    information and are dropped first; if a single category remains, both samples are
    identical in distribution and the result is statistic 0, p-value 1.

    This is deliberately not Evidently's ``chisquare`` test. Evidently runs a one-sample
    goodness-of-fit test of the current counts against the reference counts rescaled to the
    current size, treating the reference shares as exact. They are themselves an estimate,
    so the statistic is about twice its null distribution when both samples have the same
    size: on undrifted 50-category columns Evidently flags drift in roughly 98% of windows at
    ``alpha=0.05``. The test here accounts for sampling noise on both sides and keeps its
    false-positive rate at ``alpha``.

    Parameters
    ----------
    reference, current : array_like
        Non-negative counts per category (or histogram bin), aligned on the same categories.
    alpha : float, default 0.05
        Significance level in (0, 1); drift is reported when ``p_value < alpha``.

    Returns
    -------
    DriftResult
        ``statistic`` is Pearson's chi-square statistic (k - 1 degrees of freedom, k being
        the number of non-empty categories); ``p_value`` its upper-tail probability.

    Raises
    ------
    ValueError
        If ``alpha`` is outside (0, 1) or the counts are misaligned, negative or not finite.
    InsufficientData
        If either side's counts sum to zero.

    See Also
    --------
    g_test : the likelihood-ratio version of the same test.
    fisher_exact : an exact (or Monte Carlo) test for small counts.

    References
    ----------
    .. [1] K. Pearson, "On the criterion that a given system of deviations from the probable
       in the case of a correlated system of variables is such that it can be reasonably
       supposed to have arisen from random sampling", Philosophical Magazine 50 (1900).

    Examples
    --------
    >>> result = chi_square([50, 50], [30, 70])
    >>> round(result.statistic, 4), round(result.p_value, 4), result.drifted
    (8.3333, 0.0039, True)
    >>> chi_square([10, 0, 30], [20, 0, 60]).p_value
    1.0
    """
    alpha = check_alpha(alpha)
    ref, cur = counts_pair(reference, current)
    return contingency_test(ref, cur, alpha, DriftMethod.CHI_SQUARE)
