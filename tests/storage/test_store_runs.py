"""Contract tests of runs and their results, and of reference versions."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest

from monitor.domain import PerformanceRecord, RunStatus
from monitor.errors import DuplicateRun, StorageError, UnknownMonitor, UnknownReference
from monitor.storage import Store
from tests.fakes import FakeStore
from tests.storage.builders import T0, make_run

#: needs a database: a constraint that refuses a row, or raw SQL
DATABASE_ONLY = pytest.mark.real_backends('needs a database: a constraint that refuses a row, or raw SQL')


def test_a_run_round_trips_with_all_its_results(store: Store) -> None:
    run = make_run()
    store.save_run(run)
    assert store.get_run(run.id) == run
    assert store.get_run("no-such-run") is None


def test_a_run_without_results_round_trips(store: Store) -> None:
    run = dataclasses.replace(make_run(), status=RunStatus.INSUFFICIENT_DATA, dataset=None, features=(),
                              performance=(), window_start=None, reference_version=None, label_coverage=None,
                              concept_drift=None, concept_change_points=(), rows=3)
    store.save_run(run)
    assert store.get_run(run.id) == run


def test_a_second_run_of_the_same_window_is_refused(store: Store) -> None:
    first = make_run()
    store.save_run(first)
    again = dataclasses.replace(make_run(run_id="another-id"), status=RunStatus.OK)
    with pytest.raises(DuplicateRun, match="already has a run for the window ending 2024-03-01T00:00:00") as info:
        store.save_run(again)
    assert isinstance(info.value, StorageError)
    assert (info.value.monitor, info.value.window_end) == ("churn", T0)
    assert store.get_run("another-id") is None
    assert store.get_run(first.id) == first


@DATABASE_ONLY
def test_save_run_writes_all_or_nothing(store: Store) -> None:
    """The run row is written first; a result the database refuses must take the run with it."""
    run = make_run()
    broken = dataclasses.replace(run.features[1], column=None)  # type: ignore[arg-type]  # NOT NULL column
    with pytest.raises(StorageError, match="save run") as info:
        store.save_run(dataclasses.replace(run, features=(run.features[0], broken)))
    assert not isinstance(info.value, DuplicateRun)
    assert store.get_run(run.id) is None
    assert store.list_runs("churn") == []


def test_list_runs_newest_first_with_results_and_bounds(store: Store) -> None:
    runs = [make_run(window_end=T0 + timedelta(hours=h)) for h in range(5)]
    for run in runs:
        store.save_run(run)
    store.save_run(make_run("churn-rows", window_end=T0))
    assert store.list_runs("churn") == runs[::-1]
    assert store.list_runs("churn", limit=2) == [runs[4], runs[3]]
    window = store.list_runs("churn", start=T0 + timedelta(hours=1), end=T0 + timedelta(hours=3))
    assert window == [runs[2], runs[1]]  # start <= window_end < end
    assert store.list_runs("nobody") == []
    assert runs[0].features and runs[0].performance  # the builder's runs carry results
    summaries = store.list_runs("churn", results=False)
    assert summaries == [dataclasses.replace(r, features=(), performance=()) for r in runs[::-1]]
    # Keyset paging: the last window end of a page is the next page's end.
    page = store.list_runs("churn", limit=2, results=False)
    assert [r.id for r in store.list_runs("churn", end=page[-1].window_end, limit=2)] == [runs[2].id, runs[1].id]


def test_latest_runs_has_each_configured_monitors_newest_run(store: Store) -> None:
    store.save_run(make_run(window_end=T0))
    newest = make_run(window_end=T0 + timedelta(hours=1), status=RunStatus.ERROR)
    store.save_run(dataclasses.replace(newest, error="source unreachable"))
    rows = make_run("churn-rows", window_end=T0 - timedelta(days=1))
    store.save_run(rows)
    store.save_run(make_run("retired-monitor", window_end=T0 + timedelta(days=1)))
    latest = store.latest_runs()
    assert set(latest) == {"churn", "churn-rows"}  # not monitors gone from the configuration
    assert latest["churn"].status is RunStatus.ERROR and latest["churn"].error == "source unreachable"
    assert latest["churn-rows"] == rows


def test_update_performance_replaces_the_late_results(store: Store) -> None:
    run = make_run()
    store.save_run(run)
    records = [PerformanceRecord(metric="accuracy", value=0.7, reference_value=0.93, p_value=0.001, degraded=True)]
    store.update_performance(run.id, records, labelled_rows=1100, label_coverage=1100 / 1200, concept_drift=True)
    updated = store.get_run(run.id)
    assert updated == dataclasses.replace(run, performance=tuple(records), labelled_rows=1100,
                                          label_coverage=1100 / 1200, concept_drift=True)
    with pytest.raises(LookupError, match="no run with id 'ghost'"):
        store.update_performance("ghost", records, labelled_rows=1, label_coverage=None, concept_drift=None)


@DATABASE_ONLY
def test_deleting_a_run_deletes_its_results(store: Store) -> None:
    run = make_run()
    store.save_run(run)
    with store.engine.begin() as conn:
        conn.exec_driver_sql(f"DELETE FROM runs WHERE id = '{run.id}'")
        left = [conn.exec_driver_sql(f"SELECT count(*) FROM {t}").scalar() for t in
                ("feature_results", "performance_results")]
    assert left == [0, 0]


def test_reference_versions_are_kept_and_one_is_active(store: Store) -> None:
    assert store.active_reference("churn") is None
    v1 = store.add_reference("churn", b"npz-1", "sha256:1", "upload", 1000)
    v2 = store.add_reference("churn", b"npz-2", "sha256:2", "store:2024-01", 2000)
    assert (v1.version, v2.version) == (1, 2)
    listed = dataclasses.replace  # listings and the active record come without the profile blob
    assert store.active_reference("churn") == listed(v2, profile=b"")
    assert [(r.version, r.active) for r in store.references("churn")] == [(1, False), (2, True)]
    staged = store.add_reference("churn", b"npz-3", "sha256:3", "upload", 10, activate=False)
    assert (staged.version, staged.active) == (3, False)
    assert store.active_reference("churn") == listed(v2, profile=b"")
    back = store.activate_reference("churn", 1)
    assert back == dataclasses.replace(v1, active=True)
    assert store.active_reference("churn") == listed(back, profile=b"")
    assert [r.profile for r in store.references("churn")] == [b"", b"", b""]
    assert [store.reference("churn", v).profile for v in (1, 2, 3)] == [b"npz-1", b"npz-2", b"npz-3"]  # type: ignore[union-attr]
    assert store.active_reference("churn-rows") is None  # versions are per monitor
    assert v1.created_at.tzinfo is not None and v1.created_at.utcoffset() == timedelta(0)


def test_one_version_is_read_by_number_without_listing_the_others(store: Store) -> None:
    assert store.active_reference_version("churn") is None
    assert store.reference("churn", 1) is None and not store.has_reference_hash("churn", "sha256:1")
    store.add_reference("churn", b"npz-1", "sha256:1", "upload", 1000)
    v2 = store.add_reference("churn", b"npz-2", "sha256:2", "upload", 2000)
    assert store.active_reference_version("churn") == 2
    assert store.reference("churn", 2) == v2
    one = store.reference("churn", 1)
    assert one is not None and (one.profile, one.active) == (b"npz-1", False)
    assert store.has_reference_hash("churn", "sha256:1") and not store.has_reference_hash("churn-rows", "sha256:1")
    store.activate_reference("churn", 1)
    assert store.active_reference_version("churn") == 1


def test_unknown_references_and_monitors_are_lookup_errors(store: Store) -> None:
    store.add_reference("churn", b"x", "h", "upload", 1)
    with pytest.raises(UnknownReference, match="monitor 'churn' has no reference version 7") as info:
        store.activate_reference("churn", 7)
    assert isinstance(info.value, LookupError) and isinstance(info.value, UnknownMonitor)
    with pytest.raises(UnknownMonitor, match="no monitor named 'nope'"):
        store.add_reference("nope", b"x", "h", "upload", 1)
    assert store.active_reference("churn") is not None  # the failed activation changed nothing


def test_retention_deletes_old_runs_with_their_results(store: Store) -> None:
    runs = [make_run(window_end=T0 + timedelta(hours=h)) for h in range(7)]
    for run in runs:
        store.save_run(run)
    store.save_run(make_run("churn-rows", window_end=T0))
    stats = store.run_stats() if not isinstance(store, FakeStore) else None
    assert store.delete_runs_before("churn", T0 + timedelta(hours=4), batch=3) == 4
    assert [r.id for r in store.list_runs("churn")] == [r.id for r in runs[:3:-1]]
    assert all(store.get_run(r.id) is None for r in runs[:4])
    assert store.get_run(runs[4].id) == runs[4]  # newer runs keep their results
    assert [r.monitor for r in store.list_runs("churn-rows")] == ["churn-rows"]  # per monitor
    if stats is not None:
        assert store.run_stats() == stats  # totals ever run are not lowered
        with store.engine.connect() as conn:  # no orphaned results
            orphans = conn.exec_driver_sql("SELECT count(*) FROM feature_results WHERE run_id NOT IN "
                                           "(SELECT id FROM runs)").scalar_one()
        assert orphans == 0
