"""A window summarised by aggregates instead of rows: the plan, the summary, the bounded statistics.

Pushdown (docs/scaling.md) sends the window's statistics to the engine that holds the rows: the
engine counts, per numerical column, the values in each cell of a fine *grid* cut from the
reference, and sums them; per categorical column it counts each value; it counts the missing
(NULL, NaN, ±inf) of both. Nothing else leaves the engine, so the service's memory does not grow
with the window.

Why a grid of reference quantiles, with the profile's bin edges and the reference's extremes in
it: the histogram methods (PSI, Jensen-Shannon, KL, Hellinger) need counts in the profile's bins,
which are unions of grid cells, so they are *exact*; out-of-range counts are exact because the
reference's minimum and maximum are grid points; and for the methods on values (KS, Wasserstein)
the reference's ECDF moves by at most ~1/grid inside a cell, so the statistic is pinned between
two bounds that this module computes (:func:`ks_bounds`, :func:`wasserstein_bounds`). The
bounds are rigorous: the true statistic of the rows lies between them, whatever the values
inside each cell. A verdict is taken from the bounds only where both give the same one;
otherwise the column is read as rows (:mod:`monitor.stats.binned_check`).

Cells follow the profile's binning convention: cell ``k`` is ``[grid[k-1], grid[k])``, with the
open cells ``(-inf, grid[0])`` and ``[grid[-1], inf)``, so a value's cell is the number of grid
points ``<= value``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from monitor.stats.auto import FEW_DISTINCT
from monitor.stats.profile import CategoricalProfile, NumericalProfile, ReferenceProfile
from monitor.stats.sample import SortedSample

__all__ = [
    "DEFAULT_GRID",
    "CategoricalPlan",
    "CategoricalSummary",
    "NumericalPlan",
    "NumericalSummary",
    "SummaryPlan",
    "WindowSummary",
    "ks_bounds",
    "numerical_grid",
    "plan_summary",
    "wasserstein_bounds",
]

#: Grid points per numerical column: the reference's ECDF moves by at most 1/DEFAULT_GRID in a
#: cell, which bounds KS to within about that much (docs/scaling.md has the measured widths).
DEFAULT_GRID = 1024
#: Relative rounding of a float64 sum, times a safety factor: the engines' SUMs are float64 and
#: their order of addition is theirs, so every Wasserstein bound is widened by this much of the
#: magnitudes involved.
_SUM_RTOL = 64 * float(np.finfo(np.float64).eps)


@dataclass(frozen=True, slots=True, kw_only=True)
class NumericalPlan:
    """What the engine computes for a numerical column: counts and sums per grid cell.

    ``values`` asks for the count of every distinct value as well (few-distinct columns, which
    are tested as categories, and whose distinct count decides the method).
    """

    column: str
    grid: NDArray[np.float64]
    values: bool


@dataclass(frozen=True, slots=True, kw_only=True)
class CategoricalPlan:
    """What the engine computes for a categorical column: the count of each value (as text)."""

    column: str


@dataclass(frozen=True, slots=True, kw_only=True)
class SummaryPlan:
    """Every column's aggregates, and the columns that must be read as rows (no bounded form)."""

    numerical: tuple[NumericalPlan, ...]
    categorical: tuple[CategoricalPlan, ...]
    rows: tuple[str, ...]

    @property
    def columns(self) -> tuple[str, ...]:
        """The summarised columns, numerical first."""
        return tuple(p.column for p in self.numerical) + tuple(p.column for p in self.categorical)


@dataclass(frozen=True, slots=True, kw_only=True)
class NumericalSummary:
    """A numerical column of the window: per cell the count and the sum of its finite values."""

    column: str
    n_rows: int
    n_missing: int
    counts: NDArray[np.int64]
    sums: NDArray[np.float64]
    #: Distinct finite values and their counts (sorted), when the plan asked for them.
    values: tuple[NDArray[np.float64], NDArray[np.int64]] | None = None

    @property
    def n_finite(self) -> int:
        """The window's finite values."""
        return int(self.counts.sum())

    def sample(self) -> SortedSample:
        """The exact window as a sorted sample, from the distinct values (few-distinct columns only)."""
        if self.values is None:
            raise ValueError(f"column {self.column!r} was summarised without its values")
        return SortedSample.from_sorted(np.repeat(*self.values))


@dataclass(frozen=True, slots=True, kw_only=True)
class CategoricalSummary:
    """A categorical column of the window: each present value (as text) and its count."""

    column: str
    n_rows: int
    n_missing: int
    labels: tuple[str, ...]
    counts: NDArray[np.int64]


ColumnSummary = NumericalSummary | CategoricalSummary


@dataclass(frozen=True, slots=True, kw_only=True)
class WindowSummary:
    """The window's aggregates, as one engine query returned them."""

    n_rows: int
    columns: Mapping[str, ColumnSummary]


def numerical_grid(profile: NumericalProfile, size: int = DEFAULT_GRID) -> NDArray[np.float64]:
    """The grid of a numerical column: ``size`` reference quantiles, the bin edges and the extremes.

    A reference with few distinct values gets every value and the float just above it (the
    profile's own atom convention), so each atom is a cell of its own and its count is exact.
    """
    values = profile.sample.values
    if values.size == 0:
        return np.asarray(profile.bin_edges, dtype=np.float64)
    # The extremes and the float above the maximum: out-of-range counts are then exact.
    parts = [np.asarray(profile.bin_edges, dtype=np.float64), values[[0, -1]], np.nextafter(values[[-1]], np.inf)]
    if profile.n_distinct <= 2 * size:
        atoms = np.unique(values)
        parts += [atoms, np.nextafter(atoms, np.inf)]
    else:
        parts.append(values[np.linspace(0, values.size - 1, size).astype(np.int64)])
    grid: NDArray[np.float64] = np.unique(np.concatenate(parts))
    return grid[np.isfinite(grid)]


def plan_summary(profile: ReferenceProfile, columns: list[str], rows: frozenset[str] = frozenset(),
                 grid: int = DEFAULT_GRID) -> SummaryPlan:
    """The aggregates of ``columns``; ``rows`` (and columns of other types) are read as rows instead.

    Categorical columns whose reference categories are not all text or integers are read as
    rows too: the engine reports values as text, and ``str(1.0)`` is not every engine's text of
    1.0, so only text and integers are matched safely.
    """
    numerical: list[NumericalPlan] = []
    categorical: list[CategoricalPlan] = []
    as_rows: list[str] = []
    for name in columns:
        prof = profile.columns.get(name)
        if name in rows:
            as_rows.append(name)
        elif isinstance(prof, NumericalProfile):
            numerical.append(NumericalPlan(column=name, grid=numerical_grid(prof, grid),
                                           values=prof.n_distinct <= FEW_DISTINCT))
        elif isinstance(prof, CategoricalProfile) and all(
                isinstance(c, str | int) and not isinstance(c, bool) for c in prof.categories):
            categorical.append(CategoricalPlan(column=name))
        elif prof is not None:
            as_rows.append(name)
    return SummaryPlan(numerical=tuple(numerical), categorical=tuple(categorical), rows=tuple(as_rows))


def _cell_edges(grid: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Left and right edges of every cell (the open cells get -inf and +inf)."""
    return np.concatenate(([-np.inf], grid)), np.concatenate((grid, [np.inf]))


def ks_bounds(reference: SortedSample, grid: NDArray[np.float64], counts: NDArray[np.int64]) -> tuple[float, float]:
    """Bounds ``(lo, hi)`` of the two-sample KS distance ``sup |F_ref - F_cur|`` from cell counts.

    ``F_cur`` is known exactly just below each grid point (the share of values in the cells to
    its left), which gives ``lo``. Inside cell ``k`` it lies between the shares ``L_k`` below and
    ``U_k`` above the cell, and ``F_ref`` between its values at the cell's ends, which gives ``hi``.
    """
    ref = reference.values
    n_ref, n_cur = float(ref.size), float(counts.sum())
    below = np.searchsorted(ref, grid, side="left") / n_ref  # F_ref just below each grid point
    at = np.searchsorted(ref, grid, side="right") / n_ref  # F_ref at each grid point
    upper = np.cumsum(counts) / n_cur  # U_k: share below cell k's right edge
    lower = np.concatenate(([0.0], upper[:-1]))  # L_k: share below its left edge
    lo = float(np.max(np.abs(below - upper[:-1]))) if grid.size else 0.0
    ref_min = np.concatenate(([0.0], at))  # F_ref on cell k is within [ref_min, ref_max]
    ref_max = np.concatenate((below, [1.0]))
    gaps = np.maximum(ref_max - lower, upper - ref_min)
    # A cell [a, nextafter(a)) is the one point a (an atom of the grid): there F_cur = U exactly.
    left, right = _cell_edges(grid)
    point = np.nextafter(left, np.inf) == right
    exact = np.abs(ref_min - upper)
    gaps = np.where(point, exact, gaps)
    lo = max(lo, float(np.max(exact, where=point, initial=0.0)))
    hi = float(np.max(gaps))
    return lo, max(lo, hi)


def _integrals(values: NDArray[np.float64], grid: NDArray[np.float64]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Per cell, the count and the sum of a sorted sample's values (the reference's side)."""
    cuts = np.searchsorted(values, grid, side="left")
    bounds = np.concatenate(([0], cuts, [values.size]))
    counts = np.diff(bounds).astype(np.int64)
    sums = np.zeros(counts.size, dtype=np.float64)
    nonempty = counts > 0
    if values.size:
        sums[nonempty] = np.add.reduceat(values, bounds[:-1][nonempty])
    return counts, sums


def _excess(g_high: NDArray[np.float64], g_low: NDArray[np.float64], f_low: NDArray[np.float64],
            f_high: NDArray[np.float64], g_int: NDArray[np.float64], f_int: NDArray[np.float64],
            width: NDArray[np.float64]) -> NDArray[np.float64]:
    """Per cell, a bound of ``∫ (g - f)+`` for monotone ``g`` in ``[g_low, g_high]``, ``f`` in ``[f_low, f_high]``.

    Three bounds, the least taken: ``(g_high - f_low)+ w``; where ``g >= f_low`` throughout,
    exactly ``∫ g - f_low w``; where ``f <= g_high`` throughout, ``g_high w - ∫ f``. The last
    two use the exact integrals, which keeps wide cells (a heavy tail's) tight.
    """
    out = np.maximum(0.0, g_high - f_low) * width
    out = np.where(g_low >= f_low, np.minimum(out, g_int - f_low * width), out)
    out = np.where(f_high <= g_high, np.minimum(out, g_high * width - f_int), out)
    return np.maximum(out, 0.0)


def wasserstein_bounds(reference: SortedSample, grid: NDArray[np.float64], counts: NDArray[np.int64],
                       sums: NDArray[np.float64]) -> tuple[float, float]:
    """Bounds ``(lo, hi)`` of the Wasserstein-1 distance ``∫ |F_ref - F_cur| dx`` (not normed).

    Per finite cell ``[a, b)`` both integrals ``∫ F dx`` are exact, from the cell's count and
    sum: ``∫_a^b F = L (b - a) + Σ (b - x_i) / n`` over the values in the cell. Where one ECDF
    stays above the other across the cell (the common case on a fine grid) ``∫ |F_ref - F_cur|``
    is the difference of the two, exactly; where they may cross, it exceeds that difference by
    ``2 min(∫ (F_cur - F_ref)+, ∫ (F_ref - F_cur)+)``, each part bounded by :func:`_excess`. The open cells are exact:
    the reference's extremes are grid points, so ``F_ref`` is 0 left of the grid and 1 right of it.
    ``grid`` must hold the reference's minimum and maximum (:func:`numerical_grid` does).
    """
    ref = reference.values
    if ref.size == 0 or grid.size == 0 or ref[0] < grid[0] or ref[-1] > grid[-1]:
        raise ValueError("the grid must hold the reference's minimum and maximum")
    n_ref, n_cur = float(ref.size), float(counts.sum())
    left, right = _cell_edges(grid)
    ref_counts, ref_sums = _integrals(ref, grid)
    cur_share = np.cumsum(counts) / n_cur
    ref_share = np.cumsum(ref_counts) / n_ref
    cur_low = np.concatenate(([0.0], cur_share[:-1]))
    ref_low = np.concatenate(([0.0], ref_share[:-1]))
    inner = slice(1, grid.size)  # the finite cells
    a, b = left[inner], right[inner]
    width = b - a
    cur_int = cur_low[inner] * width + (counts[inner] * b - sums[inner]) / n_cur
    ref_int = ref_low[inner] * width + (ref_counts[inner] * b - ref_sums[inner]) / n_ref
    gap = np.abs(ref_int - cur_int)
    # F_ref on [a, b) runs from ref_low + (its values equal to a) to ref_share (just below b).
    at_a = np.searchsorted(ref, a, side="right") / n_ref
    slack = 2.0 * np.minimum(_excess(cur_share[inner], cur_low[inner], at_a, ref_share[inner], cur_int, ref_int, width),
                             _excess(ref_share[inner], at_a, cur_low[inner], cur_share[inner], ref_int, cur_int, width))
    # The open cells: left of the grid F_ref = 0, right of it F_ref = 1 (exact).
    first, last = grid[0], grid[-1]
    tails = (counts[0] * first - sums[0]) / n_cur + (sums[-1] - counts[-1] * last) / n_cur
    lo = float(gap.sum()) + float(tails)
    # Rounding of the engine's sums and of ours: relative to the magnitudes that were subtracted.
    scale = (np.abs(counts * np.concatenate(([first], b, [last]))) + np.abs(sums)).sum() / n_cur \
        + (np.abs(ref_counts[inner] * b) + np.abs(ref_sums[inner])).sum() / n_ref
    rounding = _SUM_RTOL * float(scale)
    hi = lo + float(slack.sum()) + rounding
    return max(0.0, lo - rounding), hi
