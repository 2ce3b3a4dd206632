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
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from pandas.api import types as ptypes

from monitor.stats.types import ColumnType

__all__ = ["INT_CATEGORICAL_MAX_DISTINCT", "Typing", "infer_column_type"]

#: Integers with at most this many distinct values are categorical (Evidently's rule).
INT_CATEGORICAL_MAX_DISTINCT = 10


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
    if ptypes.is_integer_dtype(dtype):
        distinct = int(series.nunique(dropna=True))
        if distinct <= INT_CATEGORICAL_MAX_DISTINCT:
            return Typing(
                type=ColumnType.CATEGORICAL,
                reason=f"integer column with {distinct} distinct values (<= {INT_CATEGORICAL_MAX_DISTINCT})",
            )
        return Typing(
            type=ColumnType.NUMERICAL,
            reason=f"integer column with {distinct} distinct values (> {INT_CATEGORICAL_MAX_DISTINCT})",
        )
    if ptypes.is_float_dtype(dtype):
        return Typing(type=ColumnType.NUMERICAL, reason="float column")
    if ptypes.is_string_dtype(dtype) or ptypes.is_object_dtype(dtype):
        present = int(series.notna().sum())
        distinct = int(series.nunique(dropna=True))
        if present > 0 and distinct * 2 > present:
            return Typing(
                type=None,
                reason=f"text-like column ({distinct} distinct of {present} values); "
                "declare its type in a schema to test it",
            )
        return Typing(type=ColumnType.CATEGORICAL, reason="string column")
    return Typing(type=None, reason=f"{dtype} column is not tested")
