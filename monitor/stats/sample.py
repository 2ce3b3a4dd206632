"""Sorted finite samples: the form in which numerical columns reach the drift methods.

A reference is sorted once when its profile is fitted and reused by every check; the current
window is sorted once per check and shared by every method that needs order statistics. The
ECDF comparison below merges two sorted samples in linear passes instead of SciPy's two
``searchsorted`` calls over the pooled data, which is what makes KS and Wasserstein cheap at
millions of rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitor.stats._validate import finite_1d, require_size

__all__ = ["EcdfMerge", "SortedSample", "ecdf_gaps", "merge_ecdf"]


@dataclass(frozen=True, slots=True)
class SortedSample:
    """Finite values in ascending order (float64, read-only).

    Examples
    --------
    >>> SortedSample.of([3.0, float("nan"), 1.0, 2.0]).values
    array([1., 2., 3.])
    """

    values: NDArray[np.float64]

    @classmethod
    def of(cls, values: ArrayLike | SortedSample, name: str = "sample", *, needed: int = 1) -> SortedSample:
        """Sort ``values`` (dropping NaN and ±inf), or return it unchanged if already sorted."""
        if isinstance(values, SortedSample):
            require_size(values.values, name, needed)
            return values
        arr = np.sort(finite_1d(values, name, needed=needed))
        arr.flags.writeable = False
        return cls(arr)

    @classmethod
    def from_sorted(cls, values: NDArray[np.float64]) -> SortedSample:
        """Wrap values the caller has already sorted and cleaned (not checked: O(1))."""
        if values.flags.writeable:
            values = values.view()
            values.flags.writeable = False
        return cls(values)

    @property
    def size(self) -> int:
        """Number of values."""
        return int(self.values.size)

    def n_distinct(self) -> int:
        """Number of distinct values (one linear pass over the sorted values)."""
        v = self.values
        return 0 if v.size == 0 else int(np.count_nonzero(v[1:] != v[:-1])) + 1


@dataclass(frozen=True, slots=True)
class EcdfMerge:
    """Two samples merged in order, with each sample's ECDF after every merged value.

    ``cdf_reference[k]`` and ``cdf_current[k]`` count the values of each sample among the
    first ``k + 1`` merged values, divided by that sample's size. Inside a run of tied values
    only the last position is a true ECDF value; ``group_end`` marks those positions.
    """

    merged: NDArray[np.float64]
    cdf_reference: NDArray[np.float64]
    cdf_current: NDArray[np.float64]
    group_end: NDArray[np.bool_]


def merge_ecdf(reference: SortedSample, current: SortedSample) -> EcdfMerge:
    """Merge two sorted samples and evaluate both ECDFs along the merged order.

    Examples
    --------
    >>> m = merge_ecdf(SortedSample.of([1.0, 2.0]), SortedSample.of([2.0, 3.0]))
    >>> m.merged.tolist(), m.cdf_reference.tolist(), m.cdf_current.tolist()
    ([1.0, 2.0, 2.0, 3.0], [0.5, 1.0, 1.0, 1.0], [0.0, 0.0, 0.5, 1.0])
    >>> m.group_end.tolist()
    [True, False, True, True]
    """
    u, v = reference.values, current.values
    n, m = u.size, v.size
    total = n + m
    # Position of each current value in the merged order: current values go after the
    # reference values equal to them (ties do not change any ECDF value at a group end).
    pos_v = np.searchsorted(u, v, side="right")
    pos_v += np.arange(m, dtype=pos_v.dtype)
    is_cur = np.zeros(total, dtype=bool)
    is_cur[pos_v] = True
    merged = np.empty(total, dtype=np.float64)
    merged[pos_v] = v
    merged[~is_cur] = u
    count_cur = np.cumsum(is_cur, dtype=np.int64)
    cdf_current = count_cur / m
    count_cur -= np.arange(1, total + 1, dtype=np.int64)
    np.negative(count_cur, out=count_cur)  # now the count of reference values so far
    cdf_reference = count_cur / n
    group_end = np.empty(total, dtype=bool)
    np.not_equal(merged[1:], merged[:-1], out=group_end[:-1])
    group_end[-1] = True
    return EcdfMerge(merged, cdf_reference, cdf_current, group_end)


#: :func:`ecdf_gaps` walks the current sample in blocks of this many values (temporaries stay in cache).
_BLOCK = 1 << 15


def ecdf_gaps(reference: SortedSample, current: SortedSample) -> tuple[float, float]:
    """The one-sided ECDF gaps ``sup (F_ref - F_cur)`` and ``sup (F_cur - F_ref)``, both >= 0.

    KS's ``D`` is their maximum and Kuiper's ``V`` their sum. ``F_cur - F_ref`` rises only at
    current values, so its supremum is taken at one: ``(j + 1) / m - #{ref <= v_j} / n``;
    ``F_ref - F_cur`` falls only at current values, so its supremum is a left limit at one:
    ``#{ref < v_j} / n - j / m`` (or 0 after the last). Inside a run of tied current values
    these under-state the true ECDF values, which cannot raise a maximum. One ``searchsorted``
    of the current values into the reference (a second one only for values tied with the
    reference), no merged arrays: the same numbers as :func:`merge_ecdf`'s gaps at group ends.

    Examples
    --------
    >>> ecdf_gaps(SortedSample.of([1.0, 2.0]), SortedSample.of([2.0, 3.0]))
    (0.5, 0.0)
    """
    u, v = reference.values, current.values
    n, m = float(u.size), float(v.size)
    below, above = 0.0, 0.0
    for lo in range(0, v.size, _BLOCK):
        block = v[lo:lo + _BLOCK]
        index = np.arange(lo, lo + block.size, dtype=np.float64)
        # Search only the stretch of the reference this block spans (it stays in cache).
        first = int(np.searchsorted(u, block[0], side="right"))
        last = int(np.searchsorted(u, block[-1], side="right"))
        right = np.searchsorted(u[first:last], block, side="right")
        right += first
        tied = right > 0
        tied[tied] = u[right[tied] - 1] == block[tied]
        left = right.copy()
        if tied.any():
            left[tied] = np.searchsorted(u, block[tied], side="left")
        rise = (index + 1.0) / m - right / n
        fall = left / n - index / m
        above = max(above, float(rise.max()))
        below = max(below, float(fall.max()))
    return below, above
