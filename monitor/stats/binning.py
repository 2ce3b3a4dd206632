"""Histogram bins for numerical columns, fitted on the reference alone.

Why reference quantiles with atoms and open tails (and not Evidently's equal-width Sturges bins
over the pooled data): the edges must be fixed when the reference profile is fitted, so a check
never needs the reference again; quantile bins are not wrecked by one outlier the way
equal-width bins are; and a value that holds a large share of the reference (an *atom*, such as
the zeros of a zero-inflated feature) gets a bin of its own, so 90% zeros cannot swallow the
rest of the distribution into one bin and hide a move of the non-zero part. Two open bins
``(-inf, first edge)`` and ``[last edge, inf)`` count current values outside the reference range.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from monitor.stats.sample import SortedSample

__all__ = ["DEFAULT_BINS", "bin_counts", "quantile_edges", "value_counts_sorted"]

#: Default number of quantile bins (the customary ten for PSI, whose thresholds assume it).
DEFAULT_BINS = 10


def value_counts_sorted(values: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Distinct values and their counts of a sorted array, in one linear pass.

    Examples
    --------
    >>> v, c = value_counts_sorted(np.array([0.0, 0.0, 1.0, 2.0, 2.0, 2.0]))
    >>> v.tolist(), c.tolist()
    ([0.0, 1.0, 2.0], [2, 1, 3])
    """
    if values.size == 0:
        return values.copy(), np.zeros(0, dtype=np.int64)
    starts = np.flatnonzero(np.concatenate(([True], values[1:] != values[:-1])))
    counts = np.diff(np.append(starts, values.size)).astype(np.int64)
    return values[starts], counts


def quantile_edges(reference: SortedSample, n_bins: int = DEFAULT_BINS) -> NDArray[np.float64]:
    """Bin edges from the reference: quantile cuts of the continuous part plus a bin per atom.

    A value whose share of the reference is at least ``1 / n_bins`` is an atom and gets its own
    bin ``[a, nextafter(a))``; the remaining values are cut at their quantiles into the bins
    left over. With few distinct values every value is an atom, which gives per-value bins.

    Examples
    --------
    A zero-inflated sample keeps its zeros apart from the positive values:

    >>> ref = SortedSample.of(np.r_[np.zeros(90), np.arange(1.0, 11.0)])
    >>> edges = quantile_edges(ref, 4)
    >>> bin_counts(ref, edges).tolist()
    [0, 90, 3, 3, 4]
    """
    if n_bins < 2:
        raise ValueError(f"n_bins ({n_bins}) must be at least 2")
    values = reference.values
    n = values.size
    if n == 0:
        raise ValueError("cannot fit bins on an empty reference")
    if reference.n_distinct() <= 2 * n_bins:
        atoms = value_counts_sorted(values)[0]
        return np.unique(np.concatenate([atoms, np.nextafter(atoms, np.inf)]))
    # An atom holds at least ceil(n / n_bins) consecutive sorted positions, so it sits at one
    # of the positions 0, step, 2 step, ...: at most n_bins + 1 candidates, each counted by two
    # binary searches (no pass over the values to count them all).
    step = -(-n // n_bins)
    candidates = np.unique(values[::step])
    starts = np.searchsorted(values, candidates, side="left")
    ends = np.searchsorted(values, candidates, side="right")
    is_atom = (ends - starts) * n_bins >= n
    atoms = candidates[is_atom]
    cuts: list[NDArray[np.float64]] = [atoms, np.nextafter(atoms, np.inf)]
    rest_bins = n_bins - atoms.size
    if rest_bins >= 1:
        # The non-atom values, still sorted: a view when there is no atom, else one copy.
        keep = np.concatenate(([0], ends[is_atom])), np.concatenate((starts[is_atom], [n]))
        rest = values if not is_atom.any() else np.concatenate([values[a:b] for a, b in zip(*keep, strict=True)])
        # Interior cuts only: the open outer bins take the ends of the range. On sorted values
        # the linear-interpolation quantile is two lookups per cut (np.quantile would partition).
        position = np.linspace(0.0, 1.0, rest_bins + 1)[1:-1] * (rest.size - 1)
        lower = np.floor(position).astype(np.int64)
        upper = np.minimum(lower + 1, rest.size - 1)
        cuts.append(rest[lower] + (position - lower) * (rest[upper] - rest[lower]))
    return np.unique(np.concatenate(cuts))


def bin_counts(sample: SortedSample, edges: NDArray[np.float64]) -> NDArray[np.int64]:
    """Counts of a sorted sample in the bins ``(-inf, e0), [e0, e1), ..., [e_last, inf)``.

    Works on the sorted values with one ``searchsorted`` per edge, so it costs
    O(bins log n) rather than a pass over the data.
    """
    positions = np.searchsorted(sample.values, edges, side="left")
    return np.diff(np.concatenate(([0], positions, [sample.size]))).astype(np.int64)
