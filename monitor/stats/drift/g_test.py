"""The G-test (likelihood-ratio test of homogeneity) for two aligned count vectors."""

from __future__ import annotations

from numpy.typing import ArrayLike

from monitor.stats._validate import check_alpha, counts_pair
from monitor.stats.drift._counts import contingency_test
from monitor.stats.types import DriftMethod, DriftResult

__all__ = ["g_test"]


def g_test(reference: ArrayLike, current: ArrayLike, *, alpha: float = 0.05) -> DriftResult:
    """Two-sample G-test: a likelihood-ratio test that both count vectors share a distribution.

    The counts form a 2 x k contingency table (reference and current rows) and the
    log-likelihood ratio statistic ``G = 2 * sum(O * ln(O / E))`` of independence is
    compared with a chi-square distribution on k - 1 degrees of freedom, with no continuity
    correction. Categories empty on both sides are dropped first; if a single category
    remains the result is statistic 0, p-value 1.

    Like :func:`~monitor.stats.drift.chi_square.chi_square`, and unlike Evidently's
    ``g_test`` (a goodness-of-fit test of the current counts against the reference counts
    taken as exact expectations), this is a true two-sample test whose false-positive rate
    stays near ``alpha`` when nothing drifted.

    Parameters
    ----------
    reference, current : array_like
        Non-negative counts per category (or histogram bin), aligned on the same categories.
    alpha : float, default 0.05
        Significance level in (0, 1); drift is reported when ``p_value < alpha``.

    Returns
    -------
    DriftResult
        ``statistic`` is G; ``p_value`` its chi-square upper-tail probability.

    Raises
    ------
    ValueError
        If ``alpha`` is outside (0, 1) or the counts are misaligned, negative or not finite.
    InsufficientData
        If either side's counts sum to zero.

    References
    ----------
    .. [1] R. R. Sokal and F. J. Rohlf, *Biometry*, 3rd ed., W. H. Freeman (1995), ch. 17.

    Examples
    --------
    >>> result = g_test([50, 50], [30, 70])
    >>> round(result.statistic, 4), round(result.p_value, 4), result.drifted
    (8.4024, 0.0037, True)
    >>> g_test([5, 5, 0], [5, 5, 0]).drifted
    False
    """
    alpha = check_alpha(alpha)
    ref, cur = counts_pair(reference, current)
    return contingency_test(ref, cur, alpha, DriftMethod.G_TEST, lambda_="log-likelihood")
