"""Group commit: concurrent ingest requests of a model share one transaction, each keeps its own result.

The queueing is tested on :class:`GroupCommit` with a write that blocks until released (so the
grouping is forced, not left to timing); the merged write on both databases through
``Store._write_predictions`` (several batches, one transaction) and through concurrent
``ingest_predictions`` calls, with the stored rows counted in SQL.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import sqlalchemy as sa

from monitor.errors import StorageError
from monitor.storage import Store
from monitor.storage._frames import prepare_predictions
from monitor.storage._group_commit import GroupCommit, unavailable
from tests.storage.builders import churn_frame

DATABASE_ONLY = pytest.mark.real_backends("group commit is the databases' write path; the fake has none")


class Blocking:
    """A write that records each group and blocks the first one until :meth:`release`."""

    def __init__(self, fail_on: str | None = None, error: BaseException | None = None) -> None:
        self.groups: list[list[str]] = []
        self.first_started = threading.Event()
        self._release = threading.Event()
        self._fail_on, self._error = fail_on, error

    def release(self) -> None:
        self._release.set()

    def __call__(self, model: str, batches: Sequence[str]) -> list[int]:
        self.groups.append(list(batches))
        if len(self.groups) == 1:
            self.first_started.set()
            assert self._release.wait(10)
        if self._fail_on is not None and self._fail_on in batches:
            assert self._error is not None
            raise self._error
        return [len(b) for b in batches]


def _submit_while_blocked(commit: GroupCommit[str], write: Blocking, later: list[str]) -> dict[str, int | BaseException]:
    """Submit "first", wait until its write runs, submit ``later`` (they queue), release; results by batch."""
    results: dict[str, int | BaseException] = {}

    def submit(batch: str) -> None:
        try:
            results[batch] = commit.submit("m", batch, len(batch))
        except BaseException as exc:  # the test reads it
            results[batch] = exc

    with ThreadPoolExecutor(len(later) + 1) as pool:
        pool.submit(submit, "first")
        assert write.first_started.wait(10)
        futures = [pool.submit(submit, b) for b in later]
        deadline = threading.Event()
        while sum(len(q.items) for q in commit._queues.values()) < len(later) and not deadline.wait(0.005):
            pass
        write.release()
        for f in futures:
            f.result(10)
    return results


def test_requests_arriving_during_a_write_are_written_together_in_arrival_order() -> None:
    write = Blocking()
    commit: GroupCommit[str] = GroupCommit(write, alone_on=lambda e: True)
    later = [f"b{i}" * (i + 1) for i in range(8)]
    results = _submit_while_blocked(commit, write, later)
    assert write.groups[0] == ["first"]
    assert sorted(write.groups[1]) == sorted(later) and len(write.groups) == 2  # one transaction for all eight
    assert results == {"first": 5, **{b: len(b) for b in later}}
    assert (commit.groups, commit.batches) == (2, 9)


def test_an_idle_committer_writes_a_lone_request_at_once() -> None:
    groups: list[list[str]] = []
    commit: GroupCommit[str] = GroupCommit(lambda m, b: (groups.append(list(b)), [7])[1], alone_on=lambda e: True)
    assert commit.submit("m", "x", 1) == 7
    assert groups == [["x"]]


def test_a_group_is_bounded_by_max_rows() -> None:
    write = Blocking()
    commit: GroupCommit[str] = GroupCommit(write, alone_on=lambda e: True, max_rows=10)
    later = ["aaaa", "bbbb", "cccc", "dddd"]  # 4 rows each: two groups of two
    _submit_while_blocked(commit, write, later)
    assert [len(g) for g in write.groups[1:]] == [2, 2]


def test_a_refused_batch_fails_alone_and_the_others_of_its_group_are_written() -> None:
    write = Blocking(fail_on="bad", error=ValueError("the database refused the statement"))
    commit: GroupCommit[str] = GroupCommit(write, alone_on=lambda e: not isinstance(e, OSError))
    results = _submit_while_blocked(commit, write, ["good1", "bad", "good2"])
    assert isinstance(results["bad"], ValueError)
    assert results["good1"] == 5 and results["good2"] == 5
    # The failed group, then each batch alone: only "bad" failed.
    assert sorted(write.groups[1]) == ["bad", "good1", "good2"]
    assert sorted(map(tuple, write.groups[2:])) == [("bad",), ("good1",), ("good2",)]


def test_an_unavailable_database_fails_the_whole_group_once() -> None:
    down = OSError("connection refused")
    write = Blocking(fail_on="b", error=down)
    commit: GroupCommit[str] = GroupCommit(write, alone_on=lambda e: not isinstance(e, OSError))
    results = _submit_while_blocked(commit, write, ["a", "b", "c"])
    assert results["a"] is down and results["b"] is down and results["c"] is down
    assert len(write.groups) == 2  # no retry alone


def test_unavailable_recognises_the_drivers_connection_errors() -> None:
    refused = StorageError("ingest failed")
    refused.__cause__ = sa.exc.OperationalError("INSERT", {}, Exception("connection refused"))
    constraint = StorageError("ingest failed")
    constraint.__cause__ = sa.exc.IntegrityError("INSERT", {}, Exception("null value"))
    assert unavailable(refused) and not unavailable(constraint)


# --- on the databases ---------------------------------------------------------------------------


def _stored(store: Store) -> tuple[int, int, int]:
    """(rows, distinct ids, the ingest counter) of churn-v3, counted in SQL."""
    with store.engine.connect() as conn:
        rows, distinct = conn.execute(sa.text(
            "SELECT count(*), count(DISTINCT prediction_id) FROM predictions_churn_v3")).one()
    return int(rows), int(distinct), store.ingested_counts().get("churn-v3", 0)


@DATABASE_ONLY
def test_one_transaction_of_several_batches_counts_each_request_and_the_first_repeat_wins(store: Store) -> None:
    layout = store._layout("churn-v3")
    store.ingest_predictions("churn-v3", churn_frame(3, start=100))  # p100..p102 already stored
    a = prepare_predictions(layout, churn_frame(10, start=0))  # p0..p9
    b = prepare_predictions(layout, churn_frame(10, start=5).drop(columns=["score", "region"]))  # p5..p14, fewer columns
    c = prepare_predictions(layout, churn_frame(5, start=99))  # p99..p103: p100..p102 stored
    assert store._write_predictions("churn-v3", [a, b, c]) == [10, 5, 2]
    assert _stored(store) == (3 + 17, 20, 20)
    frame = store.read_window(store._config.monitor("churn-rows"), _all())
    by_id = frame.set_index("prediction_id")
    # p5..p9 are the first request's rows (with their score); p10..p14 had no score or region sent.
    assert by_id.loc["p7", "score"] == pytest.approx(0.7)
    assert np.isnan(by_id.loc["p12", "score"]) and by_id["region"].isna()[["p10", "p14"]].all()


@DATABASE_ONLY
def test_a_failed_group_transaction_writes_nothing_of_any_request(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    from monitor.storage import counters

    layout = store._layout("churn-v3")
    batches = [prepare_predictions(layout, churn_frame(10, start=10 * i)) for i in range(3)]

    def fail(*args: object) -> None:
        raise RuntimeError("injected after the insert")

    monkeypatch.setattr(counters, "add_ingested", fail)
    with pytest.raises(RuntimeError, match="injected"):
        store._write_predictions("churn-v3", batches)
    monkeypatch.undo()
    assert _stored(store) == (0, 0, 0)


@DATABASE_ONLY
def test_concurrent_ingests_store_every_row_once_and_share_transactions(store: Store) -> None:
    """64 requests of 10 rows from 16 threads, a quarter repeating another's ids: accepted adds up
    to the distinct ids stored, and to the counter; fewer transactions than requests ran (each
    write is slowed by 20 ms, as a loaded database would be, so requests do queue)."""
    real = store._group._write

    def slow(model: str, batches: Sequence[object]) -> Sequence[int]:
        threading.Event().wait(0.02)
        return real(model, batches)

    store._group._write = slow
    frames = [churn_frame(10, start=10 * (i if i % 4 else i // 4)) for i in range(64)]
    with ThreadPoolExecutor(16) as pool:
        results = list(pool.map(lambda f: store.ingest_predictions("churn-v3", f), frames))
    distinct = len({p for f in frames for p in f["prediction_id"]})
    assert sum(r.accepted for r in results) == distinct
    assert all(r.accepted + r.duplicates == 10 for r in results)
    assert _stored(store) == (distinct, distinct, distinct)
    assert store._group.batches == 64 and store._group.groups < 64, (store._group.groups, store._group.batches)


def _all():  # type: ignore[no-untyped-def]
    from datetime import UTC, datetime

    from monitor.domain import WindowSpec

    return WindowSpec(start=datetime(2000, 1, 1, tzinfo=UTC), end=datetime(2100, 1, 1, tzinfo=UTC))
