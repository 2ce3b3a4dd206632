"""The two-proportion z-test for a binary column."""

from __future__ import annotations

import math

from numpy.typing import ArrayLike
from scipy import stats

from monitor.stats._validate import check_alpha, counts_pair
from monitor.stats.types import DriftMethod, DriftResult, p_value_drifted

__all__ = ["z_test"]


def z_test(reference: ArrayLike, current: ArrayLike, *, alpha: float = 0.05) -> DriftResult:
    """Two-proportion z-test: has the share of a binary column's first category moved?

    With ``p1`` and ``p2`` the shares of the first category in the reference and current
    counts, ``n1`` and ``n2`` the totals and ``P`` the pooled share,
    ``z = (p1 - p2) / sqrt(P * (1 - P) * (1/n1 + 1/n2))`` and the two-sided p-value is
    ``2 * sf(|z|)`` under the standard normal. ``z**2`` equals the Pearson chi-square statistic
    of the 2 x 2 table, so this is the same test as
    :func:`~monitor.stats.drift.chi_square.chi_square` on two categories, reported as a
    signed z.

    If the pooled share is 0 or 1 (both samples hold the same single value) there is no
    variation to test and the result is statistic 0, p-value 1, as in Evidently. The p-value
    uses the survival function, which stays accurate for tiny p-values where Evidently's
    ``2 * (1 - cdf)`` rounds to 0.

    Parameters
    ----------
    reference, current : array_like
        Counts of the (at most) two categories, aligned: ``[first, second]``.
    alpha : float, default 0.05
        Significance level in (0, 1); drift is reported when ``p_value < alpha``.

    Returns
    -------
    DriftResult
        ``statistic`` is z: positive when the first category's share is higher in the
        reference than in the current window. ``p_value`` is two-sided.

    Raises
    ------
    ValueError
        If there are more than two categories, ``alpha`` is outside (0, 1), or the counts
        are misaligned, negative or not finite.
    InsufficientData
        If either side's counts sum to zero.

    Examples
    --------
    >>> result = z_test([50, 50], [30, 70])
    >>> round(result.statistic, 4), round(result.p_value, 4), result.drifted
    (2.8868, 0.0039, True)
    >>> z_test([40, 0], [25, 0]).p_value
    1.0
    """
    alpha = check_alpha(alpha)
    ref, cur = counts_pair(reference, current)
    if ref.size > 2:
        raise ValueError(
            f"z_test is for binary columns (at most 2 categories); got {ref.size} categories"
        )
    n1, n2 = float(ref.sum()), float(cur.sum())
    x1, x2 = float(ref[0]), float(cur[0])
    pooled = (x1 + x2) / (n1 + n2)
    if pooled <= 0.0 or pooled >= 1.0:
        z, p_value = 0.0, 1.0
    else:
        z = (x1 / n1 - x2 / n2) / math.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2))
        p_value = float(2.0 * stats.norm.sf(abs(z)))
    return DriftResult(
        method=DriftMethod.Z_TEST,
        statistic=float(z),
        p_value=p_value,
        threshold=alpha,
        drifted=p_value_drifted(DriftMethod.Z_TEST, p_value, alpha),
        n_reference=int(n1),
        n_current=int(n2),
    )
