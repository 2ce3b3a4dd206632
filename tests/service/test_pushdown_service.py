"""Runs with ``pushdown`` through the service: the same window and reference, with and without it.

A SQL source (SQLite file and PostgreSQL) and a files source (Parquet, aggregated by DuckDB):
each monitor's pushed-down run must store the same verdicts as the same monitor reading rows,
bounded statistics within their stored ``statistic_error_bound``, exact ones to 1e-12, and every
feature result must say what it was computed from. The statements the database received show
that the features' rows were never selected.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from monitor.config import DriftlineConfig, Settings
from monitor.domain import Run, RunStatus
from monitor.service import MonitorService
from monitor.stats.check import Basis
from monitor.storage import Store
from tests.service.test_sources import MAPPING, START, T0, StatementLog, create_table, user_log, warehouse_url

__all__ = ["warehouse_url"]


def _config(source: dict[str, Any], reference: Path, *, target: bool = True) -> DriftlineConfig:
    schema: dict[str, Any] = {"numerical": ["age"], "categorical": ["plan"], "prediction": "prediction"}
    if target:
        schema["target"] = "label"
    return DriftlineConfig.model_validate({"monitors": [
        {"name": name, "model": "churn-v3", "every": "1h", "window": {"last": "1h"}, "min_rows": 20,
         "schema": schema, "source": {**source, **({"pushdown": True} if name == "pushed" else {})},
         "reference": {"type": "file", "path": str(reference)}}
        for name in ("rows", "pushed")]})


def _reference(path: Path) -> Path:
    log = user_log([T0 - timedelta(days=2, seconds=-i) for i in range(20_000)], seed=9)
    log.rename(columns={v: k for k, v in MAPPING.items()}).drop(columns=["prediction_id", "timestamp"]).to_parquet(
        path, index=False)
    return path


async def _runs(config: DriftlineConfig, tmp_path: Path) -> tuple[Run, Run, Store]:
    store = Store.from_url(f"sqlite:///{tmp_path / 'driftline.db'}", config)
    store.upgrade()
    service = MonitorService(Settings(scheduler=False), config, store)
    await service.start()
    try:
        rows = await service.run_at("rows", T0)
        pushed = await service.run_at("pushed", T0)
    finally:
        await service.stop()
    return rows, pushed, store


def _same(rows: Run, pushed: Run, store: Store) -> dict[str, Any]:
    assert rows.error is None and pushed.error is None, (rows.error, pushed.error)
    assert (pushed.status, pushed.rows) == (rows.status, rows.rows)
    assert pushed.dataset == rows.dataset
    a = store.get_run(pushed.id)
    b = store.get_run(rows.id)
    assert a is not None and b is not None
    theirs = {f.column: f for f in b.features}
    out = {}
    for f in a.features:
        g = theirs[f.column]
        assert (f.method, f.drifted, f.n_current, f.missing_current, f.out_of_range_current) == (
            g.method, g.drifted, g.n_current, g.missing_current, g.out_of_range_current), f.column
        assert g.basis is None  # rows read by the rows path say nothing
        if f.basis is Basis.BOUNDED:
            assert f.statistic_error_bound is not None and f.statistic is not None and g.statistic is not None
            assert abs(f.statistic - g.statistic) <= f.statistic_error_bound + 1e-12
        elif f.role.value != "target":
            assert f.basis in (Basis.AGGREGATES, Basis.ROWS), f.column
            assert f.statistic == pytest.approx(g.statistic, rel=1e-12), f.column
        out[f.column] = f.basis
    assert [(p.metric, p.value) for p in a.performance] == [(p.metric, p.value) for p in b.performance]
    return out


@pytest.mark.anyio
@pytest.mark.parametrize("shift", [0.0, 3.0])
async def test_a_pushed_down_sql_run_stores_the_rows_verdicts(warehouse_url: str, tmp_path: Path,
                                                              shift: float) -> None:
    times = [START + timedelta(seconds=0.25 * i) for i in range(12_000)]
    create_table(warehouse_url, user_log(times, shift=shift, seed=4))
    source = {"type": "sql", "url": warehouse_url, "table": "prediction_log", "columns": MAPPING}
    config = _config(source, _reference(tmp_path / "reference.parquet"))
    with StatementLog() as log:
        rows, pushed, store = await _runs(config, tmp_path)
    try:
        bases = _same(rows, pushed, store)
        assert bases["age"] is Basis.BOUNDED and bases["plan"] is Basis.AGGREGATES
        assert rows.dataset is not None and rows.dataset.dataset_drift is bool(shift)
        # The pushed run selected the prediction and the label (performance), never the age rows.
        selects = [s for s in log.statements if "prediction_log" in s and "customer_age" in s]
        assert any("GROUP BY" in s for s in selects)
        assert sum("GROUP BY" not in s for s in selects) == 1  # the rows run's one read
    finally:
        store.dispose()


@pytest.mark.anyio
async def test_a_pushed_down_files_run_aggregates_parquet_with_duckdb(tmp_path: Path) -> None:
    times = [START + timedelta(seconds=0.25 * i) for i in range(12_000)]
    log = user_log(times, shift=3.0, seed=5).rename(columns={v: k for k, v in MAPPING.items()})
    (tmp_path / "logs").mkdir()
    half = len(log) // 2
    log.iloc[:half].to_parquet(tmp_path / "logs" / "a.parquet", index=False)
    log.iloc[half:].to_parquet(tmp_path / "logs" / "b.parquet", index=False)
    config = _config({"type": "files", "path": str(tmp_path / "logs" / "*.parquet")},
                     _reference(tmp_path / "reference.parquet"), target=False)
    rows, pushed, store = await _runs(config, tmp_path)
    try:
        bases = _same(rows, pushed, store)
        assert rows.status is RunStatus.DRIFT and bases["plan"] is Basis.AGGREGATES
        assert bases["age"] is Basis.BOUNDED
    finally:
        store.dispose()


def test_pushdown_refuses_what_needs_every_features_rows(tmp_path: Path) -> None:
    base = {"name": "m", "model": "v", "every": "1h", "schema": {"numerical": ["a", "b"], "prediction": "p"},
            "source": {"type": "sql", "url": "sqlite://", "table": "t", "pushdown": {"grid": 256}}}
    DriftlineConfig.model_validate({"monitors": [base]})
    with pytest.raises(ValueError, match="source.pushdown: multivariate"):
        DriftlineConfig.model_validate({"monitors": [{**base, "multivariate": ["pca_reconstruction"]}]})
    with pytest.raises(ValueError, match="source.pushdown: a previous_window reference"):
        DriftlineConfig.model_validate({"monitors": [{**base, "reference": {"type": "previous_window"}}]})
    with pytest.raises(ValueError, match="grid"):
        DriftlineConfig.model_validate({"monitors": [{**base, "source": {**base["source"], "pushdown": {"grid": 2}}}]})
    m = DriftlineConfig.model_validate({"monitors": [base]}).monitors[0].to_domain()
    assert m.source.pushdown is not None and m.source.pushdown.grid == 256  # type: ignore[union-attr]
    assert np.isfinite(m.source.pushdown.max_rows)  # type: ignore[union-attr]
    assert pd.api.types.is_integer(m.source.pushdown.max_rows)  # type: ignore[union-attr]
