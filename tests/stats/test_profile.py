"""Reference profiles: fitted once, saved and loaded unchanged, damage detected."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitor.errors import InputError
from monitor.stats.check import check
from monitor.stats.profile import (
    CategoricalProfile,
    NumericalProfile,
    UntestedProfile,
    fit_profile,
    load_profile,
    save_profile,
)
from monitor.stats.types import ColumnType


def _frame(seed: int, n: int = 3000) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    income = rng.lognormal(10, 1, n)
    income[rng.random(n) < 0.05] = np.nan
    income[:3] = [np.inf, -np.inf, np.inf]
    return pd.DataFrame({
        "income": income,
        "plan": rng.choice(["basic", "pro", "team"], n),
        "tier": rng.integers(0, 4, n),
        "churned": rng.random(n) < 0.2,
        "user": [f"u{i}" for i in range(n)],
        "seen": pd.date_range("2026-01-01", periods=n, freq="min"),
    })


def test_fit_types_columns_and_counts_missing_values() -> None:
    frame = _frame(1)
    p = fit_profile(frame)
    income = p.columns["income"]
    assert isinstance(income, NumericalProfile)
    assert income.n_missing == int(frame["income"].isna().sum()) + 3
    assert income.sample.size + income.n_missing == len(frame)
    assert np.all(np.diff(income.sample.values) >= 0)
    assert income.minimum == np.nanmin(np.where(np.isfinite(frame["income"]), frame["income"], np.nan))
    plan = p.columns["plan"]
    assert isinstance(plan, CategoricalProfile) and dict(zip(plan.categories, plan.counts, strict=True)) == \
        frame["plan"].value_counts().to_dict()
    assert p.columns["tier"].type is ColumnType.CATEGORICAL
    assert p.columns["churned"].type is ColumnType.CATEGORICAL
    assert isinstance(p.columns["user"], UntestedProfile) and "text-like" in p.columns["user"].reason
    assert isinstance(p.columns["seen"], UntestedProfile)


def test_save_and_load_round_trip_gives_the_same_profile_and_results(tmp_path: Path) -> None:
    p = fit_profile(_frame(1))
    save_profile(p, tmp_path / "ref.npz")
    q = load_profile(tmp_path / "ref.npz")
    assert q.content_hash == p.content_hash and list(q.columns) == list(p.columns)
    current = _frame(2)
    assert check(q, current) == check(p, current)


def test_content_hash_depends_on_the_data() -> None:
    a, b = _frame(1), _frame(1)
    b.loc[10, "income"] = 1.0
    assert fit_profile(a).content_hash == fit_profile(_frame(1)).content_hash
    assert fit_profile(a).content_hash != fit_profile(b).content_hash


def test_damaged_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ref.npz"
    save_profile(fit_profile(pd.DataFrame({"x": np.arange(100.0)})), path)
    with np.load(path) as data:
        arrays = {k: data[k] for k in data.files}
    arrays["c0_values"] = arrays["c0_values"] + 1.0
    np.savez(path, **arrays)
    with pytest.raises(InputError, match="content hash"):
        load_profile(path)


def test_schema_column_missing_from_reference_is_named() -> None:
    with pytest.raises(InputError, match="'age'") as err:
        fit_profile(pd.DataFrame({"x": [1.0]}), types={"age": ColumnType.NUMERICAL})
    assert err.value.field == "age"
