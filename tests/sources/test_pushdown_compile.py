"""The one pushdown query compiles for the warehouses' SQLAlchemy dialects (compile only).

Trino (``trino``), BigQuery (``sqlalchemy-bigquery``), Snowflake (``snowflake-sqlalchemy``) and
Spark SQL through its HiveServer2-compatible Thrift server (PyHive's ``hive`` dialect) are
installed by the test extra; no such engine runs here, so the query is compiled with literal
values and its shape checked. SQLAlchemy's own dialects are compiled too. Trino's SQL (double-
quoted names, ``DOUBLE``, ``VARCHAR``) is also DuckDB's, so it is run on DuckDB and must return
exactly what the bound query returns: the literal floats round-trip.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from monitor.domain import WindowSpec
from monitor.sources.pushdown import read_summary, summary_query, window_selectable
from monitor.stats.binned import SummaryPlan, plan_summary
from monitor.stats.profile import fit_profile

COLUMNS = ["ts", "x", "few", "plan"]
WINDOW = WindowSpec(start=datetime(2026, 1, 1, tzinfo=UTC), end=datetime(2026, 1, 2, tzinfo=UTC))

#: (module, dialect class, the dialect's double type name, its string type name)
WAREHOUSES = [
    ("trino.sqlalchemy.dialect", "TrinoDialect", "DOUBLE", "VARCHAR"),
    ("sqlalchemy_bigquery", "BigQueryDialect", "FLOAT64", "STRING"),
    ("snowflake.sqlalchemy.snowdialect", "SnowflakeDialect", "DOUBLE", "VARCHAR"),
    ("pyhive.sqlalchemy_hive", "HiveDialect", "DOUBLE", "STRING"),  # Spark SQL's Thrift server
]
#: MySQL is not among them: SQLAlchemy skips CAST(... AS DOUBLE) there (MySQL has no such CAST target).
BUILT_IN = ["postgresql", "sqlite", "mssql", "oracle"]


def _plan(grid: int = 32) -> SummaryPlan:
    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"x": rng.normal(size=2_000), "few": rng.integers(0, 3, 2_000).astype(np.float64),
                          "plan": rng.choice(["basic", "gold"], 2_000)})
    return plan_summary(fit_profile(frame), ["x", "few", "plan"], grid=grid)


def _query(plan: SummaryPlan, dialect: str) -> Any:
    table = sa.table("preds", *(sa.column(c) for c in COLUMNS))
    return summary_query(window_selectable(table, {c: c for c in COLUMNS}, "ts", WINDOW), plan, dialect)


def _compiled(dialect: sa.engine.Dialect, plan: SummaryPlan) -> str:
    return str(_query(plan, dialect.name).compile(dialect=dialect, compile_kwargs={"literal_binds": True}))


def _compile_elsewhere(module: str, name: str, grid: int = 32) -> str:
    """The query compiled by a warehouse dialect in a process of its own.

    Why a subprocess: importing a dialect package registers its SQL functions in SQLAlchemy's
    global registry (sqlalchemy-bigquery's ``unnest`` replaces the generic one), which would
    change how every later query of the test session compiles.
    """
    code = (f"import importlib, sys; from tests.sources.test_pushdown_compile import _compiled, _plan; "
            f"d = getattr(importlib.import_module({module!r}), {name!r})(); "
            f"sys.stdout.write(_compiled(d, _plan({grid})))")
    root = Path(__file__).resolve().parents[2]
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(root)})
    assert out.returncode == 0, out.stderr[-2000:]
    return out.stdout


def _check_shape(sql: str, plan: SummaryPlan, double: str, string: str) -> None:
    branches = len(plan.numerical) + sum(p.values for p in plan.numerical) + len(plan.categorical)
    assert sql.count("GROUP BY") == branches
    assert sql.count("UNION ALL") == branches - 1
    assert "width_bucket" not in sql  # PostgreSQL's only: the others get the CASE tree
    assert f"AS {double})" in sql and f"AS {string})" in sql
    assert "1.7976931348623157e+308" in sql  # the finite bounds, as literals
    # The CASE tree of each numerical column compares with every grid point once.
    for p in plan.numerical:
        assert all(repr(float(g)) in sql for g in p.grid[:-1])


@pytest.mark.parametrize(("module", "name", "double", "string"), WAREHOUSES)
def test_the_query_compiles_for_a_warehouse_dialect(module: str, name: str, double: str, string: str) -> None:
    plan = _plan()
    _check_shape(_compile_elsewhere(module, name), plan, double, string)


@pytest.mark.parametrize("name", BUILT_IN)
def test_the_query_compiles_for_sqlalchemys_own_dialects(name: str) -> None:
    dialect = sa.dialects.registry.load(name)()
    sql = _compiled(dialect, _plan())
    assert sql.count("GROUP BY") == 4
    assert ("width_bucket" in sql) is (name == "postgresql")


def test_trinos_literal_sql_returns_on_duckdb_what_the_bound_query_returns() -> None:
    plan = _plan(grid=256)
    rng = np.random.default_rng(1)
    n = 5_000
    frame = pd.DataFrame({
        "ts": pd.date_range("2025-12-31 12:00", periods=n, freq="30s", tz="UTC"),
        "x": np.r_[rng.normal(0.2, 1.1, n - 3), [np.nan, np.inf, -np.inf]],
        "few": rng.integers(0, 4, n).astype(np.float64),
        "plan": rng.choice(["basic", "gold", "new"], n),
    })
    engine = sa.create_engine("duckdb:///:memory:", poolclass=sa.pool.StaticPool)
    with engine.connect() as conn:
        frame.to_sql("preds", conn, index=False)
        table = sa.table("preds", *(sa.column(c) for c in COLUMNS))
        bound = read_summary(conn, window_selectable(table, {c: c for c in COLUMNS}, "ts", WINDOW), plan)
        literal = _compile_elsewhere("trino.sqlalchemy.dialect", "TrinoDialect", 256).replace("TIMESTAMP '2026-01-01 00:00:00+00:00'",
                                                          "TIMESTAMPTZ '2026-01-01 00:00:00+00:00'")
        rows = conn.exec_driver_sql(literal).fetchall()
    assert sum(r[4] for r in rows if r[0] == 0) == bound.n_rows > 0
    x = bound.columns["x"]
    counts = np.zeros_like(x.counts)  # type: ignore[union-attr]
    for r in rows:
        if r[0] == 0 and r[1] >= 0:
            counts[r[1]] += r[4]
    np.testing.assert_array_equal(counts, x.counts)  # type: ignore[union-attr]
