"""A run without a verdict (insufficient_data, error) keeps the last verdict's series on /metrics.

Read from a real store (SQLite and PostgreSQL; the fake too for ``latest_verdicts``), rendered by
both the collector and the fast text renderer.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from exporters.build import build_snapshot
from exporters.text import render_text
from monitor.config import DriftlineConfig
from monitor.domain import Run, RunStatus
from monitor.storage import Store
from tests.conftest import postgres_schema
from tests.exporters.test_collector import render, samples
from tests.fakes import FakeStore
from tests.storage.builders import CHURN, CHURN_BY_ROWS, PRICE, T0, config_of, make_run

MM = (("model", "churn-v3"), ("monitor", "churn"))


def quiet(monitor: str, *, window_end: datetime, status: RunStatus = RunStatus.INSUFFICIENT_DATA) -> Run:
    """A run without a verdict: no dataset summary, no column or performance results, few rows."""
    run = make_run(monitor, window_end=window_end, status=status)
    return dataclasses.replace(run, rows=12, dataset=None, features=(), performance=(), labelled_rows=0,
                               label_coverage=None, concept_drift=None, concept_change_points=(),
                               error="source unreachable" if status is RunStatus.ERROR else None)


@pytest.fixture
def config() -> DriftlineConfig:
    return config_of(CHURN, CHURN_BY_ROWS, PRICE)


def _open(kind: str, request: pytest.FixtureRequest, tmp_path: Path, config: DriftlineConfig) -> Iterator[Store | FakeStore]:
    if kind == "fake":
        yield FakeStore(config)
        return
    with contextlib.ExitStack() as stack:
        if kind == "sqlite":
            url = f"sqlite:///{tmp_path / 'driftline.db'}"
        else:  # skips (or fails under CI) without a server, through postgres_url
            url = stack.enter_context(postgres_schema(request.getfixturevalue("postgres_url"), "exp"))
        s = Store.from_url(url, config)
        stack.callback(s.dispose)
        s.upgrade()
        yield s


@pytest.fixture(params=["fake", "sqlite", "postgresql"])
def store(request: pytest.FixtureRequest, tmp_path: Path, config: DriftlineConfig) -> Iterator[Store | FakeStore]:
    """Every store the API may be given (the fake, like in the storage contract suite)."""
    yield from _open(request.param, request, tmp_path, config)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest, tmp_path: Path, config: DriftlineConfig) -> Iterator[Store | FakeStore]:
    """A real store: the snapshot needs the outbox and aggregate queries the fake does not have."""
    yield from _open(request.param, request, tmp_path, config)


def test_latest_verdicts_skip_runs_without_a_verdict(store: Store | FakeStore) -> None:
    verdict = make_run("churn", window_end=T0)
    store.save_run(verdict)
    store.save_run(quiet("churn", window_end=T0 + timedelta(minutes=15)))
    store.save_run(quiet("churn", window_end=T0 + timedelta(minutes=30), status=RunStatus.ERROR))
    store.save_run(quiet("churn-rows", window_end=T0))  # never a verdict
    older = make_run("price", window_end=T0 - timedelta(hours=1), status=RunStatus.OK)
    newer = make_run("price", window_end=T0, status=RunStatus.OK)
    store.save_run(older)
    store.save_run(newer)
    assert store.latest_verdicts() == {"churn": verdict, "price": newer}
    assert store.latest_verdicts() == {"churn": verdict, "price": newer}  # again, from the feature cache
    assert {m: r.status for m, r in store.latest_runs().items()} == {
        "churn": RunStatus.ERROR, "churn-rows": RunStatus.INSUFFICIENT_DATA, "price": RunStatus.OK}
    later = make_run("churn", window_end=T0 + timedelta(minutes=45), status=RunStatus.OK)
    store.save_run(later)
    assert store.latest_verdicts()["churn"] == later


def _scrape(store: Store | FakeStore, config: DriftlineConfig) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    assert isinstance(store, Store)
    snapshot = build_snapshot(store, config, max_features=50, version="1")
    got = samples(render_text(snapshot).decode())
    assert got == samples(render(snapshot))
    return got


def test_an_insufficient_data_run_keeps_the_last_verdicts_series(database: Store | FakeStore,
                                                                 config: DriftlineConfig) -> None:
    store = database
    verdict = make_run("churn", window_end=T0)
    store.save_run(verdict)
    before = _scrape(store, config)
    store.save_run(quiet("churn", window_end=T0 + timedelta(minutes=15)))
    after = _scrape(store, config)

    age = (("feature", "age"), ("method", "ks"), *MM)
    kept = [("driftline_feature_drift_score", age), ("driftline_feature_drift_p_value", age),
            ("driftline_feature_drift_detected", age), ("driftline_dataset_drift_share", MM),
            ("driftline_dataset_drift_detected", MM), ("driftline_model_performance", (("kind", "realized"), ("metric", "accuracy"), *MM)),
            ("driftline_prediction_drift_score", (("method", "psi"), *MM)),
            ("driftline_label_coverage_ratio", MM), ("driftline_concept_drift_detected", MM)]
    for key in kept:
        assert after[key] == before[key], key
    assert after[("driftline_feature_drift_score", age)] == 0.25  # the stored verdict run's statistic
    assert after[("driftline_dataset_drift_detected", MM)] == 1.0
    # The age of what they show, and what the latest run was.
    assert after[("driftline_last_verdict_timestamp_seconds", MM)] == T0.timestamp()
    assert after[("driftline_window_rows", MM)] == 12.0
    assert before[("driftline_window_rows", MM)] == 1200.0
    status = {s: after[("driftline_last_run_status", (*MM, ("status", s)))] for s in RunStatus}
    assert status == {RunStatus.OK: 0.0, RunStatus.DRIFT: 0.0, RunStatus.INSUFFICIENT_DATA: 1.0, RunStatus.ERROR: 0.0}
    assert after[("driftline_last_run_timestamp_seconds", (*MM, ("status", "insufficient_data")))] == (
        T0 + timedelta(minutes=15)).timestamp()


def test_a_monitor_that_never_had_a_verdict_exports_no_drift_series(database: Store | FakeStore,
                                                                    config: DriftlineConfig) -> None:
    store = database
    store.save_run(quiet("churn-rows", window_end=T0))
    got = _scrape(store, config)
    rows = (("model", "churn-v3"), ("monitor", "churn-rows"))
    assert not [key for key in got if key[0].startswith(("driftline_feature_drift", "driftline_dataset_drift"))]
    assert ("driftline_last_verdict_timestamp_seconds", rows) not in got
    assert got[("driftline_last_run_status", (*rows, ("status", "insufficient_data")))] == 1.0
    assert got[("driftline_window_rows", rows)] == 12.0
