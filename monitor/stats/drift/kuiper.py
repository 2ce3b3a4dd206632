"""Kuiper's two-sample test: a KS-like test whose statistic does not depend on the origin.

Why it exists: an angle (wind direction), an hour of the day or a day of the year lives on a
circle, where "where the axis starts" is arbitrary. KS measures the largest one-sided CDF gap,
and which gap is largest changes when the origin moves, so KS on 23:00 vs 01:00 sees two far
apart values. Kuiper's ``V = max(F_ref - F_cur) + max(F_cur - F_ref)`` is unchanged by a
rotation of the circle (moving the origin adds the same constant to every CDF difference,
which cancels in the sum), so it tests circular data as circular data.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike

from monitor.stats._validate import check_alpha
from monitor.stats.sample import SortedSample, ecdf_gaps
from monitor.stats.types import DriftMethod, DriftResult, p_value_drifted

__all__ = ["kuiper", "kuiper_p_value"]

#: Terms of the asymptotic series; the terms fall as exp(-2 j^2 lambda^2), so 100 is plenty.
_TERMS = np.arange(1, 101, dtype=np.float64)


def kuiper(
    reference: ArrayLike | SortedSample,
    current: ArrayLike | SortedSample,
    *,
    alpha: float = 0.05,
    period: float | None = None,
) -> DriftResult:
    """Kuiper's two-sample test, rotation-invariant on a circle of the given period.

    Parameters
    ----------
    reference, current : array_like or SortedSample
        The two samples; NaN and ±inf are dropped.
    alpha : float, default 0.05
        Significance level; drift is reported when ``p_value < alpha``.
    period : float, optional
        The circle's circumference (360 for degrees, 24 for hours). Values are taken modulo
        the period first, so 370 degrees is 10 degrees. Without it the values are on a line
        (Kuiper's test is then still a valid two-sample test, equally sensitive in the tails).

    Returns
    -------
    DriftResult
        ``statistic`` is ``V`` in [0, 1]; ``p_value`` the asymptotic p-value of
        :func:`kuiper_p_value` at the effective size ``n m / (n + m)``.

    Raises
    ------
    ValueError
        If ``alpha`` is not in (0, 1), ``period`` is not a positive finite number, or a sample
        is not one-dimensional.
    InsufficientData
        If either sample has no finite value.

    References
    ----------
    .. [1] Kuiper, N. H., "Tests concerning random points on a circle", Proceedings of the
       Koninklijke Nederlandse Akademie van Wetenschappen, Series A, 63, 38-47 (1960).
    .. [2] Stephens, M. A., "Use of the Kolmogorov-Smirnov, Cramér-von Mises and related
       statistics without extensive tables", JRSS B, 32(1), 115-122 (1970).
    .. [3] Press, W. H. et al., Numerical Recipes, 3rd ed., section 14.3.4 (2007).

    Examples
    --------
    Hours of the day around midnight are close on the circle:

    >>> late = [22.5, 23.0, 23.5, 0.5, 1.0, 1.5] * 20
    >>> shifted = [(h + 12.0) % 24 for h in late]
    >>> round(kuiper(late, shifted, period=24).statistic, 6), kuiper(late, shifted, period=24).drifted
    (1.0, True)
    >>> kuiper(late, [(h + 0.25) % 24 for h in late], period=24).drifted
    False
    """
    alpha = check_alpha(alpha)
    if period is not None and not (math.isfinite(period) and period > 0):
        raise ValueError(f"period ({period}) must be a positive finite number")
    ref = _on_circle(SortedSample.of(reference, "reference"), period)
    cur = _on_circle(SortedSample.of(current, "current"), period)
    # Both ECDFs are 0 before the first value, so each one-sided gap is at least 0.
    below, above = ecdf_gaps(ref, cur)
    statistic = below + above
    p_value = kuiper_p_value(statistic, ref.size, cur.size)
    return DriftResult(method=DriftMethod.KUIPER, statistic=statistic, p_value=p_value, threshold=alpha,
                       drifted=p_value_drifted(DriftMethod.KUIPER, p_value, alpha),
                       n_reference=ref.size, n_current=cur.size)


def kuiper_p_value(statistic: float, n: int, m: int) -> float:
    """Asymptotic p-value of Kuiper's ``V`` for samples of sizes ``n`` and ``m``.

    ``Q(lambda) = 2 sum_j (4 j^2 lambda^2 - 1) exp(-2 j^2 lambda^2)`` at
    ``lambda = (sqrt(N) + 0.155 + 0.24 / sqrt(N)) V`` with ``N = n m / (n + m)`` (Stephens'
    small-sample modification); below ``lambda = 0.4`` the series is 1 to double precision
    but converges slowly, so 1 is returned.

    Examples
    --------
    >>> round(kuiper_p_value(0.1, 500, 500), 6)
    0.111462
    """
    effective = math.sqrt(n * m / (n + m))
    lam = (effective + 0.155 + 0.24 / effective) * statistic
    if lam < 0.4:
        return 1.0
    j2l2 = np.square(_TERMS * lam)
    q = 2.0 * float(np.sum((4.0 * j2l2 - 1.0) * np.exp(-2.0 * j2l2)))
    return float(min(max(q, 0.0), 1.0))


def _on_circle(sample: SortedSample, period: float | None) -> SortedSample:
    if period is None:
        return sample
    values = sample.values
    if values.size and values[0] >= 0.0 and values[-1] < period:
        return sample
    return SortedSample.of(np.mod(values, period))
