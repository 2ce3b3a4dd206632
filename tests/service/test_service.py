"""The service around the engine: runs on demand and on schedule, no overlap, late labels,
insufficient data, a database outage, and no window written twice."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitor.config import DriftlineConfig, Settings
from monitor.domain import RunStatus
from monitor.errors import StorageError
from monitor.run import execute as run_module
from monitor.run import fit_reference
from monitor.service import MonitorService
from monitor.storage import Store

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self.value = now

    def now(self) -> datetime:
        return self.value


def make_config(min_rows: int = 50) -> DriftlineConfig:
    return DriftlineConfig.model_validate({"monitors": [{
        "name": "churn", "model": "churn-v3", "every": "1s", "window": {"last": "1h"}, "min_rows": min_rows,
        "schema": {"numerical": ["age"], "categorical": ["plan"], "task": "classification",
                   "prediction": "prediction", "target": "label"},
        "performance": {"min_labels": 20, "bucket": "10m", "label_lookback": "1d"},
    }]})


def frame(n: int, *, start: datetime, shift: float = 0.0, seed: int = 0, labels: bool = False) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    out = pd.DataFrame({
        "prediction_id": [f"p{seed}-{i}" for i in range(n)],
        "timestamp": pd.date_range(start, periods=n, freq="1s", tz="UTC"),
        "age": rng.normal(40 + shift, 10, n),
        "plan": rng.choice(["basic", "pro"], n),
        "prediction": rng.choice(["0", "1"], n),
        "label": np.nan,
    })
    out["label"] = out["prediction"].where(rng.random(n) < 0.85, "x") if labels else np.nan
    out["label"] = out["label"].astype(object)
    return out


@pytest.fixture()
async def setup(tmp_path: Path) -> AsyncIterator[tuple[MonitorService, Store, FixedClock]]:
    config = make_config()
    store = Store.from_url(f"sqlite:///{tmp_path / 'd.db'}", config)
    store.upgrade()
    clock = FixedClock(T0)
    svc = MonitorService(Settings(scheduler=False), config, store, clock=clock)
    await svc.start()
    ref = frame(500, start=T0 - timedelta(days=2), seed=1, labels=True)
    await svc.register_reference("churn", ref.rename(columns={}), source="test")
    yield svc, store, clock
    await svc.stop()
    store.dispose()


async def test_a_run_reads_the_window_and_stores_every_result(setup) -> None:  # type: ignore[no-untyped-def]
    svc, store, clock = setup
    store.ingest_predictions("churn-v3", frame(300, start=T0 - timedelta(minutes=30), shift=15, seed=2))
    run = await svc.run_now("churn")
    assert run.status is RunStatus.DRIFT and run.rows == 300
    stored = store.get_run(run.id)
    assert stored is not None and stored.status is RunStatus.DRIFT
    assert {f.column for f in stored.features} == {"age", "plan", "prediction"}
    assert next(f for f in stored.features if f.column == "age").drifted
    assert stored.label_coverage == 0.0 and stored.performance == ()


async def test_too_few_rows_is_insufficient_data_without_a_verdict(setup) -> None:  # type: ignore[no-untyped-def]
    svc, store, _ = setup
    store.ingest_predictions("churn-v3", frame(10, start=T0 - timedelta(minutes=5), seed=3))
    run = await svc.run_now("churn")
    assert run.status is RunStatus.INSUFFICIENT_DATA and run.dataset is None and run.features == ()
    assert "10 rows" in (run.error or "")


async def test_runs_of_one_monitor_never_overlap(setup, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    svc, store, clock = setup
    store.ingest_predictions("churn-v3", frame(200, start=T0 - timedelta(minutes=30), seed=4))
    active, peak = 0, 0
    real = run_module.evaluate

    def slow(*args, **kwargs):  # type: ignore[no-untyped-def]
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        import time
        time.sleep(0.2)
        active -= 1
        return real(*args, **kwargs)

    monkeypatch.setattr(run_module, "evaluate", slow)

    async def at(offset: int):  # type: ignore[no-untyped-def]
        return await svc.run_at("churn", T0 + timedelta(seconds=offset))

    runs = await asyncio.gather(*(at(i) for i in range(4)))
    assert peak == 1
    assert len({r.id for r in runs}) == 4 and len(store.list_runs("churn")) == 4


async def test_a_window_is_never_written_twice(setup) -> None:  # type: ignore[no-untyped-def]
    svc, store, _ = setup
    store.ingest_predictions("churn-v3", frame(200, start=T0 - timedelta(minutes=30), seed=5))
    await svc.run_at("churn", T0)
    await svc.run_at("churn", T0)  # e.g. a restarted scheduler firing the same aligned window
    assert len(store.list_runs("churn")) == 1


def test_scheduled_window_ends_are_aligned_to_the_period() -> None:
    monitor = make_config().monitor("churn").model_copy(update={"every": "15m"})
    end = monitor.to_domain().aligned_end(datetime(2026, 11, 1, 12, 7, 31, tzinfo=UTC))
    assert end == datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


async def test_late_labels_update_the_performance_of_past_runs(setup) -> None:  # type: ignore[no-untyped-def]
    svc, store, _ = setup
    rows = frame(200, start=T0 - timedelta(minutes=30), seed=6)
    store.ingest_predictions("churn-v3", rows)
    run = await svc.run_now("churn")
    assert store.get_run(run.id).performance == ()  # type: ignore[union-attr]
    labels = pd.DataFrame({"prediction_id": rows["prediction_id"], "label": rows["prediction"],
                           "timestamp": pd.Timestamp(T0)})
    assert store.ingest_labels("churn-v3", labels).updated == 200
    await svc.labels_arrived("churn-v3")
    updated = store.get_run(run.id)
    assert updated is not None and updated.label_coverage == 1.0 and updated.labelled_rows == 200
    accuracy = {p.metric: p.value for p in updated.performance}["accuracy"]
    assert accuracy == 1.0


async def test_database_outage_records_the_run_as_error_once_it_is_back(  # type: ignore[no-untyped-def]
    setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    svc, store, _ = setup
    store.ingest_predictions("churn-v3", frame(200, start=T0 - timedelta(minutes=30), seed=7))

    def down(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise StorageError("database unreachable")

    with monkeypatch.context() as m:
        m.setattr(store, "read_window", down)
        m.setattr(store, "save_run", down)
        run = await svc.run_now("churn")  # the service stays up: no exception escapes
        assert run.status is RunStatus.ERROR
        await svc._pending.flush()  # still down: kept
        assert store.list_runs("churn") == [] and len(svc._pending) == 1
    await svc._pending.flush()  # back: written, as error
    stored = store.list_runs("churn")
    assert [r.status for r in stored] == [RunStatus.ERROR] and "unreachable" in (stored[0].error or "")


async def test_missing_reference_is_an_error_run_that_says_what_to_do(tmp_path: Path) -> None:
    config = make_config()
    store = Store.from_url(f"sqlite:///{tmp_path / 'e.db'}", config)
    store.upgrade()
    svc = MonitorService(Settings(scheduler=False), config, store, clock=FixedClock(T0))
    run = await svc.run_now("churn")
    assert run.status is RunStatus.ERROR and "/v1/monitors/churn/reference" in (run.error or "")
    store.dispose()


async def test_the_scheduler_runs_monitors_by_itself(tmp_path: Path) -> None:
    config = make_config(min_rows=1)
    store = Store.from_url(f"sqlite:///{tmp_path / 's.db'}", config)
    store.upgrade()
    svc = MonitorService(Settings(scheduler=True), config, store)
    await svc.start()
    try:
        assert svc.scheduler_running()
        await svc.register_reference("churn", frame(300, start=T0, seed=8), source="test")
        for _ in range(50):
            if len(store.list_runs("churn")) >= 2:
                break
            await asyncio.sleep(0.1)
        runs = store.list_runs("churn")
        assert len(runs) >= 2 and len({r.window_end for r in runs}) == len(runs)
    finally:
        await svc.stop()
        store.dispose()
    assert not svc.scheduler_running()


def test_reference_fit_needs_the_prediction_column() -> None:
    from monitor.errors import InputError

    with pytest.raises(InputError, match="'prediction'"):
        fit_reference(make_config().monitor("churn").to_domain(), frame(50, start=T0).drop(columns=["prediction"]))


def test_performance_with_text_class_labels_survives_the_stored_reference() -> None:
    # Labels come back from a stored reference as fixed-width strings; metrics must still work.
    from monitor.run import ReferenceBundle, evaluate_performance

    monitor = make_config().monitor("churn").to_domain()
    ref = frame(300, start=T0 - timedelta(days=1), seed=9, labels=True)
    bundle = ReferenceBundle.from_bytes(fit_reference(monitor, ref).to_bytes())
    outcome = evaluate_performance(monitor, bundle, ref)
    records, labelled, coverage = outcome.records, outcome.labelled_rows, outcome.label_coverage
    perf = {r.metric: r for r in records}
    assert labelled == 300 and coverage == 1.0
    assert perf["accuracy"].value == perf["accuracy"].reference_value == pytest.approx(
        float((ref["label"] == ref["prediction"]).mean()))


async def test_an_unexpected_failure_is_still_an_error_run(setup, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    svc, store, _ = setup
    store.ingest_predictions("churn-v3", frame(200, start=T0 - timedelta(minutes=30), seed=10))

    def broken(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise TypeError("a bug")

    monkeypatch.setattr(run_module, "evaluate", broken)
    run = await svc.run_now("churn")
    assert run.status is RunStatus.ERROR and run.error == "internal error: TypeError"
    assert [r.status for r in store.list_runs("churn")] == [RunStatus.ERROR]


async def test_a_file_reference_does_not_replace_a_promoted_one_at_restart(tmp_path: Path) -> None:
    path = tmp_path / "reference.csv"
    frame(300, start=T0, seed=11).drop(columns=["prediction_id", "timestamp"]).to_csv(path, index=False)
    config = DriftlineConfig.model_validate({"monitors": [{
        **make_config().monitor("churn").model_dump(by_alias=True, exclude={"reference"}),
        "reference": {"type": "file", "path": str(path)}}]})
    store = Store.from_url(f"sqlite:///{tmp_path / 'r.db'}", config)
    store.upgrade()
    svc = MonitorService(Settings(scheduler=False), config, store)
    await svc.start()
    promoted = await svc.register_reference("churn", frame(300, start=T0, seed=12), source="retrain")
    await svc.stop()
    again = MonitorService(Settings(scheduler=False), config, store)  # a restart
    await again.start()
    await again.stop()
    active = store.active_reference("churn")
    assert active is not None and active.version == promoted.version == 2
    assert sorted(r.version for r in store.references("churn")) == [1, 2]
    store.dispose()


async def test_a_restart_does_not_refit_an_unchanged_file_reference(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import monitor.run.registry as registry_module

    fits: list[int] = []
    real_fit = registry_module.fit_reference
    monkeypatch.setattr(registry_module, "fit_reference", lambda m, f: fits.append(len(f)) or real_fit(m, f))
    path = tmp_path / "reference.csv"
    frame(300, start=T0, seed=13).drop(columns=["prediction_id", "timestamp"]).to_csv(path, index=False)
    config = DriftlineConfig.model_validate({"monitors": [{
        **make_config().monitor("churn").model_dump(by_alias=True, exclude={"reference"}),
        "reference": {"type": "file", "path": str(path)}}]})
    store = Store.from_url(f"sqlite:///{tmp_path / 'r.db'}", config)
    store.upgrade()

    async def restart(cfg: DriftlineConfig = config) -> None:
        svc = MonitorService(Settings(scheduler=False), cfg, store)
        await svc.start()
        await svc.stop()

    await restart()
    await restart()
    await restart()
    assert fits == [300]  # fitted at the first start only
    assert [r.version for r in store.references("churn")] == [1]
    # The same bytes under another name: the input is known (the path is not part of it).
    path.rename(tmp_path / "moved.csv")
    moved = DriftlineConfig.model_validate({"monitors": [{
        **config.monitors[0].model_dump(by_alias=True, exclude={"reference"}),
        "reference": {"type": "file", "path": str(tmp_path / "moved.csv")}}]})
    await restart(moved)
    await restart(moved)
    assert fits == [300] and [r.version for r in store.references("churn")] == [1]
    # A changed file is a new input: fitted and activated.
    frame(400, start=T0, seed=14).drop(columns=["prediction_id", "timestamp"]).to_csv(tmp_path / "moved.csv", index=False)
    await restart(moved)
    active = store.active_reference("churn")
    assert fits == [300, 400] and active is not None and active.version == 2
    store.dispose()


async def test_a_version_stored_before_input_hashes_is_refitted_once_then_known(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import monitor.run.registry as registry_module

    path = tmp_path / "reference.csv"
    frame(300, start=T0, seed=15).drop(columns=["prediction_id", "timestamp"]).to_csv(path, index=False)
    config = DriftlineConfig.model_validate({"monitors": [{
        **make_config().monitor("churn").model_dump(by_alias=True, exclude={"reference"}),
        "reference": {"type": "file", "path": str(path)}}]})
    store = Store.from_url(f"sqlite:///{tmp_path / 'r.db'}", config)
    store.upgrade()
    monitor = config.to_domain().monitor("churn")
    old = fit_reference(monitor, pd.read_csv(path))  # as an earlier release stored it: no input hash
    store.add_reference("churn", old.to_bytes(), old.profile.content_hash, f"file:{path}", 300)
    fits: list[int] = []
    real_fit = registry_module.fit_reference
    monkeypatch.setattr(registry_module, "fit_reference", lambda m, f: fits.append(len(f)) or real_fit(m, f))
    for _ in range(3):
        svc = MonitorService(Settings(scheduler=False), config, store)
        await svc.start()
        await svc.stop()
    assert fits == [300]
    assert [(r.version, r.input_hash is not None) for r in store.references("churn")] == [(1, True)]
    store.dispose()
