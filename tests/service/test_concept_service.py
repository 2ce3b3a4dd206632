"""Concept drift through the service: a monitor on a short schedule over a replayed SEA stream.

The model is SEA's concept-0 rule, fixed; the stream (River's ``SEA``, labels present) switches
to variant 3 at a known time. Runs every 10 minutes over an overlapping 1-hour window on a SQLite
store, with two restarts of the service (a new ``Store`` and ``MonitorService`` on the same file)
along the way: the change is reported by exactly one run, once, and the detector's state and the
reference baseline survive the restarts.
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from river.datasets import synth

from monitor.config import DriftlineConfig, Settings
from monitor.service import MonitorService
from monitor.stats.concept_state import ConceptState
from monitor.storage import Store

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 11, 1, 0, 0, tzinfo=UTC)
EVERY = timedelta(minutes=10)


def config(bucket: str) -> DriftlineConfig:
    return DriftlineConfig.model_validate({"monitors": [{
        "name": "sea", "model": "sea", "every": "10m", "window": {"last": "1h"}, "min_rows": 50,
        "schema": {"numerical": ["x0", "x1", "x2"], "task": "classification", "prediction": "prediction",
                   "target": "label"},
        "performance": {"min_labels": 20, "bucket": bucket},
    }]})


def sea(variant: int, seed: int, n: int, start: datetime, prefix: str) -> pd.DataFrame:
    rows = list(itertools.islice(synth.SEA(variant=variant, noise=0.1, seed=seed), n))
    x = np.array([[r[0][i] for i in range(3)] for r in rows])
    label = np.array([r[1] for r in rows])
    return pd.DataFrame({
        "prediction_id": [f"{prefix}{i}" for i in range(n)],
        "timestamp": pd.date_range(start, periods=n, freq="1s", tz="UTC"),  # one row a second
        "x0": x[:, 0], "x1": x[:, 1], "x2": x[:, 2],
        "prediction": np.where(x[:, 0] + x[:, 1] > 8.0, "1", "0"),  # the fixed concept-0 model
        "label": np.where(label, "1", "0").astype(object),
    })


async def replay(tmp_path: Path, *, bucket: str, change_variant: int, restarts: tuple[int, ...]) -> tuple[list[
        tuple[datetime, tuple[datetime, ...]]], Store, DriftlineConfig]:
    cfg = config(bucket)
    url = f"sqlite:///{tmp_path / 'd.db'}"
    store = Store.from_url(url, cfg)
    store.upgrade()
    change = T0 + timedelta(minutes=100)
    before = sea(0, 1, 6000, T0, "a")
    after = sea(change_variant, 2, 6000, change, "b")
    store.ingest_predictions("sea", pd.concat([before, after], ignore_index=True))
    svc = MonitorService(Settings(scheduler=False), cfg, store)
    await svc.start()
    await svc.register_reference("sea", sea(0, 3, 5000, T0 - timedelta(days=1), "r"), source="test")
    found = []
    for k in range(1, 21):  # 20 runs, ten minutes apart: each window overlaps the five before it
        if k in restarts:
            await svc.stop()
            store.dispose()
            store = Store.from_url(url, cfg)
            svc = MonitorService(Settings(scheduler=False), cfg, store)
            await svc.start()
        run = await svc.run_at("sea", T0 + k * EVERY)
        assert run.status.has_verdict, run.error
        found.append((run.window_end, run.concept_change_points))
    await svc.stop()
    return found, store, cfg


@pytest.mark.parametrize("bucket", ["10m", "500 rows"])
async def test_the_change_is_reported_once_across_overlapping_runs_and_restarts(tmp_path: Path, bucket: str) -> None:
    found, store, _ = await replay(tmp_path, bucket=bucket, change_variant=3, restarts=(6, 13))
    points = [p for _, ps in found for p in ps]
    change = T0 + timedelta(minutes=100)
    assert len(points) == 1, found
    width = timedelta(minutes=10) if bucket == "10m" else timedelta(seconds=500)
    assert change - width <= points[0] <= change + width
    reporting = [end for end, ps in found if ps]
    assert reporting == [change + EVERY]  # the first run that sees the new concept reports it
    runs = {r.window_end: r for r in store.list_runs("sea", limit=100)}
    assert runs[change + EVERY].concept_drift is True and runs[change + 2 * EVERY].concept_drift is False
    stored = store.concept_state("sea")
    assert stored is not None and stored.revision == 20  # every run advanced and wrote it, restarts included
    state = ConceptState.from_json(stored.state)
    assert state.change_points == 1 and state.until == T0 + 20 * EVERY
    store.dispose()


async def test_no_change_no_report(tmp_path: Path) -> None:
    found, store, _ = await replay(tmp_path, bucket="10m", change_variant=0, restarts=(10,))
    assert [p for _, ps in found for p in ps] == []
    store.dispose()


async def test_a_dynamic_reference_keeps_one_detector_across_runs(tmp_path: Path) -> None:
    """``previous_window``: the detector is the monitor's stored one too, not a fresh one per window.

    A fresh detector per window (what runs did before) sees each change in every window that
    holds it, and never one whose window is wholly after it; the stored one reports it once.
    """
    spec = config("10m").monitors[0].model_dump(by_alias=True, exclude={"reference"})
    cfg = DriftlineConfig.model_validate({"monitors": [{**spec, "reference": {"type": "previous_window"}}]})
    store = Store.from_url(f"sqlite:///{tmp_path / 'd.db'}", cfg)
    store.upgrade()
    change = T0 + timedelta(minutes=200)
    store.ingest_predictions("sea", pd.concat([sea(0, 1, 12000, T0, "a"), sea(3, 2, 6000, change, "b")],
                                              ignore_index=True))
    svc = MonitorService(Settings(scheduler=False), cfg, store)
    await svc.start()
    try:
        found = []
        for k in range(13, 31):  # from the first window whose previous window is full, to 100 min after the change
            run = await svc.run_at("sea", T0 + k * EVERY)
            assert run.status.has_verdict and run.reference_version is None, run.error
            found.append((run.window_end, run.concept_change_points))
    finally:
        await svc.stop()
    points = [p for _, ps in found for p in ps]
    assert len(points) == 1, found
    assert change - EVERY <= points[0] <= change + EVERY
    assert [end for end, ps in found if ps] == [change + EVERY]
    stored = store.concept_state("sea")
    assert stored is not None and stored.revision == len(found)
    store.dispose()
