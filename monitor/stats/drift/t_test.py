"""Two-sample t-test on the means (Student's, pooled variance)."""

from __future__ import annotations

import math
import warnings

from numpy.typing import ArrayLike
from scipy import stats

from monitor.stats._validate import check_alpha
from monitor.stats.sample import SortedSample
from monitor.stats.types import DriftMethod, DriftResult, p_value_drifted

__all__ = ["t_test"]


def t_test(
    reference: ArrayLike | SortedSample,
    current: ArrayLike | SortedSample,
    *,
    alpha: float = 0.05,
) -> DriftResult:
    """Two-sided two-sample t-test: has the mean of a numeric feature moved?

    Only a shift of the mean is detected (a change of spread or shape with the same mean is
    not), which makes it the least noisy choice when the mean is what matters. This is
    :func:`scipy.stats.ttest_ind` with ``equal_var=True``: **Student's test with a pooled
    variance, not Welch's**, because that is what Evidently runs (SciPy's default). With very
    unequal sizes and variances its error rate departs from ``alpha``.

    Parameters
    ----------
    reference, current : array_like or SortedSample
        The two samples; NaN and ±inf are dropped. A :class:`SortedSample` is used as is.
    alpha : float, default 0.05
        Significance level; drift is reported when ``p_value < alpha``.

    Returns
    -------
    DriftResult
        ``statistic`` is ``t`` (negative when the current mean is larger; ±inf when both
        samples are constant at different values, with ``p_value`` 0); ``p_value`` the
        two-sided p-value.

    Raises
    ------
    ValueError
        If ``alpha`` is not in (0, 1), a sample is not one-dimensional, or both samples have
        zero variance and the same mean (``t`` is 0/0).
    InsufficientData
        If either sample has fewer than 2 finite values.

    Notes
    -----
    SciPy warns of "precision loss" when a sample's values are (nearly) all equal, since its
    variance is then mostly rounding error. That warning is not passed on: the result is
    still SciPy's (and Evidently's), and the undefined case is raised as ``ValueError``.

    Examples
    --------
    >>> result = t_test(range(100), range(50, 150))
    >>> round(result.statistic, 6), result.drifted
    (-12.186667, True)
    >>> t_test([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]).p_value
    1.0
    """
    alpha = check_alpha(alpha)
    ref = SortedSample.of(reference, "reference", needed=2)
    cur = SortedSample.of(current, "current", needed=2)
    with warnings.catch_warnings():
        # Nearly constant samples; see Notes.
        warnings.filterwarnings("ignore", "Precision loss occurred", RuntimeWarning)
        res = stats.ttest_ind(ref.values, cur.values, equal_var=True)
    statistic, p_value = float(res.statistic), float(res.pvalue)
    if math.isnan(p_value):
        raise ValueError(
            "t_test is undefined here: reference and current both have zero variance and the "
            "same mean, so t is 0/0"
        )
    return DriftResult(
        method=DriftMethod.T_TEST,
        statistic=statistic,
        p_value=p_value,
        threshold=alpha,
        drifted=p_value_drifted(DriftMethod.T_TEST, p_value, alpha),
        n_reference=ref.size,
        n_current=cur.size,
    )
