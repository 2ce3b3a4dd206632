"""Column typing: from an explicit schema when given, otherwise inferred from the reference.

The inference rule follows Evidently's so the automatic check agrees with it, and is one pure
function whose reason is stored with every result:

* bool and pandas ``category`` columns are categorical;
* integer columns with at most 10 distinct values are categorical, other integers numerical;
* float columns are numerical (a float column with few distinct values is still *numerical*;
  the automatic method choice then tests it like a categorical, as Evidently does);
* string/object columns are categorical, unless more than half of their non-missing values are
  distinct: then they look like free text or identifiers and are not tested (declare them in a
  schema to test them anyway);
* datetime and other columns are not tested.

Evidently infers from the current window; Driftline infers once, from the reference, so a
column's type cannot flip between checks.

Inference reads a bounded sample: at most :data:`TYPING_SAMPLE_ROWS` evenly spaced rows (every
row of a smaller column, so there the rule is exactly Evidently's). An integer column whose
sample has more than 10 distinct values is numerical (the whole column has at least as many);
one whose sample has at most 10 is confirmed on the whole column, with a ``bincount`` over its
range, so a rare eleventh value still makes it numerical. The text-like test of a string
column is decided on the sample alone: more than half of the sample's non-missing values
distinct. On larger references that calls a column text-like from roughly 63,000 equally
frequent values up (at 1M rows Evidently's whole-column rule would wait for 500,000).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from pandas.api import types as ptypes

from monitor.stats.types import ColumnType

__all__ = ["INT_CATEGORICAL_MAX_DISTINCT", "TYPING_SAMPLE_ROWS", "Typing", "infer_column_type", "typing_sample"]

#: Integers with at most this many distinct values are categorical (Evidently's rule).
INT_CATEGORICAL_MAX_DISTINCT = 10
#: Type inference reads at most this many evenly spaced rows of a column.
TYPING_SAMPLE_ROWS = 100_000
#: An integer column whose range spans at most this many values is counted with ``bincount``.
_BINCOUNT_SPAN = 1 << 20


@dataclass(frozen=True, slots=True, kw_only=True)
class Typing:
    """A column's type (``None``: not testable) and why it was chosen."""

    type: ColumnType | None
    reason: str


def infer_column_type(series: pd.Series) -> Typing:
    """Infer how a reference column is tested.

    Examples
    --------
    >>> infer_column_type(pd.Series([1.5, 2.0, 3.25])).type
    <ColumnType.NUMERICAL: 'numerical'>
    >>> infer_column_type(pd.Series([0, 1, 1, 0])).reason
    'integer column with 2 distinct values (<= 10)'
    """
    dtype = series.dtype
    if ptypes.is_bool_dtype(dtype):
        return Typing(type=ColumnType.CATEGORICAL, reason="boolean column")
    if isinstance(dtype, pd.CategoricalDtype):
        return Typing(type=ColumnType.CATEGORICAL, reason="pandas category column")
    sample = typing_sample(series)
    if ptypes.is_integer_dtype(dtype):
        distinct = int(sample.nunique(dropna=True))
        if distinct <= INT_CATEGORICAL_MAX_DISTINCT and sample.size < series.size:
            distinct = _distinct_integers(series)
        if distinct <= INT_CATEGORICAL_MAX_DISTINCT:
            return Typing(
                type=ColumnType.CATEGORICAL,
                reason=f"integer column with {distinct} distinct values (<= {INT_CATEGORICAL_MAX_DISTINCT})",
            )
        where = f" in a sample of {sample.size} rows" if sample.size < series.size else ""
        return Typing(
            type=ColumnType.NUMERICAL,
            reason=f"integer column with {distinct} distinct values{where} (> {INT_CATEGORICAL_MAX_DISTINCT})",
        )
    if ptypes.is_float_dtype(dtype):
        return Typing(type=ColumnType.NUMERICAL, reason="float column")
    if ptypes.is_string_dtype(dtype) or ptypes.is_object_dtype(dtype):
        present = int(sample.notna().sum())
        distinct = int(sample.nunique(dropna=True))
        if present > 0 and distinct * 2 > present:
            where = f" in a sample of {sample.size} rows" if sample.size < series.size else ""
            return Typing(
                type=None,
                reason=f"text-like column ({distinct} distinct of {present} values{where}); "
                "declare its type in a schema to test it",
            )
        return Typing(type=ColumnType.CATEGORICAL, reason="string column")
    return Typing(type=None, reason=f"{dtype} column is not tested")


def typing_sample(series: pd.Series) -> pd.Series:
    """At most :data:`TYPING_SAMPLE_ROWS` evenly spaced rows of ``series`` (all of a smaller one).

    Examples
    --------
    >>> typing_sample(pd.Series(range(250_000))).iloc[:3].tolist()
    [0, 2, 5]
    """
    n = int(series.size)
    if n <= TYPING_SAMPLE_ROWS:
        return series
    return series.iloc[(np.arange(TYPING_SAMPLE_ROWS, dtype=np.int64) * n) // TYPING_SAMPLE_ROWS]


def _distinct_integers(series: pd.Series) -> int:
    """Distinct non-missing values of an integer column: a ``bincount`` over a narrow range."""
    if isinstance(series.dtype, np.dtype) and series.size:
        values = series.to_numpy()
        lo, hi = int(values.min()), int(values.max())
        if hi - lo < _BINCOUNT_SPAN and hi < 2**63:
            return int(np.count_nonzero(np.bincount(values.astype(np.int64) - lo)))
    return int(series.nunique(dropna=True))
