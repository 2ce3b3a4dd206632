"""Window leases, outbox claims and the retraining guard on a real PostgreSQL (N replicas on one database).

Each test builds two or more stores on one schema: each is a replica. Expiry is exercised without
waiting: a lease claimed with a negative time to live is already expired, and an outbox claim is
judged at a ``now`` past its end.
"""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from alerts.outbox import OutboxMessage
from alerts.retrain import decide
from monitor.domain import DeliveryStatus, HttpAction, JobStatus, Outcome, RetrainJob, RetrainPolicy
from monitor.storage import Store
from tests.conftest import postgres_schema
from tests.storage.builders import CHURN, T0, config_of, make_run

TTL = timedelta(minutes=5)
EXPIRED = timedelta(seconds=-1)  # a lease whose holder died: already past its expiry
END = T0 + timedelta(hours=1)


@pytest.fixture
def replicas(postgres_url: str) -> Iterator[Callable[[], Store]]:
    """Stores on one fresh schema, as N replicas would be; checked for leaked connections."""
    stores: list[Store] = []
    with postgres_schema(postgres_url, "lease") as url:
        def make() -> Store:
            store = Store.from_url(url, config_of(CHURN))
            if not stores:
                store.upgrade()
            stores.append(store)
            return store

        yield make
        for store in stores:
            assert store.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
            store.dispose()


def _lease(store: Store, end: datetime = END) -> tuple[str, bool] | None:
    with store.engine.connect() as conn:
        row = conn.execute(sa.text("SELECT holder, done FROM window_leases WHERE monitor = 'churn' "
                                   "AND window_end = :end"), {"end": end}).first()
    return None if row is None else (row[0], row[1])


# -- window leases --------------------------------------------------------------------------


def test_only_one_of_two_replicas_claims_a_window(replicas: Callable[[], Store]) -> None:
    a, b = replicas(), replicas()
    assert a.leases
    assert a.claim_windows("churn", END, "a", TTL) == [END]
    assert b.claim_windows("churn", END, "b", TTL) == []  # a live holder keeps it
    assert a.claim_windows("churn", END, "a", TTL) == []  # and claiming is not re-entrant
    assert _lease(a) == ("a", False)


def test_an_expired_lease_is_taken_over_once(replicas: Callable[[], Store]) -> None:
    a, b, c = replicas(), replicas(), replicas()
    assert a.claim_windows("churn", END, "a", EXPIRED) == [END]  # a dies mid-run
    assert b.claim_windows("churn", END, "b", TTL) == [END]
    assert c.claim_windows("churn", END, "c", TTL) == []
    assert _lease(a) == ("b", False)


def test_a_dead_replicas_earlier_window_is_taken_over_on_the_next_tick(replicas: Callable[[], Store]) -> None:
    a, b = replicas(), replicas()
    earlier = END - timedelta(minutes=10)
    assert a.claim_windows("churn", earlier, "a", EXPIRED) == [earlier]  # a dies running it
    assert b.claim_windows("churn", END, "b", TTL) == [earlier, END]  # oldest first
    b.finish_window("churn", earlier, "b")
    assert _lease(b, earlier) == ("b", True)
    assert b.claim_windows("churn", END + timedelta(minutes=10), "b", TTL) == [END + timedelta(minutes=10)]


def test_a_window_whose_run_is_stored_is_not_claimed_again(replicas: Callable[[], Store]) -> None:
    a, b = replicas(), replicas()
    assert a.claim_windows("churn", END, "a", EXPIRED) == [END]
    a.save_run(make_run(window_end=END))  # a saved the run and died before marking its lease done
    assert b.claim_windows("churn", END, "b", TTL) == []
    assert _lease(b) == ("b", True)
    later = END + timedelta(minutes=10)
    b.save_run(make_run(window_end=later))  # run through the API: no lease at all
    assert b.claim_windows("churn", later, "b", TTL) == []


def test_finishing_forgets_older_finished_leases(replicas: Callable[[], Store]) -> None:
    a = replicas()
    ends = [END + timedelta(minutes=10 * i) for i in range(3)]
    for end in ends:
        assert a.claim_windows("churn", end, "a", TTL) == [end]
        a.finish_window("churn", end, "a")
    assert [_lease(a, end) for end in ends] == [None, None, ("a", True)]


def test_a_lease_row_being_taken_is_skipped_not_waited_for(replicas: Callable[[], Store]) -> None:
    a, b = replicas(), replicas()
    assert a.claim_windows("churn", END, "a", EXPIRED) == [END]
    with a.engine.connect() as locker:  # another replica in the middle of taking the expired lease over
        locker.execute(sa.text("SELECT 1 FROM window_leases WHERE monitor = 'churn' FOR UPDATE"))
        started = time.monotonic()
        assert b.claim_windows("churn", END, "b", TTL) == []  # SKIP LOCKED: not blocked behind the lock
        assert time.monotonic() - started < 5
        locker.rollback()
    assert b.claim_windows("churn", END, "b", TTL) == [END]


def test_concurrent_claimers_of_one_window_get_it_once(replicas: Callable[[], Store]) -> None:
    stores = [replicas() for _ in range(4)]
    barrier = threading.Barrier(8)

    def claim(i: int) -> list[datetime]:
        barrier.wait()
        return stores[i % 4].claim_windows("churn", END, f"r{i}", TTL)

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(claim, range(8)))
    assert sorted(map(len, results)) == [0] * 7 + [1]


# -- outbox claims --------------------------------------------------------------------------


def _messages(n: int) -> list[OutboxMessage]:
    return [OutboxMessage(target="ops", idempotency_key=f"k{i}", kind="alert", payload="{}",  # type: ignore[arg-type]
                          created_at=T0 + timedelta(seconds=i)) for i in range(n)]


def test_a_claimed_message_is_not_due_to_another_replica_until_its_claim_expires(
        replicas: Callable[[], Store]) -> None:
    a, b = replicas(), replicas()
    a.enqueue(_messages(3))
    now = datetime.now(UTC)
    first = a.outbox_claim(now, limit=2)
    assert [m.idempotency_key for m in first] == ["k0", "k1"]
    assert [m.idempotency_key for m in b.outbox_claim(now, limit=10)] == ["k2"]
    assert b.outbox_claim(now, limit=10) == []
    # a dies holding k0 and k1: once the claim has passed they are due again, to anyone.
    later = now + a.outbox_claim_for + timedelta(seconds=1)
    assert sorted(m.idempotency_key for m in b.outbox_claim(later, limit=10)) == ["k0", "k1", "k2"]


def test_a_recorded_attempt_replaces_the_claim(replicas: Callable[[], Store]) -> None:
    a = replicas()
    a.enqueue(_messages(1))
    now = datetime.now(UTC)
    (claimed,) = a.outbox_claim(now, limit=10)
    a.outbox_update(dataclasses.replace(claimed, status=DeliveryStatus.DELIVERED, attempts=1, delivered_at=now))
    assert a.outbox_claim(now + timedelta(hours=1), limit=10) == []
    failed = a.enqueue(_messages(2)) and a.outbox_claim(now, limit=10)[0]
    assert failed and failed.idempotency_key == "k1"
    retry = now + timedelta(seconds=4)  # a failed attempt's backoff, shorter than the claim
    a.outbox_update(dataclasses.replace(failed, attempts=1, last_error="HTTP 503", next_attempt_at=retry))
    assert [m.idempotency_key for m in a.outbox_claim(retry, limit=10)] == ["k1"]


def test_concurrent_replicas_draining_the_outbox_take_disjoint_messages(replicas: Callable[[], Store]) -> None:
    stores = [replicas() for _ in range(4)]
    stores[0].enqueue(_messages(40))
    now = datetime.now(UTC)
    barrier = threading.Barrier(4)

    def drain(store: Store) -> list[str]:
        barrier.wait()
        keys: list[str] = []
        while batch := store.outbox_claim(now, limit=3):
            keys += [m.idempotency_key for m in batch]
        return keys

    with ThreadPoolExecutor(4) as pool:
        taken = [k for keys in pool.map(drain, stores) for k in keys]
    assert sorted(taken) == sorted(f"k{i}" for i in range(40))  # each message once, none lost


def test_sqlite_reads_due_messages_without_claiming(tmp_path: object) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path}/d.db", config_of(CHURN))
    try:
        store.upgrade()
        assert not store.leases
        store.enqueue(_messages(1))
        now = datetime.now(UTC)
        assert len(store.outbox_claim(now, 10)) == 1
        assert len(store.outbox_claim(now, 10)) == 1  # one process: nothing to claim against
    finally:
        store.dispose()


# -- retraining guard -----------------------------------------------------------------------


def test_two_replicas_cannot_both_pass_a_cooldown(replicas: Callable[[], Store]) -> None:
    stores = [replicas() for _ in range(4)]
    policy = RetrainPolicy(on=("drift",), action=HttpAction(webhook="retrain"), cooldown=timedelta(hours=1),
                           max_per_day=10)
    now = datetime.now(UTC)
    barrier = threading.Barrier(8)

    def trigger(i: int) -> RetrainJob | None:
        def job_of(recent: list[RetrainJob]) -> RetrainJob:
            outcome = decide(policy, "drift", now, recent)
            time.sleep(0.05)  # widen the gap between the check and the insert
            return RetrainJob(id=f"job{i}", monitor="churn", model="churn_model", trigger_key=f"t{i}", reason="drift",
                              status=JobStatus.PENDING if outcome is Outcome.TRIGGERED else JobStatus.SKIPPED,
                              outcome=outcome, dry_run=False, created_at=now)

        barrier.wait()
        stored = stores[i % 4].create_retrain_job_checked("churn", job_of)
        return None if stored is None else stored[0]

    with ThreadPoolExecutor(8) as pool:
        jobs = list(pool.map(trigger, range(8)))
    outcomes = sorted(str(j.outcome) for j in jobs if j is not None)
    assert outcomes == sorted(["triggered"] + ["cooldown"] * 7)
