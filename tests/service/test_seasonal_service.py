"""A ``same_period`` monitor through the service, over a replayed stream with a daily cycle.

The monitor reads its own store (SQLite); ``MonitorService`` runs with the scheduler off and each
window is run with ``run_at``, as ``driftline backfill`` does. Checked against the test's own
arithmetic and pandas: each stored run carries the three ranges ``[start - k days, end - k days)``
and no reference version, its window rows are the rows pandas counts in the window, the clean
runs meet the false-alarm budget (the 99% Clopper-Pearson bound of 5%, SciPy's ``binomtest``)
while the shift injected on day 5 is flagged in every run of that day, a run whose ranges hold
no rows is ``insufficient_data`` naming them, and each run's report renders from its ranges.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from monitor.config import DriftlineConfig, Settings
from monitor.domain import RunStatus, WindowSpec
from monitor.service import MonitorService
from monitor.storage import Store

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 10, 1, tzinfo=UTC)
DAYS = 6
EVERY = timedelta(hours=2)
CHANGE = T0 + timedelta(days=5)
CONFIG = {"monitors": [{
    "name": "daily", "model": "daily-v1", "every": "2h", "window": {"last": "2h"}, "min_rows": 50,
    "reference": {"type": "same_period", "every": "1d", "periods": 3},
    "schema": {"numerical": ["x"], "task": "regression", "prediction": "prediction", "target": None},
}]}


@pytest.fixture()
def anyio_backend() -> str:
    return "asyncio"


def history(seed: int) -> pd.DataFrame:
    """40 rows an hour; ``x`` follows the hour of the day (1.5 sin), +1.5 from CHANGE on."""
    rng = np.random.default_rng(seed)
    n = DAYS * 24 * 40
    seconds = np.sort(rng.uniform(0, DAYS * 86_400, n))
    times = pd.Timestamp(T0) + pd.to_timedelta(seconds, unit="s")
    x = 1.5 * np.sin(2 * np.pi * (seconds % 86_400) / 86_400) + rng.normal(0, 0.5, n)
    x[times >= pd.Timestamp(CHANGE)] += 1.5
    return pd.DataFrame({"prediction_id": [f"p{i}" for i in range(n)], "timestamp": times, "x": x,
                         "prediction": rng.normal(0, 1, n)})


async def test_same_period_runs_store_their_ranges_and_verdicts_and_render(tmp_path: Path) -> None:
    cfg = DriftlineConfig.model_validate(CONFIG)
    store = Store.from_url(f"sqlite:///{tmp_path / 'd.db'}", cfg)
    store.upgrade()
    log = history(5)
    store.ingest_predictions("daily-v1", log)
    svc = MonitorService(Settings(scheduler=False), cfg, store)
    await svc.start()
    try:
        # day 0: the three earlier days hold no rows
        early = await svc.run_at("daily", T0 + EVERY)
        assert early.status is RunStatus.INSUFFICIENT_DATA and "SamePeriod" in (early.error or "")
        assert early.reference_ranges[-1] == WindowSpec(start=T0 - timedelta(days=1), end=T0 + EVERY - timedelta(days=1))
        ends = [T0 + timedelta(days=3) + k * EVERY for k in range(1, 3 * 12 + 1)]  # day 3 to the end
        runs = [await svc.run_at("daily", end) for end in ends]
        stored = {r.window_end: r for r in store.list_runs("daily", limit=1000)}
        times = log["timestamp"]
        for run, end in zip(runs, ends, strict=True):
            start = end - EVERY
            expected = tuple(WindowSpec(start=start - timedelta(days=k), end=end - timedelta(days=k)) for k in (3, 2, 1))
            assert run.reference_ranges == expected and run.reference_version is None
            assert stored[end].reference_ranges == expected and stored[end].reference_version is None
            assert stored[end].status is run.status and stored[end].dataset == run.dataset
            assert run.rows == int(((times >= pd.Timestamp(start)) & (times < pd.Timestamp(end))).sum())
        clean = [r for r in runs if r.window_end <= CHANGE]
        changed = [r for r in runs if r.window_start is not None and CHANGE <= r.window_start < CHANGE + timedelta(days=1)]
        assert len(clean) == 24 and len(changed) == 12
        assert all(r.status.has_verdict for r in runs)
        false_alarms = sum(r.status is RunStatus.DRIFT for r in clean)
        bound = stats.binomtest(false_alarms, len(clean), 0.05).proportion_ci(0.99).low
        assert bound <= 0.05, f"{false_alarms}/{len(clean)} clean runs drifted"
        assert all(r.status is RunStatus.DRIFT for r in changed)
        page = await svc.report_html(changed[0].id)
        assert page is not None and "daily" in page and "could not be read" not in page
        assert "no longer stored" not in page
    finally:
        await svc.stop()
        store.dispose()
