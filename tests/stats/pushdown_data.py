"""Shared data of the pushdown tests: mixed frames like a user's, and NumPy's summary of a plan.

``summarise`` is what an engine's query returns for a plan, computed by NumPy from the rows: the
pure tests (tests/stats/test_binned.py) check the statistics from it, the contract suite
(tests/sources/test_pushdown_contract.py) checks each engine's SQL against it.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from monitor.stats.binned import CategoricalSummary, NumericalSummary, SummaryPlan, WindowSummary

__all__ = ["frames", "summarise"]


def summarise(plan: SummaryPlan, frame: pd.DataFrame) -> WindowSummary:
    """What an engine returns for ``plan``, computed by NumPy (the semantics of the SQL)."""
    out: dict[str, NumericalSummary | CategoricalSummary] = {}
    for p in plan.numerical:
        x = frame[p.column].to_numpy(dtype=np.float64, na_value=np.nan)
        finite = x[np.isfinite(x)]
        cells = np.searchsorted(p.grid, finite, side="right")
        counts = np.bincount(cells, minlength=p.grid.size + 1).astype(np.int64)
        sums = np.bincount(cells, weights=finite, minlength=p.grid.size + 1)
        values = None
        if p.values:
            v, c = np.unique(finite, return_counts=True)
            values = (v, c.astype(np.int64))
        out[p.column] = NumericalSummary(column=p.column, n_rows=len(frame), n_missing=int(x.size - finite.size),
                                         counts=counts, sums=sums, values=values)
    for c in plan.categorical:
        s = frame[c.column]
        vc = s.dropna().astype(str).value_counts(sort=False)
        out[c.column] = CategoricalSummary(column=c.column, n_rows=len(frame), n_missing=int(s.isna().sum()),
                                           labels=tuple(vc.index), counts=vc.to_numpy(dtype=np.int64))
    return WindowSummary(n_rows=len(frame), columns=out)


def frames(seed: int, n_ref: int, n_cur: int, shift: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)

    def make(n: int, s: float) -> pd.DataFrame:
        x = rng.normal(s, 1.0, n)
        x[rng.random(n) < 0.02] = np.nan
        heavy = rng.standard_t(2, n) + s
        zero = np.where(rng.random(n) < 0.6 - s / 4, 0.0, rng.exponential(1.0, n))
        few = rng.integers(0, 3 + (s > 0.2), n).astype(np.float64)
        cat = rng.choice(np.array(["a", "b", "c", "d", "e"]), n, p=[0.4, 0.3, 0.15, 0.1, 0.05])
        if s > 0.2:
            cat[rng.random(n) < 0.05] = "new"
        cat_obj = pd.Series(cat, dtype=object)
        cat_obj[rng.random(n) < 0.01] = None
        ints = pd.Series(rng.integers(0, 40, n))
        return pd.DataFrame({"x": x, "heavy": heavy, "zero": zero, "few": few, "cat": cat_obj, "code": ints})

    return make(n_ref, 0.0), make(n_cur, shift)


