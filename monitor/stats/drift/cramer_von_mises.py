"""Two-sample Cramér-von Mises test."""

from __future__ import annotations

from numpy.typing import ArrayLike
from scipy import stats

from monitor.stats._validate import check_alpha
from monitor.stats.sample import SortedSample
from monitor.stats.types import DriftMethod, DriftResult, p_value_drifted

__all__ = ["cramer_von_mises"]


def cramer_von_mises(
    reference: ArrayLike | SortedSample,
    current: ArrayLike | SortedSample,
    *,
    alpha: float = 0.05,
) -> DriftResult:
    """Two-sample Cramér-von Mises test for a numeric feature.

    Where Kolmogorov-Smirnov looks at the single largest gap between the empirical CDFs,
    Cramér-von Mises integrates the squared gap over the pooled sample, so it is more
    sensitive to differences spread across the whole range. Ties get midranks. The p-value
    is SciPy's ``method="auto"``: exact while both samples have at most 20 values, else the
    asymptotic distribution.

    Parameters
    ----------
    reference, current : array_like or SortedSample
        The two samples; NaN and ±inf are dropped. A :class:`SortedSample` is used as is.
    alpha : float, default 0.05
        Significance level; drift is reported when ``p_value <= alpha`` (Evidently's rule).

    Returns
    -------
    DriftResult
        ``statistic`` is the normalised statistic ``T`` of [1]_; ``p_value`` its p-value.

    Raises
    ------
    ValueError
        If ``alpha`` is not in (0, 1), or a sample is not one-dimensional.
    InsufficientData
        If either sample has fewer than 2 finite values.

    References
    ----------
    .. [1] Anderson, T. W., "On the distribution of the two-sample Cramér-von Mises
       criterion", The Annals of Mathematical Statistics, 33(3), 1148-1159 (1962).

    Examples
    --------
    >>> result = cramer_von_mises(range(100), range(50, 150))
    >>> round(result.statistic, 6), result.drifted
    (8.33375, True)
    >>> cramer_von_mises([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]).drifted
    False
    """
    alpha = check_alpha(alpha)
    ref = SortedSample.of(reference, "reference", needed=2)
    cur = SortedSample.of(current, "current", needed=2)
    res = stats.cramervonmises_2samp(ref.values, cur.values)
    p_value = float(res.pvalue)
    return DriftResult(
        method=DriftMethod.CRAMER_VON_MISES,
        statistic=float(res.statistic),
        p_value=p_value,
        threshold=alpha,
        drifted=p_value_drifted(DriftMethod.CRAMER_VON_MISES, p_value, alpha),
        n_reference=ref.size,
        n_current=cur.size,
    )
