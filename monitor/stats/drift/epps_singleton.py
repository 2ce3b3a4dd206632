"""Epps-Singleton two-sample test on the empirical characteristic functions."""

from __future__ import annotations

import math
import warnings

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from monitor.stats._validate import check_alpha
from monitor.stats.sample import SortedSample
from monitor.stats.types import DriftMethod, DriftResult, p_value_drifted

__all__ = ["epps_singleton"]

#: SciPy's default points ``t`` at which the characteristic functions are compared, in units
#: of the pooled semi-interquartile range; the largest bounds the scaled arguments below.
_T_MAX = 0.8


def epps_singleton(
    reference: ArrayLike | SortedSample,
    current: ArrayLike | SortedSample,
    *,
    alpha: float = 0.05,
) -> DriftResult:
    """Epps-Singleton test: compares the two samples' empirical characteristic functions.

    Unlike the CDF-based tests it works as well for discrete as for continuous data, and
    it often has more power than Kolmogorov-Smirnov. This is
    :func:`scipy.stats.epps_singleton_2samp` with SciPy's default ``t = (0.4, 0.8)``, scaled
    by the semi-interquartile range of the pooled sample; its p-value is asymptotic
    (chi-squared), with a small-sample correction below 25 values per side.

    Parameters
    ----------
    reference, current : array_like or SortedSample
        The two samples; NaN and ±inf are dropped. A :class:`SortedSample` is used as is.
    alpha : float, default 0.05
        Significance level; drift is reported when ``p_value < alpha``.

    Returns
    -------
    DriftResult
        ``statistic`` is ``W`` (>= 0); ``p_value`` its p-value.

    Raises
    ------
    ValueError
        If ``alpha`` is not in (0, 1); a sample is not one-dimensional; the pooled sample
        has a zero interquartile range (or one so small next to the values that the scaled
        arguments overflow), since the test's scale is undefined; or both samples are
        constant (the covariance of the test is then zero and ``W`` is always 0).
    InsufficientData
        If either sample has fewer than 5 finite values.

    Notes
    -----
    When the pooled sample has only a few distinct values, the covariance estimate of the
    four characteristic-function terms is singular. SciPy then uses its rank as the degrees of
    freedom and warns that the test "might not be consistent"; that warning is not passed
    on, and the p-value is kept, as Evidently keeps it.

    References
    ----------
    .. [1] Epps, T. W. and Singleton, K. J., "An omnibus test for the two-sample problem
       using the empirical characteristic function", Journal of Statistical Computation and
       Simulation, 26(3-4), 177-203 (1986).

    Examples
    --------
    >>> result = epps_singleton(range(100), range(50, 150))
    >>> round(result.statistic, 6), result.drifted
    (152.027712, True)
    >>> epps_singleton([0.0, 1.0, 1.0, 1.0, 2.0], [0.0, 1.0, 1.0, 1.0, 1.0])
    Traceback (most recent call last):
    ...
    ValueError: epps_singleton needs spread: the pooled interquartile range is 0.0
    """
    alpha = check_alpha(alpha)
    ref = SortedSample.of(reference, "reference", needed=5)
    cur = SortedSample.of(current, "current", needed=5)
    _check_spread(ref, cur)
    with warnings.catch_warnings():
        # Few distinct values make the covariance singular; see Notes.
        warnings.filterwarnings("ignore", "Estimated covariance matrix does not have full rank",
                                UserWarning)
        res = stats.epps_singleton_2samp(ref.values, cur.values)
    p_value = float(res.pvalue)
    return DriftResult(
        method=DriftMethod.EPPS_SINGLETON,
        statistic=float(res.statistic),
        p_value=p_value,
        threshold=alpha,
        drifted=p_value_drifted(DriftMethod.EPPS_SINGLETON, p_value, alpha),
        n_reference=ref.size,
        n_current=cur.size,
    )


def _check_spread(ref: SortedSample, cur: SortedSample) -> None:
    """Raise ``ValueError`` where SciPy's statistic would be undefined (NaN) or always 0."""
    r, c = ref.values, cur.values
    semi_iqr = float(stats.iqr(np.concatenate([r, c]))) / 2
    largest = max(abs(float(min(r[0], c[0]))), abs(float(max(r[-1], c[-1]))))
    # SciPy evaluates cos and sin at t * x / semi_iqr; an infinite argument gives NaN.
    if semi_iqr == 0.0 or not math.isfinite(largest * (_T_MAX / semi_iqr)):
        raise ValueError(
            f"epps_singleton needs spread: the pooled interquartile range is {2 * semi_iqr}"
        )
    if r[0] == r[-1] and c[0] == c[-1]:
        raise ValueError(
            "epps_singleton needs spread within a sample: reference and current are each "
            f"constant ({r[0]} and {c[0]})"
        )
