"""Contract tests of the prediction log: ingest, idempotency, atomicity, late labels, windows."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.config import DriftlineConfig
from monitor.domain import IngestResult, LabelResult, WindowSpec
from monitor.errors import InputError, StorageError
from monitor.storage import Store
from monitor.storage import store as store_module
from tests.storage.builders import T0, churn_frame

EVERYTHING = WindowSpec(start=T0 - timedelta(days=365), end=T0 + timedelta(days=365))

#: needs a database: the dialect's bulk writer, or raw SQL behind the store's back
DATABASE_ONLY = pytest.mark.real_backends("needs a database: the dialect's bulk writer, or raw SQL behind the store's back")


def test_ingest_reads_back_typed_values_and_utc_times(store: Store, config: DriftlineConfig) -> None:
    utc = ["2024-03-01 00:00:00.123456", "2024-03-01 00:00:01", "2024-03-01 00:00:02", "2024-03-01 00:00:03"]
    paris = pd.Series(pd.to_datetime(utc, format="ISO8601", utc=True)).dt.tz_convert("Europe/Paris")
    frame = pd.DataFrame({
        "prediction_id": ["a", "b", "c", "d"],
        "timestamp": paris,  # the same instants, written in another zone
        "age": [31.5, np.nan, -0.25, 1e300],
        "income": [1, 2, 3, 4],  # integers arrive as numbers
        "plan": ["basic", None, "", 'a "quoted", comma\nand a newline; ünïcödé €'],
        "prediction": ["yes", "no", "yes", "no"],
        "score": [0.9, 0.1, np.inf, 0.5],
    })
    assert store.ingest_predictions("churn-v3", frame) == IngestResult(accepted=4, duplicates=0)
    out = store.read_window(config.monitor("churn").to_domain(), EVERYTHING)
    assert list(out.columns) == ["prediction_id", "timestamp", "age", "income", "plan", "prediction", "score",
                                 "label", "label_ts"]
    assert out["timestamp"].dt.tz is not None and str(out["timestamp"].dt.tz) == "UTC"
    assert out["timestamp"].tolist() == [pd.Timestamp(t, tz="UTC") for t in utc]
    assert out["prediction_id"].tolist() == ["a", "b", "c", "d"]
    assert out["age"].dtype == np.float64 and out["income"].dtype == np.float64
    np.testing.assert_array_equal(out["age"], [31.5, np.nan, -0.25, 1e300])
    np.testing.assert_array_equal(out["score"], [0.9, 0.1, np.inf, 0.5])
    assert out["plan"].tolist()[0] == "basic" and pd.isna(out["plan"].iloc[1])
    assert out["plan"].tolist()[2:] == ["", 'a "quoted", comma\nand a newline; ünïcödé €']
    assert out["label"].isna().all() and out["label_ts"].isna().all()
    assert store.count_predictions("churn-v3") == 4


def test_each_monitor_reads_its_own_columns(store: Store, config: DriftlineConfig) -> None:
    store.ingest_predictions("churn-v3", churn_frame(3))
    store.ingest_predictions("churn-v3", churn_frame(1, start=3).drop(columns=["region", "income"]))
    out = store.read_window(config.monitor("churn-rows").to_domain(), EVERYTHING)
    assert list(out.columns) == ["prediction_id", "timestamp", "age", "region", "prediction", "score", "label",
                                 "label_ts"]
    assert out["region"].tolist()[:3] == ["eu", "us", "eu"]
    assert pd.isna(out["region"].iloc[3])  # a feature not sent is missing, not an error


def test_regression_predictions_and_labels_are_numbers(store: Store, config: DriftlineConfig) -> None:
    frame = pd.DataFrame({"prediction_id": ["h1", "h2"], "timestamp": pd.Series([T0, T0], dtype="datetime64[us, UTC]"),
                          "sqft": [70.0, 120.0], "price": [250_000.5, 410_000.0]})
    store.ingest_predictions("price", frame)
    labels = pd.DataFrame({"prediction_id": ["h2"], "label": [399_999.0],
                           "timestamp": pd.Series([T0 + timedelta(days=30)], dtype="datetime64[us, UTC]")})
    assert store.ingest_labels("price", labels) == LabelResult(updated=1, unknown_ids=())
    out = store.read_window(config.monitor("price").to_domain(), EVERYTHING)
    assert out["price"].tolist() == [250_000.5, 410_000.0]
    assert out["actual"].dtype == np.float64
    np.testing.assert_array_equal(out["actual"], [np.nan, 399_999.0])


def test_the_same_batch_twice_is_all_duplicates(store: Store) -> None:
    frame = churn_frame(50)
    assert store.ingest_predictions("churn-v3", frame) == IngestResult(accepted=50, duplicates=0)
    assert store.ingest_predictions("churn-v3", frame) == IngestResult(accepted=0, duplicates=50)
    assert store.count_predictions("churn-v3") == 50


def test_repeated_ids_inside_a_batch_keep_the_first_row(store: Store, config: DriftlineConfig) -> None:
    frame = churn_frame(4)
    frame.loc[2, "prediction_id"] = "p0"  # p0 again, with other values
    frame.loc[3, "prediction_id"] = "p1"
    store.ingest_predictions("churn-v3", churn_frame(1, start=1))  # p1 is already stored
    assert store.ingest_predictions("churn-v3", frame) == IngestResult(accepted=1, duplicates=3)
    out = store.read_window(config.monitor("churn").to_domain(), EVERYTHING)
    assert out["prediction_id"].tolist() == ["p0", "p1"]
    assert out["age"].tolist() == [20.0, 21.0]  # p0's first row, p1's stored row


def test_a_value_that_is_not_a_number_writes_nothing(store: Store) -> None:
    frame = churn_frame(10).astype({"age": object})
    frame.loc[7, "age"] = "forty"
    with pytest.raises(InputError, match=r"age: row 7: 'forty' is not a number") as info:
        store.ingest_predictions("churn-v3", frame)
    assert (info.value.field, info.value.row) == ("age", 7)
    assert store.count_predictions("churn-v3") == 0


@pytest.mark.parametrize("when", ["0001-06-01", "9999-06-01", "12000-01-01"])
def test_a_timestamp_outside_the_years_2_to_9998_names_its_row(store: Store, when: str) -> None:
    frame = churn_frame(5)
    stamps = frame["timestamp"].dt.tz_convert(None).to_numpy().astype("datetime64[us]")
    stamps[2] = np.datetime64(when, "us")
    frame["timestamp"] = pd.Series(stamps).dt.tz_localize("UTC")
    with pytest.raises(InputError, match="timestamp: row 2: the timestamp is outside the years 2 to 9998"):
        store.ingest_predictions("churn-v3", frame)
    assert store.count_predictions("churn-v3") == 0


@pytest.mark.parametrize(("column", "message"), [
    ("timestamp", "timestamp: row 3: the timestamp is missing"),
    ("prediction_id", "prediction_id: row 3: the prediction id is missing"),
])
def test_a_missing_key_value_names_its_row(store: Store, column: str, message: str) -> None:
    frame = churn_frame(5)
    frame[column] = frame[column].astype(object if column == "prediction_id" else frame[column].dtype)
    frame.loc[3, column] = None
    with pytest.raises(InputError, match=message):
        store.ingest_predictions("churn-v3", frame)
    assert store.count_predictions("churn-v3") == 0


def test_unknown_and_missing_columns_are_refused(store: Store) -> None:
    with pytest.raises(InputError, match="column 'colour' is not in the schema of model 'churn-v3'"):
        store.ingest_predictions("churn-v3", churn_frame(2).assign(colour="red"))
    with pytest.raises(InputError, match="column 'prediction' is missing"):
        store.ingest_predictions("churn-v3", churn_frame(2).drop(columns="prediction"))
    with pytest.raises(InputError, match="no monitor in the configuration watches model 'fraud'"):
        store.ingest_predictions("fraud", churn_frame(2))


@DATABASE_ONLY
def test_a_failure_after_the_rows_are_written_leaves_nothing(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Inject an error after the INSERT has run, inside the transaction: the rows must roll back."""
    bulk = store_module._postgres if store.engine.dialect.name == "postgresql" else store_module._sqlite
    real = bulk.insert_predictions

    def insert_then_fail(*args: Any) -> int:
        inserted = real(*args)
        assert inserted == 20
        raise RuntimeError("injected failure after the insert")

    monkeypatch.setattr(bulk, "insert_predictions", insert_then_fail)
    with pytest.raises(RuntimeError, match="injected"):
        store.ingest_predictions("churn-v3", churn_frame(20))
    monkeypatch.undo()
    assert store.count_predictions("churn-v3") == 0
    assert store.ingest_predictions("churn-v3", churn_frame(20)).accepted == 20  # and the store still works


@DATABASE_ONLY
def test_a_database_error_mid_batch_is_a_storage_error_and_writes_nothing(store: Store) -> None:
    """When the database itself refuses the batch (here: a column was dropped behind the store's
    back), the caller gets a StorageError without row values, and nothing of the batch is stored."""
    store.ingest_predictions("churn-v3", churn_frame(5))
    with store.engine.begin() as conn:
        conn.exec_driver_sql('ALTER TABLE predictions_churn_v3 DROP COLUMN "plan"')
    with pytest.raises(StorageError, match=r"ingest predictions of model 'churn-v3' failed") as info:
        store.ingest_predictions("churn-v3", churn_frame(5, start=5))
    assert "basic" not in str(info.value) and "pro" not in str(info.value)  # no row values in messages
    assert store.count_predictions("churn-v3") == 5


def test_late_labels_join_by_id_and_unknown_ids_are_reported(store: Store, config: DriftlineConfig) -> None:
    store.ingest_predictions("churn-v3", churn_frame(4))
    arrived = T0 + timedelta(days=2)
    labels = pd.DataFrame({"prediction_id": ["p2", "nope", "p0", "ghost"], "label": ["yes", "no", "no", "yes"],
                           "timestamp": pd.Series([arrived] * 4, dtype="datetime64[us, UTC]")})
    assert store.ingest_labels("churn-v3", labels) == LabelResult(updated=2, unknown_ids=("nope", "ghost"))
    out = store.read_window(config.monitor("churn").to_domain(), EVERYTHING)
    assert out["label"].tolist()[0] == "no" and out["label"].tolist()[2] == "yes"
    assert out["label"].isna().tolist() == [False, True, False, True]
    assert out["label_ts"].tolist()[0] == pd.Timestamp(arrived) and pd.isna(out["label_ts"].iloc[1])
    # A corrected label replaces the first one; a label for a label-less id is still unknown.
    fix = labels.iloc[[2]].assign(label="yes")
    assert store.ingest_labels("churn-v3", fix) == LabelResult(updated=1, unknown_ids=())
    assert store.read_window(config.monitor("churn").to_domain(), EVERYTHING)["label"].iloc[0] == "yes"


def test_a_label_sent_with_its_prediction_arrives_with_it(store: Store, config: DriftlineConfig) -> None:
    store.ingest_predictions("churn-v3", churn_frame(2).assign(label=["yes", None]))
    out = store.read_window(config.monitor("churn").to_domain(), EVERYTHING)
    assert out["label"].tolist()[0] == "yes" and pd.isna(out["label"].iloc[1])
    assert out["label_ts"].iloc[0] == out["timestamp"].iloc[0] and pd.isna(out["label_ts"].iloc[1])


def test_time_windows_are_half_open(store: Store, config: DriftlineConfig) -> None:
    store.ingest_predictions("churn-v3", churn_frame(10))  # p0 at T0, p1 at T0 + 1 min, ...
    window = WindowSpec(start=T0 + timedelta(minutes=2), end=T0 + timedelta(minutes=5))
    out = store.read_window(config.monitor("churn").to_domain(), window)
    assert out["prediction_id"].tolist() == ["p2", "p3", "p4"]  # start included, end excluded
    assert out["timestamp"].is_monotonic_increasing
    # The same bounds given in another time zone mean the same instants.
    tz = datetime.now().astimezone().tzinfo
    shifted = WindowSpec(start=window.start.astimezone(tz), end=window.end.astimezone(tz))  # type: ignore[union-attr]
    assert store.read_window(config.monitor("churn").to_domain(), shifted)["prediction_id"].tolist() == ["p2", "p3", "p4"]


def test_a_window_decoded_in_parts_equals_the_window_decoded_whole(postgres_url: str, config: DriftlineConfig,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """PostgreSQL decodes a COPY in parts while the rest arrives (SQLite has no COPY); parts of 7
    rows (and a last part holding only the trailer) give exactly the rows one part gives, in order."""
    from monitor.storage import _postgres
    from tests.conftest import postgres_schema

    frame = churn_frame(70)
    frame.loc[frame.index % 5 == 0, "plan"] = None  # NULLs, and values of two sizes, across parts
    frame.loc[frame.index % 7 == 0, "age"] = np.nan
    with postgres_schema(postgres_url, "parts") as url:
        store = Store.from_url(url, config)
        try:
            store.upgrade()
            store.ingest_predictions("churn-v3", frame.iloc[::-1])
            monitor = config.monitor("churn").to_domain()
            whole = store.read_window(monitor, EVERYTHING)
            for part in (7, 10, 69, 70):
                monkeypatch.setattr(_postgres, "_PART_ROWS", part)
                pd.testing.assert_frame_equal(store.read_window(monitor, EVERYTHING), whole)
        finally:
            store.dispose()
    assert whole["prediction_id"].tolist() == [f"p{i}" for i in range(70)]
    assert whole["plan"].isna().sum() == 14 and whole["age"].isna().sum() == 10


def test_row_windows_take_the_last_rows_before_the_end(store: Store, config: DriftlineConfig) -> None:
    frame = churn_frame(10)
    store.ingest_predictions("churn-v3", frame.iloc[::-1])  # arrival order does not matter
    out = store.read_window(config.monitor("churn-rows").to_domain(), WindowSpec(end=T0 + timedelta(minutes=8), rows=5))
    assert out["prediction_id"].tolist() == ["p3", "p4", "p5", "p6", "p7"]
    assert out["timestamp"].is_monotonic_increasing
    few = store.read_window(config.monitor("churn-rows").to_domain(), WindowSpec(end=T0 + timedelta(minutes=2), rows=5))
    assert few["prediction_id"].tolist() == ["p0", "p1"]


def test_an_empty_window_has_the_columns_and_types(store: Store, config: DriftlineConfig) -> None:
    out = store.read_window(config.monitor("churn").to_domain(), EVERYTHING)
    assert len(out) == 0
    assert list(out.columns)[:3] == ["prediction_id", "timestamp", "age"]
    assert out["age"].dtype == np.float64 and str(out["timestamp"].dtype) == "datetime64[us, UTC]"


def test_a_window_needs_aware_times(store: Store, config: DriftlineConfig) -> None:
    with pytest.raises(ValueError, match="has no time zone"):
        store.read_window(config.monitor("churn").to_domain(), WindowSpec(end=datetime(2024, 1, 1)))


_TEXT = st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12)


@settings(max_examples=25, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(st.one_of(st.none(), _TEXT),
                               st.floats(allow_nan=True, allow_infinity=True),
                               st.integers(0, 10**9)), min_size=1, max_size=30))
def test_any_text_number_and_time_round_trips(store: Store, config: DriftlineConfig,
                                             rows: list[tuple[str | None, float, int]]) -> None:
    start = store.count_predictions("churn-v3")
    ids = [f"h{start + i}" for i in range(len(rows))]
    times = pd.Series([T0 + timedelta(microseconds=us) for _, _, us in rows], dtype="datetime64[us, UTC]")
    frame = pd.DataFrame({"prediction_id": ids, "timestamp": times, "age": [x for _, x, _ in rows], "income": 0.0,
                          "plan": pd.Series([t for t, _, _ in rows], dtype=object), "prediction": "yes", "score": 0.5})
    store.ingest_predictions("churn-v3", frame)
    out = store.read_window(config.monitor("churn").to_domain(), EVERYTHING).set_index("prediction_id").loc[ids]
    np.testing.assert_array_equal(out["age"].to_numpy(), frame["age"].to_numpy())
    assert [None if pd.isna(v) else v for v in out["plan"]] == [t for t, _, _ in rows]
    assert out["timestamp"].tolist() == times.tolist()


def test_text_columns_backed_by_chunked_arrow_arrays_are_written(store: Store, config: DriftlineConfig) -> None:
    # The ingest API's readers give pandas columns over multi-chunk Arrow arrays; the PostgreSQL
    # COPY encoder once read their buffers directly and failed with a 500 on real batches.
    import pyarrow as pa

    frame = churn_frame(6)
    for column in ("prediction_id", "plan", "prediction"):
        values = frame[column].astype(str).tolist()
        chunked = pa.chunked_array([values[:2], values[2:5], values[5:]])
        frame[column] = pd.Series(pd.arrays.ArrowExtensionArray(chunked))
    assert store.ingest_predictions("churn-v3", frame) == IngestResult(accepted=6, duplicates=0)
    back = store.read_window(config.monitor("churn").to_domain(), WindowSpec(start=T0 - timedelta(days=1),
                                                                        end=T0 + timedelta(days=1)))
    assert sorted(back["prediction_id"]) == sorted(churn_frame(6)["prediction_id"])
    assert sorted(back["plan"]) == sorted(churn_frame(6)["plan"])


# -- retention ------------------------------------------------------------------------------------


def test_retention_deletes_only_older_predictions_in_batches(store: Store, config: DriftlineConfig) -> None:
    store.ingest_predictions("churn-v3", churn_frame(25))  # one a minute from T0
    counted = hasattr(store, "ingested_counts")  # the fake keeps no counters
    before = store.ingested_counts()["churn-v3"] if counted else None
    deleted = store.delete_predictions_before("churn-v3", T0 + timedelta(minutes=12), batch=5)
    assert deleted == 12  # 0..11, over three batches and a short one
    out = store.read_window(config.monitor("churn").to_domain(), EVERYTHING)
    assert list(out["prediction_id"]) == [f"p{k}" for k in range(12, 25)]
    assert store.delete_predictions_before("churn-v3", T0 + timedelta(minutes=12)) == 0
    if counted:
        assert store.ingested_counts()["churn-v3"] == before  # a total ever accepted: retention does not lower it
    # A deleted id may be sent again and is new again (the log no longer holds it).
    assert store.ingest_predictions("churn-v3", churn_frame(1)).accepted == 1
