"""Seeded mixed-type frames with missing values and some drift, shared by tests and benchmarks.

Column kinds cycle through what real feature tables hold, so every branch of the automatic
choice is exercised: continuous floats (normal, heavy-tailed, zero-inflated, with missing
values), few-valued floats, small integers (categorical by type), binary / few / many-category
strings stored as pandas ``category`` (as they arrive from Parquet dictionary columns), booleans.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

KINDS = ("normal", "lognormal_missing", "few_float", "category_few", "zero_inflated", "int_small",
         "category_binary", "normal_shift", "category_many", "boolean")


def _column(kind: str, rng: np.random.Generator, n: int, drift: bool) -> pd.Series:
    s = 0.5 if drift else 0.0
    if kind in ("normal", "normal_shift"):
        return pd.Series(rng.normal(s, 1.0, n))
    if kind == "lognormal_missing":
        x = rng.lognormal(1.0 + s, 0.7, n)
        x[rng.random(n) < (0.05 + 0.1 * s)] = np.nan
        return pd.Series(x)
    if kind == "few_float":
        return pd.Series(rng.choice([0.0, 0.5, 1.0, 1.5], n, p=[0.4, 0.3, 0.2, 0.1] if not drift else [0.2, 0.3, 0.3, 0.2]))
    if kind == "zero_inflated":
        return pd.Series(np.where(rng.random(n) < 0.9, 0.0, rng.lognormal(s * 2, 0.5, n)))
    if kind == "int_small":
        return pd.Series(rng.integers(0, 7 if drift else 6, n))
    if kind == "boolean":
        return pd.Series(rng.random(n) < (0.3 + 0.3 * s))
    k = {"category_binary": 2, "category_few": 5, "category_many": 50}[kind]
    p = np.linspace(1.0, 2.0 + 4 * s, k)
    labels = np.array([f"c{i:02d}" for i in range(k)])
    values = labels[rng.choice(k, n, p=p / p.sum())]
    return pd.Series(pd.Categorical(values, categories=labels))


def mixed_frames(n_reference: int, n_current: int, n_columns: int, *, seed: int = 0,
                 drift_every: int = 3, mirror: bool = False) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A reference and a current frame; every ``drift_every``-th column drifts in current.

    With ``mirror`` (equal sizes only) an undrifted current column is a shuffled copy of the
    reference column, so every test, however it is defined, must call it undrifted.
    """
    if mirror and n_reference != n_current:
        raise ValueError("mirror needs equal sizes")
    rng = np.random.default_rng(seed)
    ref, cur = {}, {}
    for i in range(n_columns):
        kind = KINDS[i % len(KINDS)]
        name = f"{kind}_{i}"
        drift = i % drift_every == 0
        ref[name] = _column(kind, rng, n_reference, drift=False)
        if mirror and not drift:
            cur[name] = ref[name].sample(frac=1.0, random_state=int(rng.integers(1 << 31))).reset_index(drop=True)
        else:
            cur[name] = _column(kind, rng, n_current, drift=drift)
    return pd.DataFrame(ref), pd.DataFrame(cur)
