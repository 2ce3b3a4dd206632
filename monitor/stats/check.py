"""The drift check of a current frame against a reference profile, column by column.

Each column is typed by its profile, cleaned (missing and ±inf counted, not dropped silently),
its missing rate tested, its method chosen (configured, or automatically) and tested under the
rule of ``CheckOptions.compat``: ``calibrated`` (default; threshold = max(effect floor, null
quantile at both window sizes)) or ``evidently`` (Evidently 0.7.23's fixed thresholds). A
column that cannot be tested gets ``status: not_testable`` with the reason and never fails the
whole check. Then an optional correction across the counted columns, and the one dataset
verdict: the share of drifted counted columns against ``drift_share``. Callers never
recompute it.

Columns are independent, so they are tested on a small thread pool: the heavy steps (sorting,
merging, counting) are NumPy calls that release the GIL. BLAS is held to one thread meanwhile,
so its own threads do not fight the pool's (:mod:`monitor.stats._threads`).
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from monitor.errors import ConfigError
from monitor.stats import drift
from monitor.stats._threads import single_blas_thread
from monitor.stats._validate import check_alpha
from monitor.stats.auto import FEW_DISTINCT, choose_method, default_threshold, tail_span
from monitor.stats.binning import bin_counts, value_counts_sorted
from monitor.stats.calibration import (
    DEFAULT_EFFECT_FLOORS,
    NullDraws,
    count_effect,
    count_null,
    numerical_effect,
    numerical_null,
)
from monitor.stats.correction import Correction, adjust_p_values
from monitor.stats.embedding import EmbeddingProfile, check_embedding
from monitor.stats.profile import (
    CategoricalProfile,
    CircularProfile,
    ColumnProfile,
    NumericalProfile,
    ReferenceProfile,
    categorical_counts,
    circular_values,
    numerical_values,
)
from monitor.stats.sample import SortedSample
from monitor.stats.text import TextProfile, check_text
from monitor.stats.types import (
    CATEGORICAL_METHODS,
    CIRCULAR_METHODS,
    EMBEDDING_METHODS,
    NUMERICAL_METHODS,
    P_VALUE_METHODS,
    ColumnType,
    Compat,
    DriftMethod,
    DriftResult,
    Rule,
    p_value_drifted,
)

__all__ = ["Basis", "CheckOptions", "ColumnOptions", "ColumnResult", "DatasetResult", "Status", "check",
           "column_results", "finish"]

_HISTOGRAM = frozenset(
    {DriftMethod.PSI, DriftMethod.JENSEN_SHANNON, DriftMethod.KL_DIV, DriftMethod.HELLINGER}
)


class Status(StrEnum):
    """Whether a column was tested."""

    OK = "ok"
    NOT_TESTABLE = "not_testable"


class Basis(StrEnum):
    """What a column's statistic was computed from (``None`` on a result: the window's rows).

    ``aggregates``: counts the source's engine computed (pushdown), exact for the method;
    ``bounded``: the engine's cell counts pin the statistic within ``statistic_error_bound`` and
    the verdict is the same at both ends; ``rows``: rows read back because no bounded form
    exists or the bound straddled the threshold; ``sample``: a seeded sample of those rows
    (docs/scaling.md).
    """

    AGGREGATES = "aggregates"
    BOUNDED = "bounded"
    ROWS = "rows"
    SAMPLE = "sample"


@dataclass(frozen=True, slots=True, kw_only=True)
class ColumnOptions:
    """A per-column override of the method and its threshold, level and effect floor.

    ``threshold`` is alpha for p-value tests; for a distance it is the fixed threshold under
    ``compat=evidently`` and the effect floor under ``compat=calibrated`` (the null quantile
    still guards small windows). ``alpha`` is the level of the calibrated null quantile (and of
    a p-value test, when ``threshold`` is not given); ``effect_floor`` overrides the method's
    default floor (:data:`~monitor.stats.calibration.DEFAULT_EFFECT_FLOORS`).
    """

    method: DriftMethod | None = None
    threshold: float | None = None
    alpha: float | None = None
    effect_floor: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckOptions:
    """How a check tests: a method for every column or per column (automatic by default).

    ``compat`` picks the verdict rule (``calibrated`` by default, ``evidently`` for Evidently
    0.7.23's exact verdicts). ``dataset_columns`` are the columns the dataset verdict counts
    (``None``: every tested column); the service and the CLI pass the features, so a target or
    prediction column never tips it. ``fdr`` applies Benjamini-Hochberg across the counted
    columns (the same as ``correction=benjamini_hochberg``). ``min_features``: the dataset
    verdict needs at least this many counted, tested columns. The missing-rate floors apply
    under ``calibrated``: the missing share must change by at least ``missing_abs_floor`` and
    by at least ``missing_rel_floor`` of the reference's share. ``seed`` and
    ``null_resamples`` fix the simulation of null quantiles.
    """

    method: DriftMethod | None = None
    threshold: float | None = None
    columns: Mapping[str, ColumnOptions] = field(default_factory=dict)
    drift_share: float = 0.5
    correction: Correction = Correction.NONE
    missing_alpha: float = 0.05
    #: Columns the dataset verdict counts (``None``: every tested column); the service counts features only.
    dataset_columns: frozenset[str] | None = None
    compat: Compat = Compat.CALIBRATED
    alpha: float = 0.05
    fdr: bool = False
    min_features: int = 1
    missing_abs_floor: float = 0.02
    missing_rel_floor: float = 0.5
    seed: int = 0
    null_resamples: int = 400

    def for_column(self, name: str) -> ColumnOptions:
        """The effective options of one column: its override, else the check-wide ones."""
        own = self.columns.get(name, ColumnOptions())
        return ColumnOptions(
            method=own.method or self.method,
            threshold=own.threshold if own.threshold is not None else self.threshold,
            alpha=own.alpha, effect_floor=own.effect_floor,
        )

    @property
    def effective_correction(self) -> Correction:
        """The correction applied: ``fdr`` is Benjamini-Hochberg."""
        return Correction.BENJAMINI_HOCHBERG if self.fdr else self.correction


@dataclass(frozen=True, slots=True, kw_only=True)
class ColumnResult:
    """One column's verdict, its data-quality figures and how it was reached."""

    column: str
    type: ColumnType | None
    method: DriftMethod | None
    reason: str
    statistic: float | None
    p_value: float | None
    adjusted_p_value: float | None
    threshold: float | None
    drifted: bool
    status: Status
    n_reference: int
    n_current: int
    missing_reference: int
    missing_current: int
    missing_p_value: float | None
    missing_drifted: bool
    new_categories: tuple[str, ...] | None = None
    out_of_range_current: int | None = None
    effect: float | None = None
    effect_floor: float | None = None
    null_threshold: float | None = None
    alpha: float | None = None
    rule: Rule | None = None
    #: Half the width of the interval the true statistic lies in (``bounded`` results); else ``None``.
    statistic_error_bound: float | None = None
    basis: Basis | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (docs/json-output.md)."""
        out: dict[str, Any] = {
            "column": self.column,
            "type": None if self.type is None else str(self.type),
            "method": None if self.method is None else str(self.method),
            "reason": self.reason,
            # JSON has no infinity: a statistic of ±inf (e.g. a t-test between two different
            # constants) is written as null; the verdict still says what happened.
            "statistic": self.statistic if self.statistic is None or np.isfinite(self.statistic) else None,
            "p_value": self.p_value,
            "adjusted_p_value": self.adjusted_p_value,
            "threshold": self.threshold,
            "drifted": self.drifted,
            "status": str(self.status),
            "n_reference": self.n_reference,
            "n_current": self.n_current,
            "missing_reference": self.missing_reference,
            "missing_current": self.missing_current,
            "missing_p_value": self.missing_p_value,
            "missing_drifted": self.missing_drifted,
            "effect": self.effect if self.effect is None or np.isfinite(self.effect) else None,
            "effect_floor": self.effect_floor,
            "null_threshold": self.null_threshold,
            "alpha": self.alpha,
            "rule": None if self.rule is None else str(self.rule),
            "statistic_error_bound": self.statistic_error_bound,
            "basis": None if self.basis is None else str(self.basis),
        }
        if self.type is ColumnType.CATEGORICAL:
            out["new_categories"] = list(self.new_categories or ())
        if self.type is ColumnType.NUMERICAL:
            out["out_of_range_current"] = self.out_of_range_current
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class DatasetResult:
    """The dataset verdict and every column's result."""

    drift_share: float
    drifted_columns: int
    total_columns: int
    dataset_drift: bool
    threshold: float
    correction: Correction
    columns: tuple[ColumnResult, ...]
    compat: Compat = Compat.CALIBRATED
    min_features: int = 1
    counted_columns: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract of ``driftline check --format json`` (docs/json-output.md)."""
        return {
            "dataset": {
                "drift_share": self.drift_share,
                "drifted_columns": self.drifted_columns,
                "total_columns": self.total_columns,
                "dataset_drift": self.dataset_drift,
                "threshold": self.threshold,
                "correction": str(self.correction),
                "compat": str(self.compat),
                "min_features": self.min_features,
                "counted_columns": list(self.counted_columns),
            },
            "columns": [c.to_dict() for c in self.columns],
        }


def validate_options(profile: ReferenceProfile, options: CheckOptions) -> None:
    """Refuse options that cannot apply, before any work: unknown columns, wrong method types."""
    if not 0.0 < options.drift_share <= 1.0:
        raise ConfigError(f"drift_share ({options.drift_share}) must be in (0, 1]", path="drift_share")
    check_alpha(options.missing_alpha)
    check_alpha(options.alpha)
    if options.min_features < 1:
        raise ConfigError(f"min_features ({options.min_features}) must be at least 1", path="min_features")
    if options.null_resamples < 20:
        raise ConfigError(f"null_resamples ({options.null_resamples}) must be at least 20", path="null_resamples")
    if options.fdr and options.correction not in (Correction.NONE, Correction.BENJAMINI_HOCHBERG):
        raise ConfigError(f"fdr is Benjamini-Hochberg; it cannot be combined with correction "
                          f"{options.correction}", path="fdr")
    for value, name in ((options.missing_abs_floor, "missing_abs_floor"), (options.missing_rel_floor, "missing_rel_floor")):
        if not (np.isfinite(value) and value >= 0):
            raise ConfigError(f"{name} ({value}) must be a finite number >= 0", path=name)
    for name in sorted(options.dataset_columns or ()):
        if name not in profile.columns:
            raise ConfigError(f"dataset column {name!r} is not in the reference data", path="dataset_columns")
    for name in options.columns:
        if name not in profile.columns:
            raise ConfigError(f"column {name!r} is not in the reference data", path=f"columns.{name}")
    for name, col in profile.columns.items():
        opts = options.for_column(name)
        if opts.alpha is not None:
            check_alpha(opts.alpha)
        if opts.effect_floor is not None and not (np.isfinite(opts.effect_floor) and opts.effect_floor >= 0):
            raise ConfigError(f"effect_floor ({opts.effect_floor}) of column {name!r} must be >= 0",
                              path=f"columns.{name}.effect_floor")
        if opts.method is None or col.type is None:
            continue
        allowed = {ColumnType.NUMERICAL: NUMERICAL_METHODS, ColumnType.CATEGORICAL: CATEGORICAL_METHODS,
                   ColumnType.CIRCULAR: CIRCULAR_METHODS, ColumnType.TEXT: frozenset({DriftMethod.TEXT_DOMAIN_CLASSIFIER}),
                   ColumnType.EMBEDDING: EMBEDDING_METHODS}[col.type]
        if opts.method not in allowed:
            raise ConfigError(
                f"method {opts.method} does not apply to {col.type} column {name!r}",
                path=f"columns.{name}.method",
            )
        if opts.threshold is not None:
            if opts.method in P_VALUE_METHODS:
                check_alpha(opts.threshold)
            elif not opts.threshold >= 0:
                raise ConfigError(f"threshold ({opts.threshold}) of column {name!r} must be >= 0",
                                  path=f"columns.{name}.threshold")


@dataclass(frozen=True, slots=True, kw_only=True)
class _Context:
    """What a column's test needs besides its data: the options and the profile's null cache."""

    column: str
    options: CheckOptions
    column_options: ColumnOptions
    cache: dict[Any, NullDraws]


@dataclass(frozen=True, slots=True, kw_only=True)
class _Verdict:
    result: DriftResult
    p_value: float | None
    threshold: float
    drifted: bool
    effect: float | None = None
    effect_floor: float | None = None
    null_threshold: float | None = None
    alpha: float | None = None
    rule: Rule


def _apply(method: DriftMethod, reference: Any, current: Any, threshold: float | None, **kw: Any) -> DriftResult:
    fn = drift.FUNCTIONS[method]
    t = default_threshold(method) if threshold is None else threshold
    return fn(reference, current, alpha=t, **kw) if method in P_VALUE_METHODS else fn(reference, current, threshold=t, **kw)


def _evidently(result: DriftResult) -> _Verdict:
    return _Verdict(result=result, p_value=result.p_value, threshold=result.threshold, drifted=result.drifted,
                    rule=Rule.EVIDENTLY, alpha=result.threshold if result.p_value is not None else None)


def _levels(method: DriftMethod, ctx: _Context) -> tuple[float, float]:
    """The calibrated level alpha and effect floor of a column (docs/statistics.md)."""
    opts = ctx.column_options
    if method in P_VALUE_METHODS:
        alpha = opts.alpha if opts.alpha is not None else (opts.threshold if opts.threshold is not None
                                                           else ctx.options.alpha)
        floor = opts.effect_floor if opts.effect_floor is not None else DEFAULT_EFFECT_FLOORS[method]
    else:
        alpha = opts.alpha if opts.alpha is not None else ctx.options.alpha
        floor = opts.effect_floor if opts.effect_floor is not None else (
            opts.threshold if opts.threshold is not None else DEFAULT_EFFECT_FLOORS[method])
    return alpha, floor


def _calibrated_p(result: DriftResult, effect: float, alpha: float, floor: float) -> _Verdict:
    assert result.p_value is not None
    return _Verdict(result=result, p_value=result.p_value, threshold=alpha,
                    drifted=result.p_value < alpha and effect >= floor, effect=effect, effect_floor=floor,
                    alpha=alpha, rule=Rule.CALIBRATED)


def _calibrated_distance(result: DriftResult, null: NullDraws, alpha: float, floor: float) -> _Verdict:
    n_eff = result.n_reference * result.n_current / (result.n_reference + result.n_current)
    quantile = null.quantile(n_eff, alpha)
    statistic = result.statistic
    return _Verdict(result=result, p_value=null.p_value(statistic, n_eff), threshold=max(floor, quantile),
                    drifted=statistic >= floor and statistic > quantile, effect=statistic, effect_floor=floor,
                    null_threshold=quantile, alpha=alpha, rule=Rule.CALIBRATED)


def _on_counts(method: DriftMethod, ref_counts: NDArray[np.int64], cur_counts: NDArray[np.int64], view: str,
               ctx: _Context) -> _Verdict:
    """A count method (categories, values as categories, histogram bins) under the chosen rule."""
    threshold = ctx.column_options.threshold
    if ctx.options.compat is Compat.EVIDENTLY:
        return _evidently(_apply(method, ref_counts, cur_counts, threshold))
    alpha, floor = _levels(method, ctx)
    if method in P_VALUE_METHODS:
        result = _apply(method, ref_counts, cur_counts, alpha)
        return _calibrated_p(result, count_effect(ref_counts, cur_counts), alpha, floor)
    result = _apply(method, ref_counts, cur_counts, floor)
    null = count_null(ctx.cache, ctx.column, method, view, ref_counts.astype(np.float64), result.n_current,
                      seed=ctx.options.seed, resamples=ctx.options.null_resamples)
    return _calibrated_distance(result, null, alpha, floor)


def _on_values(method: DriftMethod, ref: SortedSample, cur: SortedSample, scale: float, ctx: _Context,
               **kw: Any) -> _Verdict:
    """A method on raw values (numerical or circular) under the chosen rule."""
    threshold = ctx.column_options.threshold
    if ctx.options.compat is Compat.EVIDENTLY:
        return _evidently(_apply(method, ref, cur, threshold, **kw))
    alpha, floor = _levels(method, ctx)
    if method in P_VALUE_METHODS:
        result = _apply(method, ref, cur, alpha, **kw)
        return _calibrated_p(result, numerical_effect(method, ref, cur, result.statistic), alpha, floor)
    result = _apply(method, ref, cur, floor, **kw)
    null = numerical_null(ctx.cache, ctx.column, method, ref, scale, cur.size,
                          seed=ctx.options.seed, resamples=ctx.options.null_resamples)
    return _calibrated_distance(result, null, alpha, floor)


def _align_values(
    ref: SortedSample, cur: SortedSample
) -> tuple[NDArray[np.int64], NDArray[np.int64], int]:
    """Per-value counts of two numerical samples on the union of their values."""
    rv, rc = value_counts_sorted(ref.values)
    cv, cc = value_counts_sorted(cur.values)
    union = np.union1d(rv, cv)
    ref_counts = np.zeros(union.size, dtype=np.int64)
    cur_counts = np.zeros(union.size, dtype=np.int64)
    ref_counts[np.searchsorted(union, rv)] = rc
    cur_counts[np.searchsorted(union, cv)] = cc
    return ref_counts, cur_counts, int(union.size)


def _missing_test(ref_missing: int, ref_n: int, cur_missing: int, cur_n: int,
                  options: CheckOptions) -> tuple[float, bool]:
    """Two-proportion z-test of the missing rate (Evidently does not test it).

    Under ``calibrated`` a significant change must also be material: the missing share moves
    by at least ``missing_abs_floor`` (absolute) and ``missing_rel_floor`` (relative to the
    reference's share), so 0.16% -> 0% on 50,000 rows (p = 1e-11) is not an alarm.
    """
    res = drift.z_test([ref_missing, ref_n - ref_missing], [cur_missing, cur_n - cur_missing],
                       alpha=options.missing_alpha)
    assert res.p_value is not None
    if options.compat is Compat.EVIDENTLY:
        return res.p_value, res.drifted
    before, after = ref_missing / ref_n, cur_missing / cur_n
    change = abs(after - before)
    relative = change / before if before > 0 else (np.inf if change > 0 else 0.0)
    material = change >= options.missing_abs_floor and relative >= options.missing_rel_floor
    return res.p_value, res.drifted and material


def _numerical(prof: NumericalProfile, series: pd.Series, ctx: _Context) -> ColumnResult:
    opts = ctx.column_options
    cur, cur_missing = numerical_values(series, prof.column)
    base = _base(prof, cur.size, cur_missing, series.size, ctx.options)
    ref = prof.sample
    if ref.size == 0 or cur.size == 0:
        side = "reference" if ref.size == 0 else "current"
        return replace(base, reason=f"no finite values in the {side} data")
    out_of_range = int(np.searchsorted(cur.values, prof.minimum, side="left")) + int(
        cur.size - np.searchsorted(cur.values, prof.maximum, side="right")
    )
    method, as_categories = opts.method, False
    if method is None:
        n_distinct = prof.n_distinct
        if n_distinct <= FEW_DISTINCT:
            n_distinct = int(np.union1d(value_counts_sorted(ref.values)[0], value_counts_sorted(cur.values)[0]).size)
        choice = choose_method(ColumnType.NUMERICAL, ref.size, n_distinct, ctx.options.compat,
                               span=tail_span(ref.values) if ctx.options.compat is Compat.CALIBRATED else 0.0)
        method, as_categories, reason = choice.method, choice.as_categories, choice.reason
    else:
        reason = "configured"
    if as_categories:
        ref_counts, cur_counts, _ = _align_values(ref, cur)
        verdict = _on_counts(method, ref_counts, cur_counts, "values", ctx)
    elif method in _HISTOGRAM:
        ref_counts, cur_counts = prof.bin_counts, bin_counts(cur, prof.bin_edges)
        keep = (ref_counts > 0) | (cur_counts > 0)
        verdict = _on_counts(method, ref_counts[keep], cur_counts[keep], "bins", ctx)
    else:
        # The profile stores the reference's standard deviation: Wasserstein need not recompute it.
        kw: dict[str, Any] = {"reference_std": prof.std} if method is DriftMethod.WASSERSTEIN else {}
        verdict = _on_values(method, ref, cur, prof.std, ctx, **kw)
    return _tested(base, verdict, reason, out_of_range_current=out_of_range)


def _circular(prof: CircularProfile, series: pd.Series, ctx: _Context) -> ColumnResult:
    cur, cur_missing = circular_values(series, prof.column, prof.period)
    base = _base(prof, cur.size, cur_missing, series.size, ctx.options)
    if prof.sample.size == 0 or cur.size == 0:
        side = "reference" if prof.sample.size == 0 else "current"
        return replace(base, reason=f"no finite values in the {side} data")
    method = ctx.column_options.method
    if method is None:
        choice = choose_method(ColumnType.CIRCULAR, prof.sample.size, 0, ctx.options.compat)
        method, reason = choice.method, f"{choice.reason}, period {prof.period:g}"
    else:
        reason = "configured"
    verdict = _on_values(method, prof.sample, cur, 1.0, ctx, period=prof.period)
    return _tested(base, verdict, reason)


def _categorical(prof: CategoricalProfile, series: pd.Series, ctx: _Context) -> ColumnResult:
    index, counts, cur_missing = categorical_counts(series)
    return counted_categories(prof, index, counts, cur_missing, series.size, ctx, prof.categories)


def counted_categories(prof: CategoricalProfile, index: pd.Index, counts: NDArray[np.int64], cur_missing: int,
                       cur_rows: int, ctx: _Context, categories: Any, **extra: Any) -> ColumnResult:
    """A categorical column from the window's present values and counts (rows or an engine's counts).

    ``categories`` are the reference's categories as ``index`` spells them (the profile's own,
    or their text for an engine's counts); ``extra`` goes into the result (``basis``).
    """
    n_cur = int(counts.sum())
    base = _base(prof, n_cur, cur_missing, cur_rows, ctx.options)
    # Align on the reference's categories; categories new in current are appended after them.
    position = pd.Index(categories).get_indexer(index)
    is_new = position < 0
    base = replace(base, new_categories=tuple(sorted(str(c) for c in index[is_new])), **extra)
    n_ref = int(prof.counts.sum())
    if n_ref == 0 or n_cur == 0:
        side = "reference" if n_ref == 0 else "current"
        return replace(base, reason=f"no values in the {side} data")
    n_new = int(is_new.sum())
    ref_counts = np.concatenate([prof.counts, np.zeros(n_new, dtype=np.int64)])
    cur_counts = np.zeros(prof.counts.size + n_new, dtype=np.int64)
    cur_counts[position[~is_new]] = counts[~is_new]
    cur_counts[prof.counts.size:] = counts[is_new]
    method = ctx.column_options.method
    if method is None:
        choice = choose_method(ColumnType.CATEGORICAL, n_ref, int(ref_counts.size), ctx.options.compat)
        method, reason = choice.method, choice.reason
    else:
        reason = "configured"
    return _tested(base, _on_counts(method, ref_counts, cur_counts, "categories", ctx), reason, **extra)


def _base(prof: NumericalProfile | CategoricalProfile | CircularProfile | TextProfile | EmbeddingProfile,
          n_cur: int, cur_missing: int,
          cur_rows: int, options: CheckOptions) -> ColumnResult:
    n_ref = prof.n_rows - prof.n_missing
    missing_p, missing_drifted = (
        _missing_test(prof.n_missing, prof.n_rows, cur_missing, cur_rows, options)
        if prof.n_rows > 0 and cur_rows > 0 else (None, False)
    )
    return ColumnResult(
        column=prof.column, type=prof.type, method=None, reason="", statistic=None, p_value=None,
        adjusted_p_value=None, threshold=None, drifted=False, status=Status.NOT_TESTABLE,
        n_reference=n_ref, n_current=n_cur, missing_reference=prof.n_missing,
        missing_current=cur_missing, missing_p_value=missing_p, missing_drifted=missing_drifted,
    )


def _tested(base: ColumnResult, verdict: _Verdict, reason: str, **extra: Any) -> ColumnResult:
    result = verdict.result
    return replace(
        base, method=result.method, reason=reason, statistic=result.statistic, p_value=verdict.p_value,
        threshold=verdict.threshold, drifted=verdict.drifted, status=Status.OK, effect=verdict.effect,
        effect_floor=verdict.effect_floor, null_threshold=verdict.null_threshold, alpha=verdict.alpha,
        rule=verdict.rule, **extra,
    )


def _columns(prof: ColumnProfile, current: pd.DataFrame, options: CheckOptions,
             cache: dict[Any, NullDraws]) -> list[ColumnResult]:
    """A column's results: one, or a text column's five (monitor.stats.text); embeddings in monitor.stats.embedding."""
    if not isinstance(prof, TextProfile | EmbeddingProfile) or prof.column not in current.columns:
        return [_column(prof, current, options, cache)]
    series, opts = current[prof.column], options.for_column(prof.column)
    ctx = _Context(column=prof.column, options=options, column_options=opts, cache=cache)
    alpha = ctx.options.alpha
    try:
        if isinstance(prof, EmbeddingProfile):
            return [check_embedding(prof, series, alpha=alpha, column_options=opts,
                                    base=lambda n, m: _base(prof, n, m, series.size, options))]
        return check_text(prof, series, alpha=alpha, column_options=opts,
                          base=lambda n, m: _base(prof, n, m, series.size, options),
                          numerical=lambda p, s: _numerical(p, s, replace(ctx, column=p.column,
                                                                          column_options=ColumnOptions())))
    except ValueError as exc:  # InputError, InsufficientData: this column only
        return [ColumnResult(
            column=prof.column, type=prof.type, method=opts.method, reason=str(exc), statistic=None,
            p_value=None, adjusted_p_value=None, threshold=None, drifted=False,
            status=Status.NOT_TESTABLE, n_reference=0, n_current=int(series.size),
            missing_reference=0, missing_current=0, missing_p_value=None, missing_drifted=False)]


def _column(prof: ColumnProfile, current: pd.DataFrame, options: CheckOptions,
            cache: dict[Any, NullDraws]) -> ColumnResult:
    name = prof.column
    if name not in current.columns:
        return ColumnResult(
            column=name, type=prof.type, method=None, reason="column is missing from the current data",
            statistic=None, p_value=None, adjusted_p_value=None, threshold=None, drifted=False,
            status=Status.NOT_TESTABLE, n_reference=0, n_current=0, missing_reference=0,
            missing_current=0, missing_p_value=None, missing_drifted=False,
        )
    series = current[name]
    opts = options.for_column(name)
    ctx = _Context(column=name, options=options, column_options=opts, cache=cache)
    try:
        if isinstance(prof, NumericalProfile):
            return _numerical(prof, series, ctx)
        if isinstance(prof, CategoricalProfile):
            return _categorical(prof, series, ctx)
        if isinstance(prof, CircularProfile):
            return _circular(prof, series, ctx)
    except ValueError as exc:  # InsufficientData, InputError, degenerate samples: this column only
        return ColumnResult(
            column=name, type=prof.type, method=opts.method, reason=str(exc), statistic=None,
            p_value=None, adjusted_p_value=None, threshold=None, drifted=False,
            status=Status.NOT_TESTABLE, n_reference=0, n_current=int(series.size),
            missing_reference=0, missing_current=0, missing_p_value=None, missing_drifted=False,
        )
    return ColumnResult(
        column=name, type=None, method=None, reason=prof.reason, statistic=None, p_value=None,
        adjusted_p_value=None, threshold=None, drifted=False, status=Status.NOT_TESTABLE,
        n_reference=0, n_current=int(series.size), missing_reference=0, missing_current=0,
        missing_p_value=None, missing_drifted=False,
    )


def _counted(result: ColumnResult, options: CheckOptions) -> bool:
    return result.status is Status.OK and (options.dataset_columns is None or result.column in options.dataset_columns)


def _corrected(results: list[ColumnResult], options: CheckOptions) -> list[ColumnResult]:
    """Adjust the p-values of the counted columns; the verdict then uses the adjusted value.

    Under ``evidently`` only p-value tests have p-values; under ``calibrated`` distances carry
    their Monte Carlo p-value, and the effect floor still applies after adjustment.
    """
    correction = options.effective_correction
    tested = [i for i, r in enumerate(results) if _counted(r, options) and r.p_value is not None]
    if correction is Correction.NONE or not tested:
        return results
    adjusted = adjust_p_values([float(results[i].p_value or 0.0) for i in tested], correction)
    out = list(results)
    for i, p in zip(tested, adjusted, strict=True):
        r = results[i]
        assert r.method is not None and r.threshold is not None
        if r.rule is Rule.CALIBRATED:
            assert r.alpha is not None and r.effect is not None and r.effect_floor is not None
            drifted = float(p) < r.alpha and r.effect >= r.effect_floor
        else:
            drifted = p_value_drifted(r.method, float(p), r.threshold)
        out[i] = replace(r, adjusted_p_value=float(p), drifted=drifted)
    return out


def check(
    profile: ReferenceProfile,
    current: pd.DataFrame,
    options: CheckOptions | None = None,
    *,
    workers: int = 2,
) -> DatasetResult:
    """Test every profiled column of ``current`` against the reference profile.

    The dataset verdict is computed here and only here: the share of drifted columns among
    the counted ones (``options.dataset_columns``, default all tested), at least
    ``options.min_features`` of them.

    Examples
    --------
    >>> from monitor.stats.profile import fit_profile
    >>> ref = pd.DataFrame({"x": np.arange(200.0)})
    >>> result = check(fit_profile(ref), pd.DataFrame({"x": np.arange(200.0) + 150}))
    >>> result.dataset_drift, str(result.columns[0].method), str(result.columns[0].rule)
    (True, 'wasserstein', 'calibrated')
    >>> evidently = check(fit_profile(ref), pd.DataFrame({"x": np.arange(200.0) + 150}),
    ...                   CheckOptions(compat=Compat.EVIDENTLY))
    >>> evidently.dataset_drift, evidently.columns[0].method
    (True, <DriftMethod.KS: 'ks'>)
    """
    options = options or CheckOptions()
    validate_options(profile, options)
    if options.dataset_columns is None:  # a text column's parts (name:chars, ...) describe it, never count
        options = replace(options, dataset_columns=frozenset(profile.columns))
    return finish(column_results(profile, current, options, workers=workers), options)


def column_results(profile: ReferenceProfile, current: pd.DataFrame, options: CheckOptions, *,
                   names: list[str] | None = None, workers: int = 2) -> list[ColumnResult]:
    """Every (or each named) profiled column's result, before any correction (:func:`finish` applies it)."""
    profiles = [profile.columns[n] for n in names] if names is not None else list(profile.columns.values())
    cache = profile.null_cache
    with single_blas_thread():  # the pool is the parallelism (monitor.stats._threads)
        if workers > 1 and len(profiles) > 1:
            with ThreadPoolExecutor(max_workers=workers) as pool:
                return [r for rs in pool.map(lambda p: _columns(p, current, options, cache), profiles) for r in rs]
        return [r for p in profiles for r in _columns(p, current, options, cache)]


def finish(results: list[ColumnResult], options: CheckOptions) -> DatasetResult:
    """The correction across the counted columns, then the one dataset verdict."""
    results = _corrected(results, options)
    counted = [r for r in results if _counted(r, options)]
    drifted = sum(r.drifted for r in counted)
    share = drifted / len(counted) if counted else 0.0
    return DatasetResult(
        drift_share=share, drifted_columns=drifted, total_columns=len(counted),
        dataset_drift=len(counted) >= options.min_features and share >= options.drift_share,
        threshold=options.drift_share, correction=options.effective_correction, columns=tuple(results),
        compat=options.compat, min_features=options.min_features,
        counted_columns=tuple(r.column for r in counted),
    )
