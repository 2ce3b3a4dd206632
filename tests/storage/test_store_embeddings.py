"""Embedding columns in the prediction log: float32 bytes in BYTEA / BLOB, decoded back per window."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
import sqlalchemy as sa

from monitor.config import DriftlineConfig
from monitor.domain import WindowSpec
from monitor.errors import ConfigError, InputError
from monitor.storage import Store
from monitor.storage._frames import prepare_predictions, vector_cells
from monitor.storage._group_commit import merge_batches
from monitor.storage.layout import build_layouts
from tests.storage.builders import T0, config_of
from tests.storage.conftest import StoreUnderTest

pytestmark = pytest.mark.real_backends("bytea/BLOB columns, the TEXT-to-binary conversion and raw SQL")

DIM = 8
SEARCH = {"name": "search", "model": "search", "window": {"rows": 3}, "schema": {"embedding": {"vec": DIM}}}


def _frame(vectors: list[object], start: int = 0) -> pd.DataFrame:
    n = len(vectors)
    return pd.DataFrame({"prediction_id": [f"p{start + i}" for i in range(n)],
                         "timestamp": pd.Series([T0 + timedelta(minutes=start + i) for i in range(n)]),
                         "prediction": ["x"] * n, "vec": pd.Series(vectors, dtype=object)})


@pytest.fixture
def config() -> DriftlineConfig:
    return config_of(SEARCH)


def _read(store: StoreUnderTest, config: DriftlineConfig, **window: object) -> pd.DataFrame:
    spec = WindowSpec(end=T0 + timedelta(days=1), **window)  # type: ignore[arg-type]
    return store.read_window(config.monitor("search").to_domain(), spec)


def test_vectors_round_trip_at_float32_with_missing_ones(store: StoreUnderTest, config: DriftlineConfig) -> None:
    rng = np.random.default_rng(1)
    vectors = rng.normal(size=(6, DIM)) * 1e3
    cells: list[object] = list(vectors)
    cells[2] = None
    cells[4] = vectors[4].tolist()  # a list is as good as an array
    assert store.ingest_predictions("search", _frame(cells)).accepted == 6
    window = _read(store, config, start=T0)
    assert window["vec"].iloc[2] is None
    got = np.stack([window["vec"].iloc[i] for i in (0, 1, 3, 4, 5)])
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, vectors[[0, 1, 3, 4, 5]].astype(np.float32))
    # the last N rows (PostgreSQL reads them newest first and reverses): still each row's own vector
    last = _read(store, config, rows=3)
    assert last["prediction_id"].tolist() == ["p3", "p4", "p5"]
    np.testing.assert_array_equal(last["vec"].iloc[2], vectors[5].astype(np.float32))


def test_each_vector_takes_four_bytes_a_value(store: Store, config: DriftlineConfig) -> None:
    store.ingest_predictions("search", _frame([np.arange(DIM, dtype=np.float64)]))
    with store.engine.connect() as conn:
        raw = conn.execute(sa.text("SELECT vec FROM predictions_search")).scalar_one()
    assert bytes(raw) == np.arange(DIM, dtype="<f4").tobytes()


@pytest.mark.parametrize("bad", [np.ones(DIM - 1), [1.0] * (DIM + 1), [np.inf] * DIM, [1e39] * DIM, "[1, 2]"])
def test_a_frame_with_a_bad_vector_is_refused_and_writes_nothing(store: StoreUnderTest, bad: object) -> None:
    cells: list[object] = [np.ones(DIM), bad, np.ones(DIM)]
    with pytest.raises(InputError) as err:
        store.ingest_predictions("search", _frame(cells))
    assert err.value.field == "vec" and err.value.row == 1
    assert store.count_predictions("search") == 0


def test_an_empty_text_column_of_an_older_layout_becomes_binary(make_store: Callable[[DriftlineConfig], Store],
                                                                config: DriftlineConfig) -> None:
    store = make_store(config)
    with store.engine.begin() as conn:  # the table as a release before binary embeddings made it
        conn.execute(sa.text("CREATE TABLE predictions_search (prediction_id TEXT PRIMARY KEY, ts TIMESTAMP "
                             "NOT NULL, prediction TEXT, score DOUBLE PRECISION, label TEXT, label_ts TIMESTAMP, "
                             "vec TEXT)"))
    store.upgrade()
    with store.engine.connect() as conn:
        kind = {c["name"]: c["type"] for c in sa.inspect(conn).get_columns("predictions_search")}["vec"]
    assert isinstance(kind, sa.LargeBinary)


def test_a_text_column_holding_values_is_not_converted(make_store: Callable[[DriftlineConfig], Store],
                                                       config: DriftlineConfig) -> None:
    store = make_store(config)
    with store.engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE predictions_search (prediction_id TEXT PRIMARY KEY, ts TIMESTAMP "
                             "NOT NULL, prediction TEXT, score DOUBLE PRECISION, label TEXT, label_ts TIMESTAMP, "
                             "vec TEXT)"))
        conn.execute(sa.text("INSERT INTO predictions_search (prediction_id, ts, vec) VALUES "
                             "('a', '2024-01-01 00:00:00', '[1, 2]')"))
    with pytest.raises(ConfigError, match="vec"):
        store.upgrade()


def test_group_commit_merges_batches_with_and_without_vectors() -> None:
    layout = build_layouts(config_of(SEARCH).to_domain(), sa.MetaData())["search"]
    with_vectors = prepare_predictions(layout, _frame([np.full(DIM, 1.5), None]))
    without = prepare_predictions(layout, _frame([None]).drop(columns="vec").assign(prediction_id=["q"]))
    merged, owner = merge_batches([with_vectors, without])
    assert owner.tolist() == [0, 0, 1]
    cells = vector_cells(merged.binaries["vec"])
    np.testing.assert_array_equal(cells.iloc[0], np.full(DIM, 1.5, dtype=np.float32))
    assert cells.iloc[1] is None and cells.iloc[2] is None


def test_stored_vectors_of_different_lengths_are_an_error_not_a_garbled_matrix() -> None:
    arr = pa.array([np.ones(2, "<f4").tobytes(), np.ones(3, "<f4").tobytes()], type=pa.large_binary())
    with pytest.raises(InputError, match="different"):
        vector_cells(arr)
