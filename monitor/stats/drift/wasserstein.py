"""Normed Wasserstein (earth mover's) distance between two numeric samples."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitor.stats._validate import check_threshold
from monitor.stats.sample import SortedSample
from monitor.stats.types import DriftMethod, DriftResult, distance_drifted

__all__ = ["wasserstein"]

#: Floor of the normalising standard deviation, so a constant reference does not divide by 0.
_MIN_SCALE = 0.001


def wasserstein(
    reference: ArrayLike | SortedSample,
    current: ArrayLike | SortedSample,
    *,
    threshold: float = 0.1,
    reference_std: float | None = None,
) -> DriftResult:
    """First Wasserstein distance, in units of the reference's standard deviation.

    The Wasserstein-1 distance is the area between the two empirical CDFs: how far, on
    average, mass has to move to turn one sample into the other. Unlike a p-value it does
    not shrink towards "drift" as samples grow, so it suits large windows. Dividing by the
    reference's population standard deviation (``ddof=0``, floored at 0.001) makes the
    threshold unit-free; this is Evidently's ``wasserstein`` measure, with its default 0.1.

    The area is computed as the area between the two quantile functions, whose breakpoints
    ``i/n`` and ``j/m`` are known without looking at the data, so no merge, sort or search of
    the pooled values is needed (see :func:`_w1_sorted`); it equals
    ``scipy.stats.wasserstein_distance(reference, current)``.

    Parameters
    ----------
    reference, current : array_like or SortedSample
        The two samples; NaN and ±inf are dropped. A :class:`SortedSample` is used as is.
    threshold : float, default 0.1
        Drift is reported when the normed distance is ``>= threshold``.
    reference_std : float, optional
        The reference's population standard deviation, when the caller has it already (a
        fitted profile stores it); computed from ``reference`` otherwise.

    Returns
    -------
    DriftResult
        ``statistic`` is the normed distance (>= 0); ``p_value`` is ``None``.

    Raises
    ------
    ValueError
        If ``threshold`` is negative or not finite, or a sample is not one-dimensional.
    InsufficientData
        If either sample has no finite value.

    Examples
    --------
    >>> result = wasserstein(np.arange(100.0), np.arange(100.0) + 50)
    >>> round(result.statistic, 6), result.drifted
    (1.732137, True)
    >>> wasserstein([1.0, 2.0, 3.0], [3.0, 2.0, 1.0]).statistic
    0.0
    """
    threshold = check_threshold(threshold)
    ref = SortedSample.of(reference, "reference")
    cur = SortedSample.of(current, "current")
    distance = _w1_sorted(ref.values, cur.values)
    std = float(np.std(ref.values)) if reference_std is None else float(reference_std)
    statistic = distance / max(std, _MIN_SCALE)
    return DriftResult(
        method=DriftMethod.WASSERSTEIN,
        statistic=statistic,
        p_value=None,
        threshold=threshold,
        drifted=distance_drifted(DriftMethod.WASSERSTEIN, statistic, threshold),
        n_reference=ref.size,
        n_current=cur.size,
    )


def _w1_sorted(u: NDArray[np.float64], v: NDArray[np.float64]) -> float:
    """Wasserstein-1 distance of two sorted samples: the integral of ``|Q_u(t) - Q_v(t)|``.

    In units of ``1 / (n m)`` the quantile functions step at ``i m`` (reference) and ``j n``
    (current). On the piece starting at a reference step ``b = i m`` the quantiles are
    ``u[i]`` and ``v[b // n]``, and the piece ends at the next step of either kind; likewise
    for a current step (skipped where it coincides with a reference step). Equal sizes are the
    mean of ``|u - v|``. Everything is index arithmetic plus two monotone gathers: O(n + m), no
    pooled sort. The step positions are integers below 2**52, so they are exact in float64
    (float division is vectorised, int64 division is not); larger products take integers. The
    weighted sums use ``einsum``, not BLAS, so a column thread never starts BLAS threads.

    Examples
    --------
    >>> _w1_sorted(np.array([0.0, 1.0, 3.0]), np.array([5.0, 6.0]))
    4.166666666666667
    """
    n, m = u.size, v.size
    if n == m:
        diff = u - v
        np.abs(diff, out=diff)
        return float(diff.sum()) / n
    if float(n) * float(m) >= 2.0**52:
        return _w1_sorted_int(u, v)
    return (_pieces(u, v) + _pieces(v, u, skip_shared=True)) / (float(n) * float(m))


#: Pieces are summed in blocks of this many steps, so the temporaries stay in the CPU cache.
_BLOCK = 1 << 15


def _pieces(u: NDArray[np.float64], v: NDArray[np.float64], *, skip_shared: bool = False) -> float:
    """The sum over the pieces that start at a step of ``u``, in units of ``1 / (n m)``."""
    fn, fm = float(u.size), float(v.size)
    total = 0.0
    for lo in range(0, u.size, _BLOCK):
        start = np.arange(lo, min(lo + _BLOCK, u.size), dtype=np.float64)
        start *= fm  # the step i m, exact
        at = start / fn
        np.floor(at, out=at)  # v's index on the piece: floor(i m / n), exact below 2**52
        end = at + 1.0
        end *= fn
        gap = u[lo:lo + start.size]
        if skip_shared:  # a step of u that coincides with a step of v is the other side's piece
            own = end - fn != start
            start, at, end, gap = start[own], at[own], end[own], gap[own]
        gap = gap - v[at.astype(np.intp)]
        np.minimum(end, start + fm, out=end)
        end -= start  # the piece's length
        np.abs(gap, out=gap)
        total += float(np.einsum("i,i->", gap, end))  # not np.dot: BLAS would start threads of its own
    return total


def _w1_sorted_int(u: NDArray[np.float64], v: NDArray[np.float64]) -> float:
    """:func:`_w1_sorted` in int64 arithmetic, for sizes whose product passes 2**52."""
    n, m = u.size, v.size
    i = np.arange(n, dtype=np.int64)
    b = i * m
    j_at = b // n
    end = np.minimum(b + m, (j_at + 1) * n)
    total = float(np.einsum("i,i->", np.abs(u - v[j_at]), (end - b).astype(np.float64)))
    j = np.arange(m, dtype=np.int64)
    c = j * n
    own = c % m != 0  # a current step that coincides with a reference step is already counted
    j, c = j[own], c[own]
    i_at = c // m
    end = np.minimum(c + n, (i_at + 1) * m)
    total += float(np.einsum("i,i->", np.abs(u[i_at] - v[j]), (end - c).astype(np.float64)))
    return total / (float(n) * float(m))
