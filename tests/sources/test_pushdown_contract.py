"""The pushdown contract: the same monitors on the same data through (a) the rows in memory,
(b) PostgreSQL's aggregates and (c) DuckDB's, with equal verdicts and statistics equal within each
method's stated bound (exact methods to 1e-12).

Both engines are real: the session's PostgreSQL (skipped on a laptop without it, failed under
CI=true) and DuckDB in memory. The engines' summaries are also compared with NumPy's summary of
the same rows (tests/stats/pushdown_data.py): counts equal, sums equal to float64 rounding.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from monitor.domain import WindowSpec
from monitor.sources.pushdown import read_rows, read_summary, window_selectable
from monitor.stats.binned import NumericalSummary, plan_summary
from monitor.stats.binned_check import check_summary, finish_with_rows
from monitor.stats.check import Basis, CheckOptions, ColumnOptions, DatasetResult, check
from monitor.stats.profile import ReferenceProfile, fit_profile
from monitor.stats.types import Compat, DriftMethod
from tests.conftest import postgres_schema
from tests.stats.pushdown_data import frames, summarise

START = datetime(2026, 11, 1, tzinfo=UTC)
COLUMNS = ["x", "heavy", "zero", "few", "cat", "code"]


def _with_time(frame: pd.DataFrame, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    seconds = np.sort(rng.uniform(0, 86_400, len(frame)))
    out = frame.copy()
    out.insert(0, "ts", pd.to_datetime(START) + pd.to_timedelta(seconds, unit="s"))
    out.insert(0, "id", [f"p{i}" for i in range(len(frame))])
    return out


@pytest.fixture(scope="module")
def pg_engine(postgres_url: str) -> Iterator[sa.Engine]:
    with postgres_schema(postgres_url, "pushdown") as url:
        engine = sa.create_engine(url)
        yield engine
        engine.dispose()


@pytest.fixture(scope="module")
def duck_engine() -> Iterator[sa.Engine]:
    engine = sa.create_engine("duckdb:///:memory:")
    yield engine
    engine.dispose()


def _load(engine: sa.Engine, table: str, frame: pd.DataFrame) -> sa.TableClause:
    with engine.begin() as conn:
        frame.to_sql(table, conn, index=False, if_exists="replace")
    return sa.table(table, *(sa.column(c) for c in frame.columns))


def _pushed(engine: sa.Engine, table: sa.TableClause, profile: ReferenceProfile, window: WindowSpec,
            options: CheckOptions, *, max_rows: int = 1_000_000) -> tuple[DatasetResult, tuple[str, ...], dict]:  # type: ignore[type-arg]
    names = {c: c for c in ["id", "ts", *COLUMNS]}
    sub = window_selectable(table, names, "ts", window)
    plan = plan_summary(profile, COLUMNS)
    with engine.connect() as conn:
        summary = read_summary(conn, sub, plan)
        outcome = check_summary(profile, summary, {p.column: p.grid for p in plan.numerical}, options)
        rows, sampled = (read_rows(conn, sub, list(outcome.needs_rows), "ts", max_rows=max_rows, seed=0,
                                   n_rows=summary.n_rows) if outcome.needs_rows else (None, False))
    return finish_with_rows(profile, outcome, rows, sampled=sampled), outcome.needs_rows, dict(summary.columns)


def _equal(pushed: DatasetResult, rows: DatasetResult) -> None:
    assert (pushed.dataset_drift, pushed.drifted_columns, pushed.total_columns) == (
        rows.dataset_drift, rows.drifted_columns, rows.total_columns)
    for a, b in zip(pushed.columns, rows.columns, strict=True):
        assert (a.column, a.method, a.drifted, a.status, a.missing_drifted) == (
            b.column, b.method, b.drifted, b.status, b.missing_drifted), a.column
        assert (a.n_current, a.missing_current, a.out_of_range_current, a.new_categories) == (
            b.n_current, b.missing_current, b.out_of_range_current, b.new_categories), a.column
        if a.statistic is None:
            assert b.statistic is None
        elif a.basis is Basis.BOUNDED:
            assert a.statistic_error_bound is not None and b.statistic is not None
            assert abs(a.statistic - b.statistic) <= a.statistic_error_bound + 1e-12, a.column
        else:
            assert a.statistic == pytest.approx(b.statistic, rel=1e-12, abs=1e-12), a.column
            if b.p_value is not None:
                assert a.p_value == pytest.approx(b.p_value, rel=1e-12, abs=1e-300), a.column


CASES = [
    (0, 0.0, Compat.CALIBRATED, {}),
    (1, 0.12, Compat.CALIBRATED, {}),
    (2, 0.5, Compat.EVIDENTLY, {}),
    (3, 0.3, Compat.CALIBRATED, {"x": ColumnOptions(method=DriftMethod.PSI),
                                 "heavy": ColumnOptions(method=DriftMethod.T_TEST),
                                 "cat": ColumnOptions(method=DriftMethod.CHI_SQUARE)}),
    (4, 0.0, Compat.EVIDENTLY, {"zero": ColumnOptions(method=DriftMethod.HELLINGER)}),
]


@pytest.mark.parametrize("engine_name", ["postgresql", "duckdb"])
@pytest.mark.parametrize(("seed", "shift", "compat", "columns"), CASES)
def test_engines_equal_the_rows(request: pytest.FixtureRequest, engine_name: str, seed: int, shift: float,
                                compat: Compat, columns: dict[str, ColumnOptions]) -> None:
    engine: sa.Engine = request.getfixturevalue("pg_engine" if engine_name == "postgresql" else "duck_engine")
    ref, cur = frames(seed, 30_000, 24_000, shift)
    profile = fit_profile(ref)
    current = _with_time(cur, seed)
    table = _load(engine, f"preds_{seed}", current)
    # The window: the second half of the day, by time (the rows' check sees the same rows).
    window = WindowSpec(start=START + timedelta(hours=12), end=START + timedelta(days=1))
    inside = current[current["ts"] >= pd.Timestamp(window.start)].reset_index(drop=True)
    options = CheckOptions(compat=compat, columns=columns)
    pushed, needs, summaries = _pushed(engine, table, profile, window, options)
    _equal(pushed, check(profile, inside[COLUMNS], options))
    # The engine's aggregates are NumPy's: counts equal, sums to float64 rounding.
    plan = plan_summary(profile, COLUMNS)
    expected = summarise(plan, inside)
    for name, mine in summaries.items():
        theirs = expected.columns[name]
        assert (mine.n_rows, mine.n_missing) == (theirs.n_rows, theirs.n_missing), name
        if isinstance(mine, NumericalSummary):
            assert isinstance(theirs, NumericalSummary)
            np.testing.assert_array_equal(mine.counts, theirs.counts)
            np.testing.assert_allclose(mine.sums, theirs.sums, rtol=1e-9, atol=1e-6)
        else:
            assert dict(zip(mine.labels, mine.counts.tolist(), strict=True)) == dict(
                zip(theirs.labels, theirs.counts.tolist(), strict=True))  # type: ignore[union-attr]
    if "heavy" in columns:
        assert "heavy" in needs  # t_test has no bounded form: its rows were read


@pytest.mark.parametrize("engine_name", ["postgresql", "duckdb"])
def test_a_rows_window_and_a_sample_above_max_rows(request: pytest.FixtureRequest, engine_name: str) -> None:
    engine: sa.Engine = request.getfixturevalue("pg_engine" if engine_name == "postgresql" else "duck_engine")
    ref, cur = frames(9, 20_000, 20_000, 0.0)
    profile = fit_profile(ref)
    current = _with_time(cur, 9)
    table = _load(engine, "preds_rows", current)
    window = WindowSpec(end=START + timedelta(days=1), rows=15_000)
    options = CheckOptions(columns={"x": ColumnOptions(method=DriftMethod.ANDERSON)})
    pushed, needs, _ = _pushed(engine, table, profile, window, options)
    last = current.tail(15_000).reset_index(drop=True)
    _equal(pushed, check(profile, last[COLUMNS], options))
    assert "x" in needs
    sampled, _, _ = _pushed(engine, table, profile, window, options, max_rows=4_000)
    col = next(c for c in sampled.columns if c.column == "x")
    assert col.basis is Basis.SAMPLE and col.n_current <= 4_000
    again, _, _ = _pushed(engine, table, profile, window, options, max_rows=4_000)
    assert next(c for c in again.columns if c.column == "x").statistic == col.statistic  # seeded
