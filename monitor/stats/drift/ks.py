"""Two-sample Kolmogorov-Smirnov test: the largest gap between two empirical CDFs."""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats

from monitor.stats._validate import check_alpha
from monitor.stats.sample import SortedSample, ecdf_gaps
from monitor.stats.types import DriftMethod, DriftResult, p_value_drifted

__all__ = ["ks"]

#: SciPy's ``method="auto"`` uses the exact null distribution while both samples have at most
#: this many values, and the asymptotic one above it (``scipy.stats.ks_2samp``).
_MAX_EXACT_SIZE = 10_000
#: Below this the fast Smirnov sum loses digits (its terms near the subnormal range).
_SMALLEST_FAST_TAIL = 1e-280


def ks(
    reference: ArrayLike | SortedSample,
    current: ArrayLike | SortedSample,
    *,
    alpha: float = 0.05,
) -> DriftResult:
    """Two-sample Kolmogorov-Smirnov test for a numeric feature.

    The statistic ``D`` is the largest vertical distance between the two empirical CDFs, so
    the test reacts to any change of distribution (location, scale or shape) and needs no
    binning. The p-value is two-sided and follows SciPy's ``method="auto"``: exact while both
    samples have at most 10 000 values, else ``kstwo.sf(D, round(n * m / (n + m)))``.

    Small samples go straight to :func:`scipy.stats.ks_2samp`. Large ones take ``D`` from a
    search of the current values in the sorted reference (:func:`~monitor.stats.sample.ecdf_gaps`) instead
    of SciPy's two ``searchsorted`` passes over the pooled data (the same number), and where
    SciPy's asymptotic p-value sums the exact Smirnov series term by term, the same series
    is summed in one vectorised pass (equal to SciPy's to about 1e-12, relative).

    Parameters
    ----------
    reference, current : array_like or SortedSample
        The two samples; NaN and ±inf are dropped. A :class:`SortedSample` (e.g. from a fitted
        reference profile) is used as is.
    alpha : float, default 0.05
        Significance level; drift is reported when ``p_value <= alpha`` (Evidently's rule).

    Returns
    -------
    DriftResult
        ``statistic`` is ``D`` in [0, 1]; ``p_value`` the two-sided p-value.

    Raises
    ------
    ValueError
        If ``alpha`` is not in (0, 1), or a sample is not one-dimensional.
    InsufficientData
        If either sample has no finite value.

    References
    ----------
    .. [1] Hodges, J. L. Jr., "The significance probability of the Smirnov two-sample test",
       Arkiv för Matematik, 3, 469-486 (1958).
    .. [2] Simard, R. and L'Ecuyer, P., "Computing the two-sided Kolmogorov-Smirnov
       distribution", Journal of Statistical Software, 39(11), 1-18 (2011).

    Examples
    --------
    >>> result = ks(np.arange(100.0), np.arange(100.0) + 50)
    >>> result.statistic, result.drifted
    (0.5, True)
    >>> round(result.p_value, 14)
    1.002e-11
    >>> ks([1.0, 2.0, 3.0, float("nan")], [1.0, 2.0, 3.0]).p_value
    1.0
    """
    alpha = check_alpha(alpha)
    ref = SortedSample.of(reference, "reference")
    cur = SortedSample.of(current, "current")
    n, m = ref.size, cur.size
    if max(n, m) <= _MAX_EXACT_SIZE:
        with warnings.catch_warnings():
            # When the exact recursion loses precision SciPy falls back to the asymptotic
            # p-value and says so; that fallback is its documented 'auto' behaviour, and ours.
            warnings.filterwarnings("ignore", "ks_2samp: Exact calculation", RuntimeWarning)
            res = stats.ks_2samp(ref.values, cur.values)
        statistic, p_value = float(res.statistic), float(res.pvalue)
    else:
        statistic = _statistic(ref, cur)
        p_value = _asymptotic_p_value(statistic, n, m)
    return DriftResult(
        method=DriftMethod.KS,
        statistic=statistic,
        p_value=p_value,
        threshold=alpha,
        drifted=p_value_drifted(DriftMethod.KS, p_value, alpha),
        n_reference=n,
        n_current=m,
    )


def _statistic(ref: SortedSample, cur: SortedSample) -> float:
    """``max |F_ref - F_cur|``: the larger one-sided gap (:func:`~monitor.stats.sample.ecdf_gaps`)."""
    return max(ecdf_gaps(ref, cur))


def _asymptotic_p_value(statistic: float, n: int, m: int) -> float:
    """SciPy's two-sided asymptotic p-value: ``kstwo.sf(D, round(n * m / (n + m)))``."""
    big, small = float(max(n, m)), float(min(n, m))
    effective_n = float(np.round(big * small / (big + small)))
    p_value = _smirnov_tail(statistic, int(effective_n))
    if p_value is None:
        p_value = float(stats.kstwo.sf(statistic, effective_n))
    return float(np.clip(p_value, 0.0, 1.0))


def _smirnov_tail(d: float, n: int) -> float | None:
    """``kstwo.sf(d, n)`` where SciPy evaluates it as ``2 * smirnov(n, d)``, else ``None``.

    In that branch (n > 140 and 2.2 <= n d^2 < 370, i.e. p-values from about 0.02 down to
    1e-320) SciPy sums the Birnbaum-Tingey series term by term, which takes ~0.7 s at
    n = 500 000. The same series is summed here in one vectorised pass, writing each term
    ``C(n, v) d (d + v/n)^(v-1) (1 - d - v/n)^(n-v)`` as ``d / q * binom.pmf(v, n, q)`` with
    ``q = d + v/n``; it agrees with SciPy to about 1e-12. Sums below 1e-280 are left to
    SciPy, because their terms approach the subnormal range and lose digits.
    """
    t = n * d
    # The branch conditions of scipy.stats._ksstats._kolmogn(n, d, cdf=False), in its order.
    if t <= 1.0 or t >= n - 1 or d >= 0.5 or n <= 140 or not 2.2 <= t * d < 370.0:
        return None
    v = np.arange(np.floor(n * (1.0 - d)) + 1.0)
    q = np.minimum(d + v / n, 1.0)
    tail = 2.0 * d * float(np.sum(stats.binom.pmf(v, n, q) / q))
    return tail if tail >= _SMALLEST_FAST_TAIL else None
