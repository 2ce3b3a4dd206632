"""The ``--schema`` file of ``driftline check``: column types and per-column methods.

```yaml
columns:
  age: numerical
  plan: categorical            # integer codes 1, 2, 3 are tested as the categories "1", "2", "3"
  signup: datetime             # reported as not_testable ("datetime column (declared)")
  income: {type: numerical, method: psi, threshold: 0.2}
  wind: {type: circular, period: 360}
  churned: {type: categorical, role: target}
  prompt: text                 # length, vocabulary and TF-IDF classifier tests (monitor.stats.text)
  query_vec: {type: embedding, dim: 384}   # Parquet list cells or JSON arrays (monitor.stats.embedding)
```
The schema overrides the inferred type of the columns it lists; every other column of the
reference is typed by inference as without a schema, so a schema listing 3 of 6 columns still
tests all 6. A column with ``role: target`` (or ``label``, ``prediction``) is tested but not
counted in the dataset verdict, which counts features only. ``method`` takes Driftline's names
or Evidently's stattest names (:mod:`monitor.aliases`). Errors name the key
(``columns.income.method``). ``dim`` (embedding columns only) is the vector length every row must
have; without it, the reference's first vector sets it. A text or embedding column is never
inferred: it must be declared.

Why the schema also rewrites values: CSV has no types. The same categorical column is read as
strings from one file, as integers from another, and as floats (``1.0``) once a value is
missing, and ``"1"``, ``1`` and ``1.0`` would be three different categories. A declared
categorical is therefore compared as text on both sides, integral numbers without a decimal
point.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from monitor._yaml import compose_file, plain
from monitor.aliases import resolve_method
from monitor.errors import ConfigError, InputError
from monitor.stats.check import ColumnOptions
from monitor.stats.embedding import MAX_DIM
from monitor.stats.profile import (
    ColumnProfile,
    NumericalProfile,
    ReferenceProfile,
    UntestedProfile,
    fit_profile,
)
from monitor.stats.types import ColumnType

__all__ = [
    "DATETIME",
    "DATETIME_REASON",
    "INTEGER_CODE_MAX_DISTINCT",
    "Schema",
    "apply_schema",
    "fit_reference",
    "integer_code_warnings",
    "load_schema",
    "parse_schema",
]

#: The schema type of a column that is a date or time: never tested for drift.
DATETIME: Final = "datetime"
#: The ``reason`` of a declared datetime column's ``not_testable`` result.
DATETIME_REASON: Final = "datetime column (declared)"
#: An undeclared numerical column with at most this many distinct values, all integral, draws a
#: warning: it may be codes (a plan id, a rating) that a numerical test treats as magnitudes.
INTEGER_CODE_MAX_DISTINCT: Final = 20

_TYPES = [*(t.value for t in ColumnType), DATETIME]


@dataclass(frozen=True, slots=True, kw_only=True)
class Schema:
    """Declared column types and per-column options."""

    types: dict[str, ColumnType]
    options: dict[str, ColumnOptions]
    #: Columns declared as target, label or prediction: not counted in the dataset verdict.
    non_features: frozenset[str] = frozenset()
    #: The period of each circular column (360 for degrees, 24 for hours).
    periods: dict[str, float] | None = None
    #: Columns declared ``datetime``: reported as not testable, never typed by inference.
    datetimes: frozenset[str] = frozenset()
    #: The vector length of each embedding column that declares one.
    dims: dict[str, int] | None = None

    @property
    def declared(self) -> frozenset[str]:
        """Every column the file lists, whatever its type."""
        return frozenset(self.types) | self.datetimes

    def dataset_columns(self, profile: ReferenceProfile) -> frozenset[str] | None:
        """The columns the dataset verdict counts, or ``None`` (all) when no role is declared."""
        return frozenset(profile.columns) - self.non_features if self.non_features else None


def _type(value: Any, path: str, source: str) -> ColumnType | None:
    """A declared type; ``None`` for ``datetime`` (not a test type of the core)."""
    if value == DATETIME:
        return None
    try:
        return ColumnType(value)
    except ValueError:
        raise ConfigError(f"{source}: {path}: {value!r} is not one of: {', '.join(_TYPES)}", path=path) from None


def parse_schema(data: Any, source: str = "schema") -> Schema:
    """Validate a schema document already parsed from YAML or JSON."""
    if not isinstance(data, dict) or set(data) != {"columns"} or not isinstance(data["columns"], dict):
        raise ConfigError(f"{source}: expected a mapping with one key, 'columns'", path="columns")
    types: dict[str, ColumnType] = {}
    options: dict[str, ColumnOptions] = {}
    non_features: set[str] = set()
    periods: dict[str, float] = {}
    datetimes: set[str] = set()
    dims: dict[str, int] = {}
    for name, spec in data["columns"].items():
        path, column = f"columns.{name}", str(name)
        if isinstance(spec, str):
            spec = {"type": spec}
        if not isinstance(spec, dict) or "type" not in spec:
            raise ConfigError(f"{source}: {path}: expected a type or a mapping with 'type'", path=path)
        unknown = set(spec) - {"type", "method", "threshold", "role", "period", "dim"}
        if unknown:
            key = sorted(unknown)[0]
            raise ConfigError(f"{source}: {path}.{key}: unknown key", path=f"{path}.{key}")
        kind = _type(spec["type"], f"{path}.type", source)
        if kind is None:
            extra = sorted(set(spec) - {"type"})
            if extra:
                raise ConfigError(f"{source}: {path}.{extra[0]}: a datetime column is not tested, so it takes "
                                  f"no {extra[0]}", path=f"{path}.{extra[0]}")
            datetimes.add(column)
            continue
        types[column] = kind
        method = None
        if "method" in spec:
            try:
                method = resolve_method(str(spec["method"]))
            except ValueError as exc:
                raise ConfigError(f"{source}: {path}.method: {exc}", path=f"{path}.method") from None
        threshold = spec.get("threshold")
        if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, int | float)):
            raise ConfigError(f"{source}: {path}.threshold: {threshold!r} is not a number", path=f"{path}.threshold")
        options[column] = ColumnOptions(method=method, threshold=None if threshold is None else float(threshold))
        role = spec.get("role", "feature")
        if role not in ("feature", "target", "label", "prediction"):
            raise ConfigError(f"{source}: {path}.role: {role!r} is not one of: feature, target, label, prediction",
                              path=f"{path}.role")
        if role != "feature":
            non_features.add(column)
        period = spec.get("period")
        if kind is ColumnType.CIRCULAR:
            if isinstance(period, bool) or not isinstance(period, int | float) or not period > 0:
                raise ConfigError(f"{source}: {path}.period: a circular column needs a positive period "
                                  f"(e.g. 360 or 24), got {period!r}", path=f"{path}.period")
            periods[column] = float(period)
        elif period is not None:
            raise ConfigError(f"{source}: {path}.period: only circular columns have a period", path=f"{path}.period")
        dim = spec.get("dim")
        if dim is not None:
            if kind is not ColumnType.EMBEDDING:
                raise ConfigError(f"{source}: {path}.dim: only embedding columns have a dim", path=f"{path}.dim")
            if isinstance(dim, bool) or not isinstance(dim, int) or not 1 <= dim <= MAX_DIM:
                raise ConfigError(f"{source}: {path}.dim: the vector length must be an integer from 1 to {MAX_DIM}, "
                                  f"got {dim!r}", path=f"{path}.dim")
            dims[column] = dim
    return Schema(types=types, options=options, non_features=frozenset(non_features), periods=periods,
                  datetimes=frozenset(datetimes), dims=dims)


def load_schema(path: str | Path) -> Schema:
    """Read and validate a schema file (YAML, of which JSON is a subset).

    Read like ``driftline.yaml`` (:mod:`monitor._yaml`): bounded in depth and alias expansion,
    a repeated column an error with its line, a binary file a one-line error.
    """
    node, source = compose_file(path)
    return parse_schema(None if node is None else plain(node, source), source)


def _as_codes(series: pd.Series) -> pd.Series:
    """A declared categorical as text: ``1``, ``1.0`` and ``"1"`` all become ``"1"``; missing stays missing.

    Numbers are converted when every finite value is integral (codes read from CSV, floats once a
    value is missing); other numbers keep their shortest repr. Text and booleans are unchanged.
    """
    kind = series.dtype.kind
    if kind in "iu" and not series.hasnans:
        return series.astype(str).astype(object)  # exact, even beyond 2**53
    if kind not in "iuf":
        return series
    values = series.to_numpy(dtype=np.float64, na_value=np.nan)
    present = np.isfinite(values)
    out = np.full(values.size, None, dtype=object)
    if np.array_equal(values[present], np.trunc(values[present])):
        out[present] = values[present].astype(np.int64).astype(str)
    else:
        out[present] = values[present].astype(str)
    return pd.Series(out, index=series.index, name=series.name)


def apply_schema(frame: pd.DataFrame, schema: Schema | None) -> pd.DataFrame:
    """``frame`` with its declared categorical columns as text, so both files agree on categories."""
    if schema is None:
        return frame
    names = [c for c, t in schema.types.items() if t is ColumnType.CATEGORICAL and c in frame.columns]
    if not names:
        return frame
    return frame.assign(**{c: _as_codes(frame[c]) for c in names})


def fit_reference(reference: pd.DataFrame, schema: Schema | None) -> ReferenceProfile:
    """The reference's profile: declared columns as declared, the others inferred, in file order.

    Declared datetime columns become untested profiles whose reason is :data:`DATETIME_REASON`,
    so they appear in the output as ``not_testable`` instead of vanishing.
    """
    if schema is None:
        return fit_profile(reference)
    missing = sorted(schema.declared - {str(c) for c in reference.columns})
    if missing:
        raise InputError(f"column {missing[0]!r} of the schema is not in the reference data", field=missing[0])
    declared = fit_profile(reference, types=schema.types, periods=schema.periods, dims=schema.dims)
    rest = reference[[c for c in reference.columns if str(c) not in schema.declared]]
    inferred = fit_profile(rest) if len(rest.columns) else None
    columns: dict[str, ColumnProfile] = {}
    for c in map(str, reference.columns):
        if c in schema.datetimes:
            columns[c] = UntestedProfile(column=c, reason=DATETIME_REASON, n_rows=int(len(reference)))
        elif c in declared.columns:
            columns[c] = declared.columns[c]
        elif inferred is not None:
            columns[c] = inferred.columns[c]
    return ReferenceProfile(columns=columns, n_rows=int(len(reference)))


def integer_code_warnings(profile: ReferenceProfile, schema: Schema | None) -> list[str]:
    """Warnings for undeclared numerical columns that look like integer codes.

    A numerical test reads codes as magnitudes (plan 3 "larger" than plan 1); Evidently's rule
    makes integers with at most 10 values categorical, but CSV turns an integer column with one
    missing value into floats, and 11-20 codes stay numerical. Neither is changed silently:
    the user is told to declare the column.
    """
    declared = schema.declared if schema else frozenset()
    warnings = []
    for name, col in profile.columns.items():
        if not isinstance(col, NumericalProfile) or name in declared:
            continue
        values = col.sample.values
        if 1 < col.n_distinct <= INTEGER_CODE_MAX_DISTINCT and np.array_equal(values, np.trunc(values)):
            warnings.append(f"column {name} has {col.n_distinct} distinct integer values; if they are codes, "
                            "declare it categorical in a --schema file")
    return warnings
