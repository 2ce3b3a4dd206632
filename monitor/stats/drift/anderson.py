"""Two-sample Anderson-Darling test (k-sample form of Scholz and Stephens, k = 2)."""

from __future__ import annotations

import warnings

from numpy.typing import ArrayLike
from scipy import stats

from monitor.stats._validate import check_alpha
from monitor.stats.sample import SortedSample
from monitor.stats.types import DriftMethod, DriftResult, p_value_drifted

__all__ = ["anderson"]


def anderson(
    reference: ArrayLike | SortedSample,
    current: ArrayLike | SortedSample,
    *,
    alpha: float = 0.05,
) -> DriftResult:
    """Two-sample Anderson-Darling test for a numeric feature.

    Like Cramér-von Mises it integrates the squared gap between the empirical CDFs, but it
    weights the gap by ``1 / (F (1 - F))``, so differences in the tails count for more. This
    is :func:`scipy.stats.anderson_ksamp` on the two samples with the midrank statistic
    (``variant="midrank"``, valid with ties; SciPy's default and Evidently's).

    Parameters
    ----------
    reference, current : array_like or SortedSample
        The two samples; NaN and ±inf are dropped. A :class:`SortedSample` is used as is.
    alpha : float, default 0.05
        Significance level; drift is reported when ``p_value < alpha``.

    Returns
    -------
    DriftResult
        ``statistic`` is SciPy's normalised statistic (it can be negative); ``p_value`` the
        interpolated p-value in [0.001, 0.25].

    Raises
    ------
    ValueError
        If ``alpha`` is not in (0, 1), a sample is not one-dimensional, or the two samples
        together hold a single distinct value (the statistic is then undefined).
    InsufficientData
        If either sample has fewer than 2 finite values (SciPy needs 4 values in all).

    Notes
    -----
    The p-value is interpolated from Scholz and Stephens' table of critical values and is
    therefore **capped to [0.001, 0.25]**: a reported 0.25 means "0.25 or more" and 0.001
    means "0.001 or less". SciPy warns when it caps; the cap is part of this method's
    definition, so the warning is not passed on. For ``0.001 < alpha <= 0.25`` the verdict is
    the one the uncapped p-value would give; ``alpha <= 0.001`` never reports drift and
    ``alpha > 0.25`` always does.

    References
    ----------
    .. [1] Scholz, F. W. and Stephens, M. A., "K-sample Anderson-Darling tests", Journal of
       the American Statistical Association, 82(399), 918-924 (1987).

    Examples
    --------
    >>> result = anderson(range(100), range(50, 150))
    >>> round(result.statistic, 6), result.p_value, result.drifted
    (55.424792, 0.001, True)
    >>> anderson([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]).p_value
    0.25
    """
    alpha = check_alpha(alpha)
    ref = SortedSample.of(reference, "reference", needed=2)
    cur = SortedSample.of(current, "current", needed=2)
    low = min(ref.values[0], cur.values[0])
    high = max(ref.values[-1], cur.values[-1])
    if low == high:
        raise ValueError(
            f"anderson needs at least two distinct values; reference and current are all {low}"
        )
    with warnings.catch_warnings():
        # The tabulated p-value is capped to [0.001, 0.25]; that cap is documented above.
        warnings.filterwarnings("ignore", "p-value capped", UserWarning)
        warnings.filterwarnings("ignore", "p-value floored", UserWarning)
        res = stats.anderson_ksamp([ref.values, cur.values], variant="midrank")
    p_value = float(res.pvalue)
    return DriftResult(
        method=DriftMethod.ANDERSON,
        statistic=float(res.statistic),
        p_value=p_value,
        threshold=alpha,
        drifted=p_value_drifted(DriftMethod.ANDERSON, p_value, alpha),
        n_reference=ref.size,
        n_current=cur.size,
    )
