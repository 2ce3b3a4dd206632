"""Contract tests of the alerting storage: outbox, Alertmanager episodes, retraining jobs, run aggregates."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from alerts.outbox import DeliveryStatus, OutboxMessage
from alerts.retrain import JobStatus, Outcome, RetrainJob
from exporters.snapshot import DURATION_BUCKETS, RunStats
from monitor.config import DriftlineConfig
from monitor.domain import Run, RunStatus
from monitor.errors import DuplicateRun, StorageError, UnknownOutboxMessage
from monitor.storage import Store
from monitor.storage._migrate import alembic_config
from monitor.storage.aggregates import DURATION_BUCKETS as STORED_BUCKETS
from monitor.storage.aggregates import RunAggregates
from monitor.storage.tables import Base, RunRow
from tests.storage.builders import T0, churn_frame, make_run

StoreFactory = Callable[[DriftlineConfig], Store]

#: The fake implements no outbox, Alertmanager episodes, retraining jobs, run aggregates or migrations.
ALERTING_TABLES = pytest.mark.real_backends('the fake implements no outbox, Alertmanager episodes, retraining jobs, run aggregates or migrations')


def message(key: str = "churn:drift:run-1", target: str = "ops", **changes: object) -> OutboxMessage:
    fields: dict[str, object] = {"target": target, "idempotency_key": key, "kind": "alert",
                                 "payload": f'{{"key": "{key}"}}', "created_at": T0}
    return OutboxMessage(**{**fields, **changes})  # type: ignore[arg-type]


def stored(store: Store) -> list[tuple[str, str]]:
    return sorted((m.target, m.idempotency_key) for m in store.outbox_messages(limit=1000))


def timed_run(monitor: str, hour: int, status: RunStatus, seconds: float) -> Run:
    run = make_run(monitor, window_end=T0 + timedelta(hours=hour), status=status)
    return dataclasses.replace(run, finished_at=run.started_at + timedelta(seconds=seconds))


# -- outbox ---------------------------------------------------------------------------------


@ALERTING_TABLES
def test_save_run_writes_the_run_and_its_events_together(store: Store) -> None:
    run = make_run()
    store.save_run(run, events=[message("a"), message("b", target="pager")])
    assert store.get_run(run.id) == run
    assert stored(store) == [("ops", "a"), ("pager", "b")]
    first = store.outbox_messages(limit=1)[0]
    assert first.id is not None and first.status is DeliveryStatus.PENDING and first.attempts == 0
    assert first.created_at == T0 and first.next_attempt_at is None and first.delivered_at is None


@ALERTING_TABLES
def test_save_run_writes_neither_when_an_event_is_refused(store: Store) -> None:
    run = make_run()
    broken = message("b", payload=None)  # NOT NULL column, inserted after the run
    with pytest.raises(StorageError, match="save run") as info:
        store.save_run(run, events=[message("a"), broken])
    assert not isinstance(info.value, DuplicateRun)
    assert store.get_run(run.id) is None and store.list_runs("churn") == []
    assert stored(store) == []


@ALERTING_TABLES
def test_a_refused_duplicate_run_writes_none_of_its_events(store: Store) -> None:
    store.save_run(make_run(), events=[message("a")])
    with pytest.raises(DuplicateRun):
        store.save_run(make_run(run_id="again"), events=[message("b")])
    assert stored(store) == [("ops", "a")]


@ALERTING_TABLES
def test_a_known_target_and_key_is_skipped_in_save_run_and_enqueue(store: Store) -> None:
    store.save_run(make_run(window_end=T0), events=[message("a"), message("b")])
    store.save_run(make_run(window_end=T0 + timedelta(hours=1)), events=[message("a", payload="{}"), message("c")])
    assert store.enqueue([message("a"), message("d"), message("d"), message("a", target="pager")]) == 2
    assert store.enqueue([]) == 0
    assert stored(store) == [("ops", "a"), ("ops", "b"), ("ops", "c"), ("ops", "d"), ("pager", "a")]
    assert {m.payload for m in store.outbox_messages(limit=1000) if m.idempotency_key == "a"} == {'{"key": "a"}'}


@ALERTING_TABLES
def test_outbox_due_is_pending_and_due_oldest_first(store: Store) -> None:
    now = T0 + timedelta(hours=1)
    store.enqueue([
        message("later", created_at=T0 + timedelta(minutes=3)),
        message("retry-due", created_at=T0 + timedelta(minutes=2), next_attempt_at=now - timedelta(seconds=1)),
        message("retry-now", created_at=T0 + timedelta(minutes=4), next_attempt_at=now),
        message("retry-future", created_at=T0, next_attempt_at=now + timedelta(microseconds=1)),
        message("first", created_at=T0 + timedelta(minutes=1)),
        message("done", created_at=T0, status=DeliveryStatus.DELIVERED, attempts=1, delivered_at=T0),
        message("dead", created_at=T0, status=DeliveryStatus.DEAD_LETTER, attempts=8),
    ])
    due = store.outbox_due(now, limit=10)
    assert [m.idempotency_key for m in due] == ["first", "retry-due", "later", "retry-now"]
    assert [m.idempotency_key for m in store.outbox_due(now, limit=2)] == ["first", "retry-due"]
    later = now + timedelta(hours=1)
    assert "retry-future" in [m.idempotency_key for m in store.outbox_due(later, limit=10)]
    aware_elsewhere = now.astimezone(timezone(timedelta(hours=-5)))
    assert store.outbox_due(aware_elsewhere, limit=10) == due


@ALERTING_TABLES
def test_outbox_update_round_trips_a_delivery_attempt(store: Store) -> None:
    store.enqueue([message("a"), message("b")])
    now = T0 + timedelta(minutes=5)
    first = store.outbox_due(now, limit=1)[0]
    failed = dataclasses.replace(first, attempts=1, last_error="HTTP 503", next_attempt_at=now + timedelta(seconds=4))
    store.outbox_update(failed)
    assert [m.idempotency_key for m in store.outbox_due(now, limit=10)] == ["b"]
    assert store.outbox_due(now + timedelta(seconds=4), limit=10)[0] == failed
    delivered = dataclasses.replace(failed, attempts=2, status=DeliveryStatus.DELIVERED, last_error=None,
                                    delivered_at=now + timedelta(seconds=5))
    store.outbox_update(delivered)
    assert store.outbox_messages(DeliveryStatus.DELIVERED) == [delivered]
    assert store.outbox_due(now + timedelta(days=1), limit=10)[0].idempotency_key == "b"
    with pytest.raises(LookupError, match="no outbox message with id 999999"):
        store.outbox_update(dataclasses.replace(first, id=999_999))
    with pytest.raises(ValueError, match="has no id"):
        store.outbox_update(message("c"))


@ALERTING_TABLES
def test_outbox_messages_newest_first_by_status(store: Store) -> None:
    store.enqueue([message(f"m{i}", created_at=T0 + timedelta(minutes=i)) for i in range(4)]
                  + [message("dead", created_at=T0 + timedelta(hours=1), status=DeliveryStatus.DEAD_LETTER)])
    assert [m.idempotency_key for m in store.outbox_messages()] == ["dead", "m3", "m2", "m1", "m0"]
    assert [m.idempotency_key for m in store.outbox_messages(DeliveryStatus.PENDING, limit=2)] == ["m3", "m2"]
    assert [m.idempotency_key for m in store.outbox_messages(DeliveryStatus.DEAD_LETTER)] == ["dead"]


@ALERTING_TABLES
def test_outbox_counts_reconstruct_attempts_by_outcome(store: Store) -> None:
    delivered, dead = DeliveryStatus.DELIVERED, DeliveryStatus.DEAD_LETTER
    store.enqueue([
        message("a1", status=delivered, attempts=3, delivered_at=T0),  # 2 failed, then delivered
        message("a2", attempts=2),  # 2 failed, still pending
        message("a3", status=dead, attempts=8),  # 7 failed, then dead-lettered
        message("a4"),  # never tried
        message("b1", target="pager", status=delivered, attempts=1, delivered_at=T0),
        message("c1", target="gone", status=dead, attempts=1),  # target removed: dead on the first try
    ])
    assert store.outbox_counts() == {
        ("ops", "delivered"): 1, ("ops", "failed"): 11, ("ops", "dead_letter"): 1,
        ("pager", "delivered"): 1, ("pager", "failed"): 0, ("pager", "dead_letter"): 0,
        ("gone", "delivered"): 0, ("gone", "failed"): 0, ("gone", "dead_letter"): 1,
    }
    assert store.dead_letters() == {"ops": 1, "pager": 0, "gone": 1}


@ALERTING_TABLES
def test_empty_outbox_counts(store: Store) -> None:
    assert store.outbox_counts() == {} and store.dead_letters() == {} and store.outbox_due(T0, 10) == []


# -- Alertmanager ---------------------------------------------------------------------------


@ALERTING_TABLES
def test_record_alertmanager_is_new_only_once_per_firing_episode(store: Store) -> None:
    starts = T0 + timedelta(minutes=1)
    labels = {"alertname": "DriftlineDatasetDrift", "monitor": "churn", "severity": "page"}

    def record(status: str, now: datetime, at: datetime = starts, fingerprint: str = "fp1") -> bool:
        return store.record_alertmanager(fingerprint=fingerprint, starts_at=at, alertname=labels["alertname"],
                                         monitor="churn", status=status, labels=labels, now=now)

    assert record("firing", T0 + timedelta(minutes=2)) is True
    assert record("firing", T0 + timedelta(hours=4)) is False  # repeat_interval
    assert record("firing", T0, at=starts.astimezone(timezone(timedelta(hours=2)))) is False  # same instant
    assert record("firing", T0, fingerprint="fp2") is True
    assert record("resolved", T0 + timedelta(hours=5)) is False
    assert record("resolved", T0 + timedelta(hours=6)) is False  # a retry keeps the first resolution
    assert record("firing", T0 + timedelta(hours=7)) is False  # a late retry of the firing changes nothing
    assert record("firing", T0 + timedelta(days=1), at=starts + timedelta(days=1)) is True  # a new episode
    assert record("resolved", T0 + timedelta(days=2), fingerprint="fp3") is False  # its firing never came
    notes = store.alertmanager_notifications()
    assert [(n["fingerprint"], n["status"]) for n in notes] == [
        ("fp3", "resolved"), ("fp1", "firing"), ("fp1", "resolved"), ("fp2", "firing")]
    episode = notes[2]
    assert episode == {"fingerprint": "fp1", "starts_at": starts, "alertname": "DriftlineDatasetDrift",
                       "monitor": "churn", "status": "resolved", "labels": labels,
                       "received_at": T0 + timedelta(minutes=2), "resolved_at": T0 + timedelta(hours=5)}
    assert notes[0]["resolved_at"] == notes[0]["received_at"] == T0 + timedelta(days=2)
    assert len(store.alertmanager_notifications(limit=2)) == 2
    with pytest.raises(ValueError, match="'pending' must be 'firing' or 'resolved'"):
        record("pending", T0)


# -- retraining jobs ------------------------------------------------------------------------


def job(key: str = "fp1@2024-03-01T00:01:00+00:00", *, monitor: str = "churn", created: datetime = T0,
        outcome: Outcome = Outcome.TRIGGERED, job_id: str | None = None) -> RetrainJob:
    return RetrainJob(id=job_id or f"job-{key}", monitor=monitor, model="churn-v3", trigger_key=key,
                      reason="DriftlineDatasetDrift", status=JobStatus.PENDING, outcome=outcome,
                      dry_run=outcome is Outcome.DRY_RUN, created_at=created)


@ALERTING_TABLES
def test_create_retrain_job_is_idempotent_on_its_trigger_key(store: Store) -> None:
    first = job()
    assert store.create_retrain_job(first) == (first, True)
    again = dataclasses.replace(first, id="another-id", created_at=T0 + timedelta(hours=1), reason="other")
    assert store.create_retrain_job(again) == (first, False)
    assert store.retrain_jobs() == [first] and store.get_retrain_job("another-id") is None


@ALERTING_TABLES
def test_update_get_and_list_retrain_jobs(store: Store) -> None:
    jobs = [job(f"k{i}", created=T0 + timedelta(hours=i), monitor="churn" if i % 2 else "price") for i in range(4)]
    for j in jobs:
        store.create_retrain_job(j)
    triggered = store.update_retrain_job("job-k1", status=JobStatus.TRIGGERED, triggered_at=T0 + timedelta(hours=2))
    assert triggered == dataclasses.replace(jobs[1], status=JobStatus.TRIGGERED, triggered_at=T0 + timedelta(hours=2))
    done = store.update_retrain_job("job-k1", status=JobStatus.SUCCEEDED, completed_at=T0 + timedelta(hours=3),
                                    detail="exit 0", reference_version=4)
    assert done == dataclasses.replace(triggered, status=JobStatus.SUCCEEDED, completed_at=T0 + timedelta(hours=3),
                                       detail="exit 0", reference_version=4)  # triggered_at is kept
    assert store.get_retrain_job("job-k1") == done and store.get_retrain_job("nope") is None
    assert [j.id for j in store.retrain_jobs()] == ["job-k3", "job-k2", "job-k1", "job-k0"]
    assert [j.id for j in store.retrain_jobs(monitor="churn")] == ["job-k3", "job-k1"]
    assert [j.id for j in store.retrain_jobs(since=T0 + timedelta(hours=2))] == ["job-k3", "job-k2"]
    assert [j.id for j in store.retrain_jobs(monitor="price", since=T0, limit=1)] == ["job-k2"]
    with pytest.raises(LookupError, match="no retrain job with id 'ghost'"):
        store.update_retrain_job("ghost", status=JobStatus.FAILED)


@ALERTING_TABLES
def test_retrain_counts_by_monitor_model_and_outcome(store: Store) -> None:
    outcomes = [Outcome.TRIGGERED, Outcome.COOLDOWN, Outcome.COOLDOWN, Outcome.DRY_RUN]
    for i, outcome in enumerate(outcomes):
        store.create_retrain_job(job(f"k{i}", outcome=outcome))
    store.create_retrain_job(job("k0", outcome=Outcome.BUDGET, job_id="dup"))  # a known key counts once
    store.create_retrain_job(job("p0", monitor="price", outcome=Outcome.BUDGET))
    assert store.retrain_counts() == {("churn", "churn-v3", "triggered"): 1, ("churn", "churn-v3", "cooldown"): 2,
                                      ("churn", "churn-v3", "dry_run"): 1, ("price", "churn-v3", "budget"): 1}


# -- run aggregates and ingested rows -------------------------------------------------------


def expected_stats(runs: list[Run], buckets: tuple[float, ...]) -> dict[str, RunAggregates]:
    """The aggregates computed in Python over the saved runs."""
    out: dict[str, RunAggregates] = {}
    for monitor in sorted({r.monitor for r in runs}):
        mine = [r for r in runs if r.monitor == monitor]
        durations = [r.duration_seconds for r in mine]
        last = {s: max(r.window_end for r in mine if r.status == s) for s in {str(r.status) for r in mine}}
        ok = [r.window_end for r in mine if r.status in (RunStatus.OK, RunStatus.DRIFT)]
        out[monitor] = RunAggregates(
            by_status={s: sum(r.status == s for r in mine) for s in last}, last_by_status=last,
            last_successful=max(ok) if ok else None,
            duration_buckets=tuple(sum(d <= b for d in durations) for b in buckets),
            duration_count=len(mine), duration_sum=sum(durations))
    return out


def assert_stats_equal(actual: dict[str, RunAggregates], expected: dict[str, RunAggregates]) -> None:
    assert actual.keys() == expected.keys()
    for monitor, want in expected.items():
        got = actual[monitor]
        assert dataclasses.replace(got, duration_sum=0.0) == dataclasses.replace(want, duration_sum=0.0), monitor
        assert got.duration_sum == pytest.approx(want.duration_sum, rel=1e-12), monitor


@ALERTING_TABLES
def test_run_stats_equal_a_python_computation_over_the_saved_runs(store: Store) -> None:
    rng = np.random.default_rng(7)
    statuses = list(RunStatus)
    runs = [timed_run(monitor, hour, statuses[int(rng.integers(4))], float(rng.choice(
                [*DURATION_BUCKETS, 0.0, 1e-6, 400.0, 86_400.0 * 2 + 0.5, *rng.uniform(0, 400, 5).round(6)])))
            for monitor in ("churn", "churn-rows") for hour in range(40)]
    runs.append(timed_run("price", 0, RunStatus.ERROR, 1.5))  # no successful run
    for run in runs:
        store.save_run(run)
    store.save_run(make_run("retired-monitor"))  # gone from the configuration: not reported
    stats = store.run_stats()
    assert_stats_equal(stats, expected_stats(runs, DURATION_BUCKETS))
    assert stats["price"].last_successful is None and stats["price"].by_status == {"error": 1}
    assert stats["churn"].last_successful is not None and stats["churn"].last_successful.tzinfo is not None
    assert_stats_equal(store.run_stats(buckets=(1.0, 10.0)), expected_stats(runs, (1.0, 10.0)))


@ALERTING_TABLES
def test_run_stats_of_no_runs_is_empty(store: Store) -> None:
    assert store.run_stats() == {}


def test_run_aggregates_carry_exactly_the_exporters_run_stats() -> None:
    """Storage does not import the exporter; these keep the two sides in step."""
    assert STORED_BUCKETS == DURATION_BUCKETS
    ours = [(f.name, f.type) for f in dataclasses.fields(RunAggregates)]
    assert ours == [(f.name, f.type) for f in dataclasses.fields(RunStats)]
    aggregates = RunAggregates(by_status={"ok": 1}, duration_buckets=(1,) * len(DURATION_BUCKETS), duration_count=1)
    assert RunStats(**{f.name: getattr(aggregates, f.name) for f in dataclasses.fields(RunAggregates)}).by_status == {
        "ok": 1}


@ALERTING_TABLES
def test_ingested_counts_are_the_rows_of_each_models_table(store: Store) -> None:
    assert store.ingested_counts() == {"churn-v3": 0, "price": 0}
    store.ingest_predictions("churn-v3", churn_frame(5))
    store.ingest_predictions("churn-v3", churn_frame(4, start=3))  # 2 duplicates
    assert store.ingested_counts() == {"churn-v3": 7, "price": 0}


# -- latest runs ----------------------------------------------------------------------------


def test_latest_runs_follow_new_runs_and_late_performance(store: Store) -> None:
    first = make_run(window_end=T0)
    store.save_run(first)
    assert store.latest_runs() == {"churn": first}
    assert store.latest_runs() == {"churn": first}  # the second read reuses the features it has
    newer = dataclasses.replace(make_run(window_end=T0 + timedelta(hours=1)), features=first.features[:1])
    store.save_run(newer)
    assert store.latest_runs() == {"churn": newer}
    store.update_performance(newer.id, [], labelled_rows=5, label_coverage=0.5, concept_drift=True)
    late = dataclasses.replace(newer, performance=(), labelled_rows=5, label_coverage=0.5, concept_drift=True)
    assert store.latest_runs() == {"churn": late}
    bare = dataclasses.replace(make_run("churn-rows"), features=())
    store.save_run(bare)
    assert store.latest_runs() == {"churn": late, "churn-rows": bare}


# -- migration 0002 -------------------------------------------------------------------------


def _insert_at_0001(conn: sa.Connection, run: Run) -> None:
    """Write ``run`` as revision 0001 stored it: no duration_seconds."""
    tables = Base.metadata.tables
    row = RunRow.from_domain(run)
    conn.execute(sa.insert(tables["runs"]), [{c.name: getattr(row, c.key) for c in tables["runs"].columns
                                              if c.name not in {"duration_seconds", "reference_ranges", "segments", "multivariate"}}])
    for name, children in (("feature_results", row.features), ("performance_results", row.performance)):
        conn.execute(sa.insert(tables[name]), [{c.name: getattr(child, c.key) for c in tables[name].columns
                                                if c.name not in _ADDED_LATER.get(name, set())}
                                               | {"run_id": run.id} for child in children])


#: Result columns later revisions added: 0003 (how a calibrated verdict was reached), 0004 (the
#: degradation test's interval), 0012 (a pushed-down statistic's basis and bound).
_ADDED_LATER = {"feature_results": {"effect", "effect_floor", "null_threshold", "alpha", "rule",
                                    "statistic_error_bound", "basis"},
                "performance_results": {"lower", "upper"}}


def _schema_diff(conn: sa.Connection) -> list[object]:
    def migrated(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
        table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
        return table in Base.metadata.tables

    context = MigrationContext.configure(conn, opts={"include_object": migrated, "compare_type": True})
    return list(compare_metadata(context, Base.metadata))


@ALERTING_TABLES
def test_migration_0002_upgrades_a_database_with_runs(make_store: StoreFactory, config: DriftlineConfig) -> None:
    store = make_store(config)
    long_run = make_run(window_end=T0 + timedelta(days=3))
    long_run = dataclasses.replace(long_run, finished_at=long_run.started_at + timedelta(days=3, microseconds=999_999))
    old = [make_run(window_end=T0), long_run, timed_run("churn-rows", 0, RunStatus.OK, 0.25)]
    with store.engine.begin() as conn:
        command.upgrade(alembic_config(conn), "0001")
        for run in old:
            _insert_at_0001(conn, run)
    store.upgrade()
    assert [store.get_run(r.id) for r in old] == old
    with store.engine.connect() as conn:
        stored_durations = dict(conn.execute(sa.select(RunRow.id, RunRow.duration_seconds)).all())
        assert _schema_diff(conn) == []
    assert stored_durations == {r.id: r.duration_seconds for r in old}  # to the microsecond
    assert stored_durations[long_run.id] == 3 * 86_400 + 0.999_999
    assert_stats_equal(store.run_stats(), expected_stats(old, DURATION_BUCKETS))


@ALERTING_TABLES
def test_run_stats_handle_runs_written_without_a_duration(store: Store) -> None:
    """A Driftline from before 0002 may still write runs during a rolling upgrade."""
    runs = [timed_run("churn", 0, RunStatus.OK, 0.5), timed_run("churn", 1, RunStatus.DRIFT, 61.000_001)]
    for run in runs:
        store.save_run(run)
    with store.engine.begin() as conn:
        conn.execute(sa.update(RunRow).values(duration_seconds=None))
    assert_stats_equal(store.run_stats(), expected_stats(runs, DURATION_BUCKETS))


@ALERTING_TABLES
def test_migration_0002_downgrades_and_upgrades_keeping_the_runs(store: Store) -> None:
    run = make_run()
    store.save_run(run, events=[message("a")])
    with store.engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0001")
        assert "outbox" not in sa.inspect(conn).get_table_names()
        assert "duration_seconds" not in {c["name"] for c in sa.inspect(conn).get_columns("runs")}
    store.upgrade()
    assert store.get_run(run.id) == run  # the results survived: no table was rebuilt
    assert store.run_stats()["churn"].duration_sum == run.duration_seconds


@ALERTING_TABLES
def test_times_come_back_as_aware_utc(store: Store) -> None:
    elsewhere = timezone(timedelta(hours=9))
    store.enqueue([message("a", created_at=T0.astimezone(elsewhere), next_attempt_at=T0.astimezone(elsewhere))])
    store.create_retrain_job(dataclasses.replace(job(), created_at=T0.astimezone(elsewhere)))
    read = store.outbox_messages()[0]
    assert read.created_at == T0 and read.created_at.tzinfo == UTC and read.next_attempt_at == T0
    assert store.retrain_jobs()[0].created_at.tzinfo == UTC
    before = datetime.now(UTC)
    store.enqueue([message("b", created_at=None)])  # stamped when enqueued
    stamped = store.outbox_messages(limit=1)[0]
    assert stamped.idempotency_key == "b" and before <= stamped.created_at <= datetime.now(UTC)  # type: ignore[operator]


# -- counters kept at write time (revision 0006) ------------------------------------------------


def _statements(store: Store, action: Callable[[], object]) -> list[str]:
    seen: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        seen.append(statement)

    sa.event.listen(store.engine, "before_cursor_execute", record)
    try:
        action()
    finally:
        sa.event.remove(store.engine, "before_cursor_execute", record)
    return seen


@ALERTING_TABLES
def test_a_scrape_reads_counters_and_never_scans_the_log_or_the_runs(store: Store) -> None:
    store.ingest_predictions("churn-v3", churn_frame(50))
    runs = [timed_run("churn", hour, RunStatus.OK, 0.3) for hour in range(5)]
    for run in runs:
        store.save_run(run)
    statements = " ".join(_statements(store, lambda: (store.ingested_counts(), store.run_stats()))).lower()
    assert "ingest_counters" in statements and "run_counters" in statements
    assert "predictions_" not in statements and " runs" not in statements.replace("run_counters", "")
    assert store.ingested_counts()["churn-v3"] == 50
    assert_stats_equal(store.run_stats(), expected_stats(runs, DURATION_BUCKETS))


@ALERTING_TABLES
def test_a_refused_write_counts_nothing(store: Store) -> None:
    run = timed_run("churn", 0, RunStatus.DRIFT, 2.0)
    store.save_run(run)
    with pytest.raises(DuplicateRun):
        store.save_run(dataclasses.replace(run, id="another-id"))
    assert store.run_stats()["churn"].by_status == {"drift": 1}
    store.ingest_predictions("churn-v3", churn_frame(5))
    store.ingest_predictions("churn-v3", churn_frame(5))  # every id a duplicate
    assert store.ingested_counts()["churn-v3"] == 5


@ALERTING_TABLES
def test_upgrading_to_0006_counts_the_predictions_already_stored(store: Store) -> None:
    store.ingest_predictions("churn-v3", churn_frame(30))
    with store.engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0005")
        assert "ingest_counters" not in sa.inspect(conn).get_table_names()
    store.upgrade()
    assert store.ingested_counts() == {"churn-v3": 30, "price": 0}
    store.ingest_predictions("churn-v3", churn_frame(10, start=30))
    assert store.ingested_counts()["churn-v3"] == 40


# -- delivery and retrain counters kept at write time (revision 0014) ---------------------------


def _scanned_outbox_counts(store: Store) -> dict[tuple[str, str], int]:
    """The reconstruction the scrape used to run over the whole outbox: the counters' oracle."""
    counts: dict[tuple[str, str], int] = {}
    with store.engine.connect() as conn:
        for target, status, attempts in conn.exec_driver_sql("SELECT target, status, attempts FROM outbox"):
            for outcome in ("delivered", "failed", "dead_letter"):
                counts.setdefault((target, outcome), 0)
            final = status in ("delivered", "dead_letter")
            counts[(target, "failed")] += 0 if attempts < 1 else attempts - 1 if final else attempts
            if final:
                counts[(target, status)] += 1
    return counts


@ALERTING_TABLES
def test_delivery_counters_follow_every_outbox_write(store: Store) -> None:
    """Random attempts, retries, dead letters and re-enqueued duplicates: the counters always equal the scan."""
    rng = np.random.default_rng(7)
    store.enqueue([message(f"k{i}", target=["ops", "pager", "gone"][i % 3]) for i in range(12)])
    store.enqueue([message("pre", status=DeliveryStatus.DELIVERED, attempts=2, delivered_at=T0)])
    for step in range(60):
        pending = store.outbox_due(T0 + timedelta(days=1), 100)
        if not pending:
            break
        m = pending[int(rng.integers(len(pending)))]
        roll = rng.random()
        status = (DeliveryStatus.DELIVERED if roll < 0.3 else DeliveryStatus.DEAD_LETTER if roll < 0.4
                  else DeliveryStatus.PENDING)
        store.outbox_update(dataclasses.replace(m, status=status, attempts=m.attempts + 1,
                                                delivered_at=T0 if status is DeliveryStatus.DELIVERED else None))
        if step % 10 == 0:
            assert store.enqueue([message(f"k{step % 12}", target=["ops", "pager", "gone"][step % 12 % 3])]) == 0
        assert store.outbox_counts() == _scanned_outbox_counts(store)
    assert sum(n for (_, o), n in store.outbox_counts().items() if o == "delivered") >= 2


@ALERTING_TABLES
def test_a_rolled_back_outbox_write_counts_nothing(store: Store) -> None:
    store.enqueue([message("a")])
    before = store.outbox_counts()
    with pytest.raises(UnknownOutboxMessage):
        store.outbox_update(dataclasses.replace(message("zz"), id=10**9, attempts=1))
    assert store.outbox_counts() == before == {("ops", "delivered"): 0, ("ops", "failed"): 0, ("ops", "dead_letter"): 0}


@ALERTING_TABLES
def test_upgrading_to_0014_counts_the_deliveries_and_triggers_already_stored(store: Store) -> None:
    delivered, dead = DeliveryStatus.DELIVERED, DeliveryStatus.DEAD_LETTER
    store.enqueue([message("a1", status=delivered, attempts=3, delivered_at=T0), message("a2", attempts=2),
                   message("a3", status=dead, attempts=8), message("b1", target="pager")])
    store.create_retrain_job(job("t1", outcome=Outcome.TRIGGERED))
    store.create_retrain_job(job("t2", outcome=Outcome.COOLDOWN))
    store.create_retrain_job(job("t3", outcome=Outcome.COOLDOWN))
    deliveries, triggers = store.outbox_counts(), store.retrain_counts()
    with store.engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0013")
        assert "delivery_counters" not in sa.inspect(conn).get_table_names()
    store.upgrade()
    assert store.outbox_counts() == deliveries == _scanned_outbox_counts(store)
    assert deliveries[("ops", "failed")] == 2 + 2 + 7 and deliveries[("pager", "failed")] == 0
    assert store.retrain_counts() == triggers == {("churn", "churn-v3", "triggered"): 1,
                                                  ("churn", "churn-v3", "cooldown"): 2}
