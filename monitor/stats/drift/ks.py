"""Two-sample Kolmogorov-Smirnov test: the largest gap between two empirical CDFs."""

from __future__ import annotations

import warnings

import numpy as np
from numpy.typing import ArrayLike, NDArray
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
        p_value = _durbin_tail(statistic, int(effective_n))
    if p_value is None:
        p_value = float(stats.kstwo.sf(statistic, effective_n))
    return float(np.clip(p_value, 0.0, 1.0))


def _past_exact_cases(d: float, n: int) -> bool:
    """Whether ``scipy.stats._ksstats._kolmogn(n, d, cdf=False)`` gets past its exact cases.

    Its first conditions, in its order (Ruben-Gambino at both ends, exact 2 * smirnov above 0.5,
    small n); the series and Durbin branches below are only reached past them.
    """
    t = n * d
    return not (t <= 1.0 or t >= n - 1 or d >= 0.5 or n <= 140)


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
    if not _past_exact_cases(d, n) or not 2.2 <= t * d < 370.0:
        return None
    v = np.arange(np.floor(n * (1.0 - d)) + 1.0)
    q = np.minimum(d + v / n, 1.0)
    tail = 2.0 * d * float(np.sum(stats.binom.pmf(v, n, q) / q))
    return tail if tail >= _SMALLEST_FAST_TAIL else None


#: SciPy's Durbin-matrix branch of ``kstwo.sf`` (n > 140): ``n d^2 < 2.2``, ``n <= 100 000`` and
#: ``n d^1.5 <= 1.4`` (:func:`scipy.stats._ksstats._kolmogn`).
_DURBIN_MAX_N = 100_000
#: The Durbin matrix and its power are divided by this (exactly) when an entry exceeds it.
_RESCALE = 2.0 ** 128
#: Mantissas of ``i / n`` are multiplied this many at a time (each >= 0.5: no underflow).
_FACTOR_BLOCK = 64


def _durbin_tail(d: float, n: int) -> float | None:
    """``kstwo.sf(d, n)`` where SciPy evaluates it as ``1 - `` the Durbin matrix CDF, else ``None``.

    Why: SciPy's ``_kolmogn_DMTW`` multiplies its matrix power by ``n! / n^n`` in a Python
    loop of ``n`` steps (26 ms at n = 50 000, a third of a cached 100k x 50 check whose
    heavy-tailed columns take the KS test). The matrix and its scaled power are SciPy's
    (Marsaglia, Tsang and Wang 2003); the factor is the product of the mantissas of ``i / n``
    taken in blocks with their binary exponents summed, so it neither underflows nor loops
    per step. It agrees with SciPy to about 1e-13 (tests/stats/test_numerical_methods.py)
    wherever SciPy's is finite. SciPy 1.17 rescales the squared matrix by one diagonal entry
    and never rescales the accumulated power, which overflows for some n between ~30 000 and
    100 000 (``kstwo.sf(5.8e-5, 32537)`` is 0.0, the truth about 1): a null-sized D reported
    as p = 0, a false alarm. Both are rescaled here by their largest entry, so the power stays
    finite, and the scaling is by powers of two, so where SciPy's is finite nothing changes.
    """
    t = n * d
    if not _past_exact_cases(d, n) or t * d >= 2.2 or n > _DURBIN_MAX_N or n * d ** 1.5 > 1.4:
        return None
    k = int(np.ceil(t))
    h = k - t
    m = 2 * k - 1
    powers = np.arange(1, m + 1)
    w = np.empty(m)
    w[0] = 1.0
    w[1:] = np.cumprod(1.0 / powers[:-1])  # 1 / j!, as SciPy's running quotient
    v = (1.0 - h ** powers) * (w / powers)
    v[-1] = (1.0 + max(2.0 * h - 1.0, 0.0) ** m - 2.0 * h ** m) * (w[-1] / m)
    matrix = np.zeros((m, m))
    rows, cols = np.indices((m, m))
    below = rows - cols + 1  # H[i - 1:, i] = w[:m - i + 1] for i >= 1
    fill = (cols >= 1) & (below >= 0)
    matrix[fill] = w[below[fill]]
    matrix[:, 0] = v
    matrix[-1, :] = v[::-1]
    power = np.eye(m)
    exponent, h_exponent, left = 0, 0, n
    while left > 0:  # square and multiply, rescaling by 2^128 (exact) as SciPy does
        if left % 2:
            power = power @ matrix
            exponent += h_exponent
            if np.abs(power).max() > _RESCALE:  # SciPy does not rescale this product: it overflows
                power /= _RESCALE
                exponent += 128
        matrix = matrix @ matrix
        h_exponent *= 2
        if np.abs(matrix).max() > _RESCALE:  # SciPy looks at H[k - 1, k - 1] only
            matrix /= _RESCALE
            h_exponent += 128
        left //= 2
    factor_mantissa, factor_exponent = _product(np.arange(1, n + 1, dtype=np.float64) / n)  # n! / n^n
    total_exponent = factor_exponent + exponent
    cdf = float(np.ldexp(power[k - 1, k - 1] * factor_mantissa, total_exponent))
    return float(np.clip(1.0 - cdf, 0.0, 1.0))


def _product(values: NDArray[np.float64]) -> tuple[float, int]:
    """``prod(values)`` of positive values as ``(mantissa, exponent)``: never under- or overflows.

    Each level multiplies binary mantissas (in [0.5, 1)) in blocks of ``_FACTOR_BLOCK`` and
    carries the exponents as integers, until one mantissa is left.
    """
    mantissas, exponents = np.frexp(values)
    exponent = int(exponents.sum())
    while mantissas.size > 1:
        pad = (-mantissas.size) % _FACTOR_BLOCK
        blocks = np.prod(np.concatenate([mantissas, np.ones(pad)]).reshape(-1, _FACTOR_BLOCK), axis=1)
        mantissas, exponents = np.frexp(blocks)
        exponent += int(exponents.sum())
    return float(mantissas[0]), exponent
