"""The drift check of a window summarised by its engine (pushdown), with rows only where needed.

:func:`check_summary` takes the :class:`~monitor.stats.binned.WindowSummary` an engine computed
for a :class:`~monitor.stats.binned.SummaryPlan` and tests each column under the same rules as
:func:`monitor.stats.check.check`:

- **exact from aggregates** (``basis: aggregates``): categorical columns, the histogram methods
  (PSI, Jensen-Shannon, KL, Hellinger) on the profile's bins, few-distinct numerical columns
  tested as categories, the missing-rate test and the out-of-range count. These equal the rows'
  results to floating-point rounding (the contract suite requires 1e-12).
- **bounded** (``basis: bounded``): KS (above SciPy's exact-size limit) and Wasserstein. The
  statistic lies in ``[lo, hi]`` (:func:`~monitor.stats.binned.ks_bounds`,
  :func:`~monitor.stats.binned.wasserstein_bounds`); the verdict is taken only when the rule
  gives the same one at both ends (both rules are monotone in the statistic). The result carries
  the midpoint and ``statistic_error_bound = (hi - lo) / 2``.
- **rows**: every other method, and any column whose bounds straddle its threshold, is returned
  in :attr:`SummaryOutcome.needs_rows`; the caller reads those columns' rows and finishes with
  :func:`finish_with_rows`. The rows' results say ``basis: rows`` (or ``sample``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from monitor.stats.auto import FEW_DISTINCT, choose_method, tail_span
from monitor.stats.binned import (
    CategoricalSummary,
    NumericalSummary,
    WindowSummary,
    ks_bounds,
    wasserstein_bounds,
)
from monitor.stats.binning import value_counts_sorted
from monitor.stats.calibration import numerical_null
from monitor.stats.check import (
    _HISTOGRAM,
    Basis,
    CheckOptions,
    ColumnResult,
    DatasetResult,
    Status,
    _align_values,
    _base,
    _calibrated_distance,
    _calibrated_p,
    _Context,
    _evidently,
    _levels,
    _on_counts,
    _on_values,
    _tested,
    _Verdict,
    column_results,
    counted_categories,
    finish,
    validate_options,
)
from monitor.stats.drift.ks import _MAX_EXACT_SIZE, _asymptotic_p_value
from monitor.stats.drift.wasserstein import _MIN_SCALE
from monitor.stats.profile import CategoricalProfile, NumericalProfile, ReferenceProfile
from monitor.stats.types import ColumnType, Compat, DriftMethod, DriftResult, distance_drifted, p_value_drifted

__all__ = ["SummaryOutcome", "check_summary", "finish_with_rows"]

_BOUNDED = frozenset({DriftMethod.KS, DriftMethod.WASSERSTEIN})


@dataclass(frozen=True, slots=True, kw_only=True)
class SummaryOutcome:
    """The columns decided from the summary, and those whose rows must be read."""

    results: dict[str, ColumnResult]
    needs_rows: tuple[str, ...]
    options: CheckOptions


def _bin_counts(summary: NumericalSummary, grid: NDArray[np.float64], edges: NDArray[np.float64]) -> NDArray[np.int64]:
    """The window's counts in the profile's bins, summed from grid cells (the edges are grid points)."""
    below = np.concatenate(([0], np.cumsum(summary.counts)))  # below[j + 1]: values < grid[j]
    positions = below[np.searchsorted(grid, edges) + 1]
    return np.diff(np.concatenate(([0], positions, [summary.n_finite]))).astype(np.int64)


def _out_of_range(summary: NumericalSummary, grid: NDArray[np.float64], prof: NumericalProfile) -> int:
    below = np.concatenate(([0], np.cumsum(summary.counts)))
    under = int(below[np.searchsorted(grid, prof.minimum) + 1])
    over = summary.n_finite - int(below[np.searchsorted(grid, np.nextafter(prof.maximum, np.inf)) + 1])
    return under + over


def _bounded_verdict(method: DriftMethod, lo: float, hi: float, prof: NumericalProfile, n_cur: int,
                     ctx: _Context) -> _Verdict | None:
    """The verdict of a statistic known to lie in ``[lo, hi]``, or ``None`` if the ends disagree."""
    ref = prof.sample
    n_ref = ref.size
    threshold = ctx.column_options.threshold

    def at(statistic: float) -> _Verdict:
        if method is DriftMethod.KS:
            p = _asymptotic_p_value(statistic, n_ref, n_cur)
            if ctx.options.compat is Compat.EVIDENTLY:
                t = 0.05 if threshold is None else threshold
                return _evidently(DriftResult(method=method, statistic=statistic, p_value=p, threshold=t,
                                              drifted=p_value_drifted(method, p, t), n_reference=n_ref,
                                              n_current=n_cur))
            alpha, floor = _levels(method, ctx)
            return _calibrated_p(DriftResult(method=method, statistic=statistic, p_value=p, threshold=alpha,
                                             drifted=p_value_drifted(method, p, alpha), n_reference=n_ref,
                                             n_current=n_cur), statistic, alpha, floor)
        if ctx.options.compat is Compat.EVIDENTLY:
            t = 0.1 if threshold is None else threshold
            return _evidently(DriftResult(method=method, statistic=statistic, p_value=None, threshold=t,
                                          drifted=distance_drifted(method, statistic, t), n_reference=n_ref,
                                          n_current=n_cur))
        alpha, floor = _levels(method, ctx)
        null = numerical_null(ctx.cache, ctx.column, method, ref, prof.std, n_cur,
                              seed=ctx.options.seed, resamples=ctx.options.null_resamples)
        return _calibrated_distance(DriftResult(method=method, statistic=statistic, p_value=None, threshold=floor,
                                                drifted=distance_drifted(method, statistic, floor),
                                                n_reference=n_ref, n_current=n_cur), null, alpha, floor)

    low, high = at(lo), at(hi)
    if low.drifted != high.drifted:
        return None
    return at(0.5 * (lo + hi))


def _numerical(prof: NumericalProfile, summary: NumericalSummary, grid: NDArray[np.float64],
               ctx: _Context) -> ColumnResult | None:
    """One numerical column from its summary, or ``None`` when its rows are needed."""
    opts = ctx.column_options
    n_cur = summary.n_finite
    base = _base(prof, n_cur, summary.n_missing, summary.n_rows, ctx.options)
    ref = prof.sample
    if ref.size == 0 or n_cur == 0:
        side = "reference" if ref.size == 0 else "current"
        return replace(base, reason=f"no finite values in the {side} data", basis=Basis.AGGREGATES)
    out_of_range = _out_of_range(summary, grid, prof)
    method, as_categories = opts.method, False
    if method is None:
        n_distinct = prof.n_distinct
        if n_distinct <= FEW_DISTINCT:
            if summary.values is None:
                return None
            n_distinct = int(np.union1d(value_counts_sorted(ref.values)[0], summary.values[0]).size)
        choice = choose_method(ColumnType.NUMERICAL, ref.size, n_distinct, ctx.options.compat,
                               span=tail_span(ref.values) if ctx.options.compat is Compat.CALIBRATED else 0.0)
        method, as_categories, reason = choice.method, choice.as_categories, choice.reason
    else:
        reason = "configured"
    if as_categories or (summary.values is not None and method not in _HISTOGRAM):
        if summary.values is None:
            return None
        # Few distinct values: the window is known exactly, so every method is exact.
        return _exact_values(prof, summary, method, as_categories, reason, base, out_of_range, ctx)
    if method in _HISTOGRAM:
        ref_counts, cur_counts = prof.bin_counts, _bin_counts(summary, grid, prof.bin_edges)
        keep = (ref_counts > 0) | (cur_counts > 0)
        verdict = _on_counts(method, ref_counts[keep], cur_counts[keep], "bins", ctx)
        return _tested(base, verdict, reason, out_of_range_current=out_of_range, basis=Basis.AGGREGATES)
    if method not in _BOUNDED or (method is DriftMethod.KS and max(ref.size, n_cur) <= _MAX_EXACT_SIZE):
        return None  # no bounded form (or SciPy's exact small-sample p-value): rows
    if method is DriftMethod.KS:
        lo, hi = ks_bounds(ref, grid, summary.counts)
    else:
        lo, hi = wasserstein_bounds(ref, grid, summary.counts, summary.sums)
        scale = max(prof.std, _MIN_SCALE)
        lo, hi = lo / scale, hi / scale
    bounded = _bounded_verdict(method, lo, hi, prof, n_cur, ctx)
    if bounded is None:
        return None
    return _tested(base, bounded, reason, out_of_range_current=out_of_range, basis=Basis.BOUNDED,
                   statistic_error_bound=0.5 * (hi - lo))


def _exact_values(prof: NumericalProfile, summary: NumericalSummary, method: DriftMethod, as_categories: bool,
                  reason: str, base: ColumnResult, out_of_range: int, ctx: _Context) -> ColumnResult:
    """A few-distinct column, whose window the engine returned value by value."""
    cur = summary.sample()
    if as_categories:
        ref_counts, cur_counts, _ = _align_values(prof.sample, cur)
        verdict = _on_counts(method, ref_counts, cur_counts, "values", ctx)
    else:
        kw: dict[str, Any] = {"reference_std": prof.std} if method is DriftMethod.WASSERSTEIN else {}
        verdict = _on_values(method, prof.sample, cur, prof.std, ctx, **kw)
    return _tested(base, verdict, reason, out_of_range_current=out_of_range, basis=Basis.AGGREGATES)


def _categorical(prof: CategoricalProfile, summary: CategoricalSummary, ctx: _Context) -> ColumnResult:
    """One categorical column from its value counts (the same alignment as the rows' check)."""
    keep = summary.counts > 0
    labels = pd.Index(np.asarray(summary.labels, dtype=object)[keep])
    return counted_categories(prof, labels, summary.counts[keep], summary.n_missing, summary.n_rows, ctx,
                              [str(c) for c in prof.categories], basis=Basis.AGGREGATES)


def check_summary(profile: ReferenceProfile, summary: WindowSummary, grids: dict[str, NDArray[np.float64]],
                  options: CheckOptions | None = None) -> SummaryOutcome:
    """Test every summarised column; list the profiled columns whose rows are needed.

    ``grids`` are the numerical columns' grids of the plan the summary answers. A profiled
    column the summary lacks is listed in ``needs_rows``.
    """
    options = options or CheckOptions()
    validate_options(profile, options)
    if options.dataset_columns is None:
        options = replace(options, dataset_columns=frozenset(profile.columns))
    results: dict[str, ColumnResult] = {}
    needs: list[str] = []
    for name, prof in profile.columns.items():
        col = summary.columns.get(name)
        ctx = _Context(column=name, options=options, column_options=options.for_column(name),
                       cache=profile.null_cache)
        result: ColumnResult | None = None
        try:
            if isinstance(prof, NumericalProfile) and isinstance(col, NumericalSummary):
                result = _numerical(prof, col, grids[name], ctx)
            elif isinstance(prof, CategoricalProfile) and isinstance(col, CategoricalSummary):
                result = _categorical(prof, col, ctx)
        except ValueError as exc:  # as the rows' check: this column only
            result = ColumnResult(
                column=name, type=prof.type, method=ctx.column_options.method, reason=str(exc), statistic=None,
                p_value=None, adjusted_p_value=None, threshold=None, drifted=False, status=Status.NOT_TESTABLE,
                n_reference=0, n_current=col.n_rows if col is not None else 0, missing_reference=0,
                missing_current=0, missing_p_value=None, missing_drifted=False, basis=Basis.AGGREGATES)
        if result is None:
            needs.append(name)
        else:
            results[name] = result
    return SummaryOutcome(results=results, needs_rows=tuple(needs), options=options)


def finish_with_rows(profile: ReferenceProfile, outcome: SummaryOutcome, rows: pd.DataFrame | None, *,
                     sampled: bool = False, workers: int = 2) -> DatasetResult:
    """The dataset result: the summary's columns and, from ``rows``, those it could not decide.

    ``rows`` holds (at least) the columns of ``outcome.needs_rows``; ``sampled`` marks them as a
    sample of the window's rows rather than all of them. Columns keep the profile's order.
    """
    from_rows: dict[str, list[ColumnResult]] = {}
    if outcome.needs_rows:
        if rows is None:
            raise ValueError(f"the rows of {', '.join(outcome.needs_rows)} are needed")
        basis = Basis.SAMPLE if sampled else Basis.ROWS
        needed = set(outcome.needs_rows)
        for r in column_results(profile, rows, outcome.options, names=list(outcome.needs_rows), workers=workers):
            origin = r.column if r.column in needed else r.column.split(":", 1)[0]  # a text column's parts
            from_rows.setdefault(origin, []).append(replace(r, basis=basis))
    ordered: list[ColumnResult] = []
    for name in profile.columns:
        if name in outcome.results:
            ordered.append(outcome.results[name])
        else:
            ordered.extend(from_rows.get(name, ()))
    return finish(ordered, outcome.options)
