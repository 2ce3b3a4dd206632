"""The pure statistical core: a reference profile fitted once, a window checked against it.

No I/O, clock, logging, settings or global random state here; randomness arrives as a seeded
``numpy.random.Generator``. Drift methods are called through their package: ``drift.ks(ref, cur)``.

The public names below load on first use, so importing one light module of the core (its enums,
say) does not import SciPy: the command line starts fast.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor.stats import drift
    from monitor.stats.check import CheckOptions, ColumnOptions, ColumnResult, DatasetResult, Status, check
    from monitor.stats.profile import ReferenceProfile, fit_profile
    from monitor.stats.types import ColumnType, Compat, DriftMethod, DriftResult, Rule

_WHERE = {
    "drift": "monitor.stats.drift",
    **dict.fromkeys(["CheckOptions", "ColumnOptions", "ColumnResult", "DatasetResult", "Status", "check"],
                    "monitor.stats.check"),
    **dict.fromkeys(["ReferenceProfile", "fit_profile"], "monitor.stats.profile"),
    **dict.fromkeys(["ColumnType", "Compat", "DriftMethod", "DriftResult", "Rule"], "monitor.stats.types"),
}

__all__ = [
    "CheckOptions",
    "ColumnOptions",
    "ColumnResult",
    "ColumnType",
    "Compat",
    "DatasetResult",
    "DriftMethod",
    "DriftResult",
    "ReferenceProfile",
    "Rule",
    "Status",
    "check",
    "drift",
    "fit_profile",
]
assert sorted(__all__) == sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'monitor.stats' has no attribute {name!r}")
    module = importlib.import_module(_WHERE[name])
    return module if name == "drift" else getattr(module, name)
