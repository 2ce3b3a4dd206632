"""The ``--schema`` file of ``driftline check``: column types and per-column methods.

```yaml
columns:
  age: numerical
  plan: categorical
  income: {type: numerical, method: psi, threshold: 0.2}
  wind: {type: circular, period: 360}
  churned: {type: categorical, role: target}
```
Only the listed columns are tested. A column with ``role: target`` (or ``label``,
``prediction``) is tested but not counted in the dataset verdict, which counts features only.
Errors name the key (``columns.income.method``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from monitor._yaml import compose_file, plain
from monitor.errors import ConfigError
from monitor.stats.check import ColumnOptions
from monitor.stats.types import ColumnType, DriftMethod

__all__ = ["Schema", "load_schema", "parse_schema"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Schema:
    """Declared column types and per-column options."""

    types: dict[str, ColumnType]
    options: dict[str, ColumnOptions]
    #: Columns declared as target, label or prediction: not counted in the dataset verdict.
    non_features: frozenset[str] = frozenset()
    #: The period of each circular column (360 for degrees, 24 for hours).
    periods: dict[str, float] | None = None

    @property
    def features(self) -> frozenset[str] | None:
        """The columns the dataset verdict counts, or ``None`` (all) when no role is declared."""
        return frozenset(self.types) - self.non_features if self.non_features else None


def _enum(value: Any, enum: type[ColumnType] | type[DriftMethod], path: str) -> Any:
    try:
        return enum(value)
    except ValueError:
        allowed = ", ".join(e.value for e in enum)
        raise ConfigError(f"{path}: {value!r} is not one of: {allowed}", path=path) from None


def parse_schema(data: Any, source: str = "schema") -> Schema:
    """Validate a schema document already parsed from YAML or JSON."""
    if not isinstance(data, dict) or set(data) != {"columns"} or not isinstance(data["columns"], dict):
        raise ConfigError(f"{source}: expected a mapping with one key, 'columns'", path="columns")
    types: dict[str, ColumnType] = {}
    options: dict[str, ColumnOptions] = {}
    non_features: set[str] = set()
    periods: dict[str, float] = {}
    for name, spec in data["columns"].items():
        path = f"columns.{name}"
        if isinstance(spec, str):
            spec = {"type": spec}
        if not isinstance(spec, dict) or "type" not in spec:
            raise ConfigError(f"{source}: {path}: expected a type or a mapping with 'type'", path=path)
        unknown = set(spec) - {"type", "method", "threshold", "role", "period"}
        if unknown:
            key = sorted(unknown)[0]
            raise ConfigError(f"{source}: {path}.{key}: unknown key", path=f"{path}.{key}")
        types[str(name)] = _enum(spec["type"], ColumnType, f"{path}.type")
        method = _enum(spec["method"], DriftMethod, f"{path}.method") if "method" in spec else None
        threshold = spec.get("threshold")
        if threshold is not None and (isinstance(threshold, bool) or not isinstance(threshold, int | float)):
            raise ConfigError(f"{source}: {path}.threshold: {threshold!r} is not a number", path=f"{path}.threshold")
        options[str(name)] = ColumnOptions(method=method, threshold=None if threshold is None else float(threshold))
        role = spec.get("role", "feature")
        if role not in ("feature", "target", "label", "prediction"):
            raise ConfigError(f"{source}: {path}.role: {role!r} is not one of: feature, target, label, prediction",
                              path=f"{path}.role")
        if role != "feature":
            non_features.add(str(name))
        period = spec.get("period")
        if types[str(name)] is ColumnType.CIRCULAR:
            if isinstance(period, bool) or not isinstance(period, int | float) or not period > 0:
                raise ConfigError(f"{source}: {path}.period: a circular column needs a positive period "
                                  f"(e.g. 360 or 24), got {period!r}", path=f"{path}.period")
            periods[str(name)] = float(period)
        elif period is not None:
            raise ConfigError(f"{source}: {path}.period: only circular columns have a period", path=f"{path}.period")
    return Schema(types=types, options=options, non_features=frozenset(non_features), periods=periods)


def load_schema(path: str | Path) -> Schema:
    """Read and validate a schema file (YAML, of which JSON is a subset).

    Read like ``driftline.yaml`` (:mod:`monitor._yaml`): bounded in depth and alias expansion,
    a repeated column an error with its line, a binary file a one-line error.
    """
    node, source = compose_file(path)
    return parse_schema(None if node is None else plain(node, source), source)
