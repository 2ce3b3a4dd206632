"""PostgreSQL's prediction log partitioned by day: made at ingest, dropped whole by retention.

Only PostgreSQL partitions (SQLite's retention is the batched delete the contract tests check on
both databases); these tests run on a real server and skip without one (fail under ``CI=true``).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta

import pandas as pd
import pytest
import sqlalchemy as sa

from monitor.config import DriftlineConfig
from monitor.domain import WindowSpec
from monitor.storage import Store
from monitor.storage.layout import build_layouts
from tests.conftest import postgres_schema
from tests.storage.builders import CHURN, CHURN_BY_ROWS, T0, churn_frame, config_of

DAY0 = T0.replace(hour=0, minute=0, second=0, microsecond=0)
EVERYTHING = WindowSpec(start=DAY0 - timedelta(days=365), end=DAY0 + timedelta(days=365))


@pytest.fixture
def config() -> DriftlineConfig:
    return config_of(CHURN, CHURN_BY_ROWS)


@pytest.fixture
def url(postgres_url: str) -> Iterator[str]:
    with postgres_schema(postgres_url, "part") as schema_url:
        yield schema_url


@pytest.fixture
def store(url: str, config: DriftlineConfig) -> Iterator[Store]:
    s = Store.from_url(url, config)
    s.upgrade()
    try:
        yield s
    finally:
        s.dispose()


def _days(store: Store) -> list[str]:
    """The day partitions of the churn log, by name, from the catalog."""
    with store.engine.connect() as conn:
        return sorted(conn.execute(sa.text(
            "SELECT c.relname FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass('predictions_churn_v3')")).scalars())


def _spread(n: int, start: int = 0) -> pd.DataFrame:
    """``n`` predictions an hour apart from ``DAY0`` (so several days), ids ``p<start>``..."""
    hour = timedelta(hours=1)
    return churn_frame(n, start=start, t0=DAY0 - start * hour, step=hour)


def test_a_new_log_is_partitioned_by_day_and_ingest_makes_the_days_it_needs(store: Store,
                                                                            config: DriftlineConfig) -> None:
    frame = _spread(60)  # 2.5 days
    assert _days(store) == []  # nothing made before it is needed
    assert store.ingest_predictions("churn-v3", frame).accepted == 60
    # The three days the rows fall in, and the day after the last (made before midnight needs it).
    assert _days(store) == [f"predictions_churn_v3_p{DAY0 + timedelta(days=d):%Y%m%d}" for d in range(4)]
    got = store.read_window(config.monitor("churn").to_domain(), EVERYTHING)
    assert got["prediction_id"].tolist() == frame["prediction_id"].tolist()  # in time order across partitions
    across_midnight = WindowSpec(start=DAY0 + timedelta(hours=22), end=DAY0 + timedelta(hours=26))
    assert store.read_window(config.monitor("churn").to_domain(), across_midnight)["prediction_id"].tolist() == \
        ["p22", "p23", "p24", "p25"]


def test_a_retry_is_a_duplicate_and_labels_reach_rows_on_any_day(store: Store) -> None:
    frame = _spread(60)
    store.ingest_predictions("churn-v3", frame)
    again = store.ingest_predictions("churn-v3", frame)
    assert (again.accepted, again.duplicates) == (0, 60)
    labels = pd.DataFrame({"prediction_id": ["p1", "p30", "p59", "nope"], "label": ["yes", "no", "yes", "no"],
                           "timestamp": pd.Series([DAY0 + timedelta(days=3)] * 4, dtype="datetime64[us, UTC]")})
    result = store.ingest_labels("churn-v3", labels)
    assert (result.updated, result.unknown_ids) == (3, ("nope",))
    assert store.ingested_counts() == {"churn-v3": 60}


def _at(ids: list[str], times: list[timedelta]) -> pd.DataFrame:
    frame = churn_frame(len(ids))
    return frame.assign(prediction_id=ids, timestamp=pd.Series([DAY0 + t for t in times], dtype="datetime64[us, UTC]"))


def test_an_id_is_unique_within_its_day_and_within_an_hour_across_midnight(store: Store) -> None:
    """A retried batch without timestamps is stamped again at receipt: minutes later, maybe past midnight."""
    h = timedelta(hours=1)
    store.ingest_predictions("churn-v3", _at(["late", "noon", "early"], [23.5 * h, 10 * h, h / 3]))
    # The same day at another time; 45 minutes later on the next day; 30 minutes earlier on the day before.
    retries = _at(["noon", "late", "early"], [18 * h, 24.25 * h, -h / 6])
    assert store.ingest_predictions("churn-v3", retries).duplicates == 3
    # Another day, more than an hour away: a new row.
    again = _at(["noon", "late", "early"], [34 * h, 25 * h, -1.5 * h])
    assert store.ingest_predictions("churn-v3", again).accepted == 3
    assert store.count_predictions("churn-v3") == 6


def test_retention_drops_whole_days_and_deletes_the_rest_of_the_cutoff_day(store: Store,
                                                                         config: DriftlineConfig) -> None:
    frame = _spread(60)
    store.ingest_predictions("churn-v3", frame)
    cutoff = DAY0 + timedelta(days=1, hours=5)
    expected = int((frame["timestamp"] < cutoff).sum())  # the oracle: the frame itself (29 rows)
    assert store.delete_predictions_before("churn-v3", cutoff, batch=2) == expected
    assert f"predictions_churn_v3_p{DAY0:%Y%m%d}" not in _days(store)  # dropped, not emptied
    assert f"predictions_churn_v3_p{DAY0 + timedelta(days=1):%Y%m%d}" in _days(store)  # the cutoff's day stays
    left = store.read_window(config.monitor("churn").to_domain(), EVERYTHING)["prediction_id"].tolist()
    assert left == frame.loc[frame["timestamp"] >= cutoff, "prediction_id"].tolist()
    assert store.delete_predictions_before("churn-v3", cutoff) == 0
    assert store.ingested_counts() == {"churn-v3": 60}  # totals ever accepted


def test_a_partition_another_replica_dropped_is_made_again(url: str, config: DriftlineConfig) -> None:
    a, b = Store.from_url(url, config), Store.from_url(url, config)
    try:
        a.upgrade()
        a.ingest_predictions("churn-v3", _spread(5))  # a now knows DAY0's partition
        assert b.delete_predictions_before("churn-v3", DAY0 + timedelta(days=2)) == 5  # b drops it
        assert _days(a) == []
        assert a.ingest_predictions("churn-v3", _spread(5, start=100)).accepted == 5  # a's cache was stale
        assert len(a.read_window(config.monitor("churn").to_domain(), EVERYTHING)) == 5
    finally:
        a.dispose()
        b.dispose()


def test_replicas_making_the_same_days_at_once_both_succeed(url: str, config: DriftlineConfig) -> None:
    stores = [Store.from_url(url, config) for _ in range(4)]
    stores[0].upgrade()
    errors: list[BaseException] = []
    start = threading.Barrier(len(stores))

    def ingest(k: int) -> None:
        try:
            start.wait()
            stores[k].ingest_predictions("churn-v3", _spread(40, start=1000 * k))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=ingest, args=(k,)) for k in range(len(stores))]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert errors == []
        assert stores[0].ingested_counts() == {"churn-v3": 160}
        assert len(_days(stores[0])) == 3
    finally:
        for s in stores:
            s.dispose()


def test_a_log_made_before_partitioning_keeps_working_unpartitioned(url: str, config: DriftlineConfig) -> None:
    engine = sa.create_engine(url)
    metadata = sa.MetaData()
    build_layouts(config.to_domain(), metadata)["churn-v3"].table.create(engine)  # as 0014 made it
    engine.dispose()
    store = Store.from_url(url, config)
    try:
        store.upgrade()
        frame = _spread(30)
        assert store.ingest_predictions("churn-v3", frame).accepted == 30
        assert store.ingest_predictions("churn-v3", frame).duplicates == 30
        assert _days(store) == []
        cutoff: datetime = DAY0 + timedelta(hours=10)
        assert store.delete_predictions_before("churn-v3", cutoff, batch=3) == 10
        left = store.read_window(config.monitor("churn").to_domain(), EVERYTHING)["prediction_id"].tolist()
        assert left == frame["prediction_id"].tolist()[10:]
    finally:
        store.dispose()


def test_a_group_commit_counts_each_request_with_rows_near_midnight(store: Store) -> None:
    """Merged requests take RETURNING through both statements (rows far from and near a midnight)."""
    from monitor.storage._frames import prepare_predictions

    h = timedelta(hours=1)
    store.ingest_predictions("churn-v3", _at(["old-near", "old-far"], [23.8 * h, 12 * h]))
    layout = store._layout("churn-v3")  # the group commit's write callback, given two requests at once
    first = prepare_predictions(layout, _at(["old-near", "a", "b"], [24.1 * h, 23.9 * h, 13 * h]))
    second = prepare_predictions(layout, _at(["old-far", "c", "a"], [14 * h, 0.5 * h, 13 * h]))
    assert store._write_predictions("churn-v3", [first, second]) == [2, 1]  # "a" is the first request's
    assert store.count_predictions("churn-v3") == 5


def test_db_partition_moves_a_log_made_before_into_days_with_every_row(url: str, config: DriftlineConfig) -> None:
    engine = sa.create_engine(url)
    build_layouts(config.to_domain(), sa.MetaData())["churn-v3"].table.create(engine)  # as 0014 made it
    engine.dispose()
    store = Store.from_url(url, config)
    try:
        store.upgrade()
        frame = _spread(60)
        store.ingest_predictions("churn-v3", frame)
        store.ingest_labels("churn-v3", pd.DataFrame({"prediction_id": ["p3"], "label": ["yes"], "timestamp": pd.Series(
            [DAY0 + timedelta(days=5)], dtype="datetime64[us, UTC]")}))
        monitor = config.monitor("churn").to_domain()
        before = store.read_window(monitor, EVERYTHING)
        assert store.partition_logs() == {"churn-v3": 60}
        assert _days(store) == [f"predictions_churn_v3_p{DAY0 + timedelta(days=d):%Y%m%d}" for d in range(3)]
        pd.testing.assert_frame_equal(store.read_window(monitor, EVERYTHING), before)  # labels and all
        assert store.ingest_predictions("churn-v3", frame).duplicates == 60  # the days' unique indexes hold
        assert store.partition_logs() == {"churn-v3": None}
        with store.engine.connect() as conn:  # nothing of the old table is left
            assert conn.execute(sa.text("SELECT count(*) FROM pg_class WHERE relname LIKE '%unpartitioned%' "
                                        "AND relnamespace = to_regnamespace(current_schema())")).scalar() == 0
    finally:
        store.dispose()


def test_labels_find_a_day_another_replica_made_and_go_to_the_newer_of_two(url: str, config: DriftlineConfig) -> None:
    a, b = Store.from_url(url, config), Store.from_url(url, config)
    h = timedelta(hours=1)
    try:
        a.upgrade()
        a.ingest_predictions("churn-v3", _at(["x", "y"], [2 * h, 3 * h]))  # a knows DAY0 (and DAY0 + 1)
        b.ingest_predictions("churn-v3", _at(["z", "x"], [24 * 5 * h, 24 * 5 * h + h]))  # a new day, made by b
        labels = pd.DataFrame({"prediction_id": ["z", "x", "y", "w"], "label": ["yes", "no", "yes", "no"],
                               "timestamp": pd.Series([DAY0 + timedelta(days=6)] * 4, dtype="datetime64[us, UTC]")})
        result = a.ingest_labels("churn-v3", labels)
        assert (result.updated, result.unknown_ids) == (3, ("w",))
        got = a.read_window(config.monitor("churn").to_domain(), EVERYTHING)
        labelled = got["label"].astype(object).where(got["label"].notna(), None)
        assert dict(zip(got["prediction_id"] + "@" + got["timestamp"].dt.day.astype(str), labelled, strict=True)) \
            == {f"x@{DAY0.day}": None, f"y@{DAY0.day}": "yes", f"z@{DAY0.day + 5}": "yes", f"x@{DAY0.day + 5}": "no"}
    finally:
        a.dispose()
        b.dispose()
