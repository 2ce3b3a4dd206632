"""The drift check of a current frame against a reference profile, column by column.

Each column is typed by its profile, cleaned (missing and ±inf counted, not dropped silently),
its missing rate tested, its method chosen (configured, or automatically as Evidently does) and
tested; a column that cannot be tested gets ``status: not_testable`` with the reason and never
fails the whole check. Then an optional correction across p-value tests, and the dataset
verdict: the share of drifted tested columns against ``drift_share``.

Columns are independent, so they are tested on a small thread pool: the heavy steps (sorting,
merging, counting) are NumPy calls that release the GIL.
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
from monitor.stats._validate import check_alpha
from monitor.stats.auto import FEW_DISTINCT, choose_method, default_threshold
from monitor.stats.binning import bin_counts, value_counts_sorted
from monitor.stats.correction import Correction, adjust_p_values
from monitor.stats.profile import (
    CategoricalProfile,
    ColumnProfile,
    NumericalProfile,
    ReferenceProfile,
    categorical_counts,
    numerical_values,
)
from monitor.stats.sample import SortedSample
from monitor.stats.types import (
    CATEGORICAL_METHODS,
    NUMERICAL_METHODS,
    P_VALUE_METHODS,
    ColumnType,
    DriftMethod,
    DriftResult,
    p_value_drifted,
)

__all__ = ["CheckOptions", "ColumnOptions", "ColumnResult", "DatasetResult", "Status", "check"]

_HISTOGRAM = frozenset(
    {DriftMethod.PSI, DriftMethod.JENSEN_SHANNON, DriftMethod.KL_DIV, DriftMethod.HELLINGER}
)


class Status(StrEnum):
    """Whether a column was tested."""

    OK = "ok"
    NOT_TESTABLE = "not_testable"


@dataclass(frozen=True, slots=True, kw_only=True)
class ColumnOptions:
    """A per-column override of the method and its threshold (alpha for p-value tests)."""

    method: DriftMethod | None = None
    threshold: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class CheckOptions:
    """How a check tests: a method for every column or per column (automatic by default)."""

    method: DriftMethod | None = None
    threshold: float | None = None
    columns: Mapping[str, ColumnOptions] = field(default_factory=dict)
    drift_share: float = 0.5
    correction: Correction = Correction.NONE
    missing_alpha: float = 0.05
    #: Columns the dataset verdict counts (``None``: every tested column); the service counts features only.
    dataset_columns: frozenset[str] | None = None

    def for_column(self, name: str) -> ColumnOptions:
        """The effective options of one column: its override, else the check-wide ones."""
        own = self.columns.get(name, ColumnOptions())
        return ColumnOptions(
            method=own.method or self.method,
            threshold=own.threshold if own.threshold is not None else self.threshold,
        )


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
            },
            "columns": [c.to_dict() for c in self.columns],
        }


def validate_options(profile: ReferenceProfile, options: CheckOptions) -> None:
    """Refuse options that cannot apply, before any work: unknown columns, wrong method types."""
    if not 0.0 < options.drift_share <= 1.0:
        raise ConfigError(f"drift_share ({options.drift_share}) must be in (0, 1]", path="drift_share")
    check_alpha(options.missing_alpha)
    for name in options.columns:
        if name not in profile.columns:
            raise ConfigError(f"column {name!r} is not in the reference data", path=f"columns.{name}")
    for name, col in profile.columns.items():
        opts = options.for_column(name)
        if opts.method is None or col.type is None:
            continue
        allowed = NUMERICAL_METHODS if col.type is ColumnType.NUMERICAL else CATEGORICAL_METHODS
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


def _apply(method: DriftMethod, reference: Any, current: Any, threshold: float | None) -> DriftResult:
    fn = drift.FUNCTIONS[method]
    t = default_threshold(method) if threshold is None else threshold
    return fn(reference, current, alpha=t) if method in P_VALUE_METHODS else fn(reference, current, threshold=t)


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


def _missing_test(ref_missing: int, ref_n: int, cur_missing: int, cur_n: int, alpha: float) -> tuple[float, bool]:
    """Two-proportion z-test of the missing rate (Evidently does not test it)."""
    res = drift.z_test([ref_missing, ref_n - ref_missing], [cur_missing, cur_n - cur_missing], alpha=alpha)
    assert res.p_value is not None
    return res.p_value, res.drifted


def _numerical(prof: NumericalProfile, series: pd.Series, opts: ColumnOptions, alpha: float) -> ColumnResult:
    cur, cur_missing = numerical_values(series, prof.column)
    base = _base(prof, cur.size, cur_missing, series.size, alpha)
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
        choice = choose_method(ColumnType.NUMERICAL, ref.size, n_distinct)
        method, as_categories, reason = choice.method, choice.as_categories, choice.reason
    else:
        reason = "configured"
    if as_categories:
        ref_counts, cur_counts, _ = _align_values(ref, cur)
        result = _apply(method, ref_counts, cur_counts, opts.threshold)
    elif method in _HISTOGRAM:
        ref_counts, cur_counts = prof.bin_counts, bin_counts(cur, prof.bin_edges)
        keep = (ref_counts > 0) | (cur_counts > 0)
        result = _apply(method, ref_counts[keep], cur_counts[keep], opts.threshold)
    else:
        result = _apply(method, ref, cur, opts.threshold)
    return _tested(base, result, reason, out_of_range_current=out_of_range)


def _categorical(prof: CategoricalProfile, series: pd.Series, opts: ColumnOptions, alpha: float) -> ColumnResult:
    index, counts, cur_missing = categorical_counts(series)
    n_cur = int(counts.sum())
    base = _base(prof, n_cur, cur_missing, series.size, alpha)
    # Align on the reference's categories; categories new in current are appended after them.
    position = pd.Index(prof.categories).get_indexer(index)
    is_new = position < 0
    base = replace(base, new_categories=tuple(sorted(str(c) for c in index[is_new])))
    n_ref = int(prof.counts.sum())
    if n_ref == 0 or n_cur == 0:
        side = "reference" if n_ref == 0 else "current"
        return replace(base, reason=f"no values in the {side} data")
    n_new = int(is_new.sum())
    ref_counts = np.concatenate([prof.counts, np.zeros(n_new, dtype=np.int64)])
    cur_counts = np.zeros(prof.counts.size + n_new, dtype=np.int64)
    cur_counts[position[~is_new]] = counts[~is_new]
    cur_counts[prof.counts.size:] = counts[is_new]
    method = opts.method
    if method is None:
        choice = choose_method(ColumnType.CATEGORICAL, n_ref, int(ref_counts.size))
        method, reason = choice.method, choice.reason
    else:
        reason = "configured"
    return _tested(base, _apply(method, ref_counts, cur_counts, opts.threshold), reason)


def _base(prof: NumericalProfile | CategoricalProfile, n_cur: int, cur_missing: int, cur_rows: int,
          alpha: float) -> ColumnResult:
    n_ref = prof.n_rows - prof.n_missing
    missing_p, missing_drifted = (
        _missing_test(prof.n_missing, prof.n_rows, cur_missing, cur_rows, alpha)
        if prof.n_rows > 0 and cur_rows > 0 else (None, False)
    )
    return ColumnResult(
        column=prof.column, type=prof.type, method=None, reason="", statistic=None, p_value=None,
        adjusted_p_value=None, threshold=None, drifted=False, status=Status.NOT_TESTABLE,
        n_reference=n_ref, n_current=n_cur, missing_reference=prof.n_missing,
        missing_current=cur_missing, missing_p_value=missing_p, missing_drifted=missing_drifted,
    )


def _tested(base: ColumnResult, result: DriftResult, reason: str, **extra: Any) -> ColumnResult:
    return replace(
        base, method=result.method, reason=reason, statistic=result.statistic, p_value=result.p_value,
        threshold=result.threshold, drifted=result.drifted, status=Status.OK, **extra,
    )


def _column(prof: ColumnProfile, current: pd.DataFrame, options: CheckOptions) -> ColumnResult:
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
    try:
        if isinstance(prof, NumericalProfile):
            return _numerical(prof, series, opts, options.missing_alpha)
        if isinstance(prof, CategoricalProfile):
            return _categorical(prof, series, opts, options.missing_alpha)
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


def _corrected(results: list[ColumnResult], correction: Correction) -> list[ColumnResult]:
    tested = [i for i, r in enumerate(results) if r.status is Status.OK and r.p_value is not None]
    if correction is Correction.NONE or not tested:
        return results
    adjusted = adjust_p_values([results[i].p_value for i in tested], correction)
    out = list(results)
    for i, p in zip(tested, adjusted, strict=True):
        r = results[i]
        assert r.method is not None and r.threshold is not None
        out[i] = replace(r, adjusted_p_value=float(p), drifted=p_value_drifted(r.method, float(p), r.threshold))
    return out


def check(
    profile: ReferenceProfile,
    current: pd.DataFrame,
    options: CheckOptions | None = None,
    *,
    workers: int = 2,
) -> DatasetResult:
    """Test every profiled column of ``current`` against the reference profile.

    Examples
    --------
    >>> from monitor.stats.profile import fit_profile
    >>> ref = pd.DataFrame({"x": np.arange(200.0)})
    >>> result = check(fit_profile(ref), pd.DataFrame({"x": np.arange(200.0) + 150}))
    >>> result.dataset_drift, result.columns[0].method
    (True, <DriftMethod.KS: 'ks'>)
    """
    options = options or CheckOptions()
    validate_options(profile, options)
    profiles = list(profile.columns.values())
    if workers > 1 and len(profiles) > 1:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            results = list(pool.map(lambda p: _column(p, current, options), profiles))
    else:
        results = [_column(p, current, options) for p in profiles]
    results = _corrected(results, options.correction)
    tested = [r for r in results if r.status is Status.OK
              and (options.dataset_columns is None or r.column in options.dataset_columns)]
    drifted = sum(r.drifted for r in tested)
    share = drifted / len(tested) if tested else 0.0
    return DatasetResult(
        drift_share=share, drifted_columns=drifted, total_columns=len(tested),
        dataset_drift=bool(tested) and share >= options.drift_share, threshold=options.drift_share,
        correction=options.correction, columns=tuple(results),
    )
