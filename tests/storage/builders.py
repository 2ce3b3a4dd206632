"""Test data for the storage contract tests: configurations, prediction frames, complete runs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from monitor.config import DriftlineConfig
from monitor.domain import (
    DatasetSummary,
    FeatureResult,
    PerformanceRecord,
    Role,
    Run,
    RunStatus,
)
from monitor.stats.check import Status
from monitor.stats.types import ColumnType, DriftMethod

T0 = datetime(2024, 3, 1, tzinfo=UTC)


def config_of(*monitors: dict[str, Any]) -> DriftlineConfig:
    """A validated configuration from monitor dicts (``every: 15m`` filled in)."""
    return DriftlineConfig.model_validate({"monitors": [{"every": "15m", **m} for m in monitors]})


CHURN: dict[str, Any] = {"name": "churn", "model": "churn-v3",
         "schema": {"numerical": ["age", "income"], "categorical": ["plan"], "prediction_score": "score"}}
CHURN_BY_ROWS: dict[str, Any] = {"name": "churn-rows", "model": "churn-v3", "window": {"rows": 5},
                 "schema": {"numerical": ["age"], "categorical": ["region"], "prediction_score": "score"}}
PRICE: dict[str, Any] = {"name": "price", "model": "price",
         "schema": {"prediction": "price", "target": "actual", "numerical": ["sqft"], "task": "regression"}}


def churn_frame(n: int, *, start: int = 0, t0: datetime = T0, step: timedelta = timedelta(minutes=1)) -> pd.DataFrame:
    """``n`` churn predictions with ids ``p<start>``..., one every ``step`` from ``t0``."""
    i = np.arange(start, start + n)
    return pd.DataFrame({
        "prediction_id": [f"p{k}" for k in i],
        "timestamp": pd.Series([t0 + k * step for k in i], dtype="datetime64[us, UTC]"),
        "age": (20 + i % 50).astype(float),
        "income": 1000.0 + i * 0.5,
        "plan": np.where(i % 3 == 0, "basic", "pro"),
        "region": np.where(i % 2 == 0, "eu", "us"),
        "prediction": np.where(i % 4 == 0, "yes", "no"),
        "score": (i % 10) / 10.0,
    })


def make_run(monitor: str = "churn", *, window_end: datetime = T0, run_id: str | None = None,
             status: RunStatus = RunStatus.DRIFT) -> Run:
    """A run with every field set: dataset summary, feature and performance results, change points."""
    feature = FeatureResult(
        column="age", role=Role.FEATURE, type=ColumnType.NUMERICAL, method=DriftMethod.KS, reason="numerical, n > 1000",
        statistic=0.25, p_value=1.5e-12, adjusted_p_value=3.0e-12, threshold=0.05, drifted=True, status=Status.OK,
        n_reference=5000, n_current=1200, missing_reference=3, missing_current=7, missing_p_value=0.42,
        missing_drifted=False, new_categories=(), out_of_range_current=11)
    plan = FeatureResult(
        column="plan", role=Role.FEATURE, type=ColumnType.CATEGORICAL, method=DriftMethod.CHI_SQUARE, reason="categorical",
        statistic=None, p_value=None, adjusted_p_value=None, threshold=None, drifted=False, status=Status.OK,
        n_reference=5000, n_current=1200, missing_reference=0, missing_current=0, missing_p_value=None,
        missing_drifted=False, new_categories=("gold", "platinum"), out_of_range_current=None)
    prediction = FeatureResult(
        column="prediction", role=Role.PREDICTION, type=ColumnType.CATEGORICAL, method=DriftMethod.PSI, reason="prediction",
        statistic=0.031, p_value=None, adjusted_p_value=None, threshold=0.1, drifted=False, status=Status.OK,
        n_reference=5000, n_current=1200, missing_reference=0, missing_current=0, missing_p_value=None,
        missing_drifted=False)
    return Run(
        id=run_id or f"run-{monitor}-{window_end.isoformat()}", monitor=monitor, model="churn-v3", status=status,
        window_start=window_end - timedelta(hours=1), window_end=window_end, rows=1200,
        started_at=window_end + timedelta(seconds=1, microseconds=250),
        finished_at=window_end + timedelta(seconds=2, microseconds=999_999),
        reference_version=2, error=None,
        dataset=DatasetSummary(drift_share=0.5, drifted_features=1, total_features=2, dataset_drift=True,
                               threshold=0.5),
        features=(feature, plan, prediction),
        performance=(PerformanceRecord(metric="accuracy", value=0.91, reference_value=0.93, p_value=0.2),
                     PerformanceRecord(metric="f1", value=None)),
        labelled_rows=800, label_coverage=800 / 1200, concept_drift=False,
        concept_change_points=(window_end - timedelta(minutes=20),),
    )
