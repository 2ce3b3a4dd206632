"""Embedding columns through the ingest API and the real Store (SQLite and PostgreSQL).

A batch's vectors are stored as float32 bytes and read back as float32 vectors; a bad vector is a
422 naming its row and field and writes nothing; a monitor fed through the API flags a shifted
embedding and not an unshifted one.
"""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa

from monitor.config import DriftlineConfig
from monitor.domain import WindowSpec
from monitor.storage import Store
from tests.api.helpers import CSV, JSON, NDJSON, PARQUET, auth, served

pytestmark = pytest.mark.anyio

DIM = 384  # the realistic batch: 100 rows of a 384-dimensional sentence embedding
SMALL = 16


@pytest.fixture
def config() -> DriftlineConfig:
    """``search``: one 384-dim embedding; ``calm`` and ``moved``: 16 dims, one model each."""
    def monitor(name: str, dim: int) -> dict[str, Any]:
        return {"name": name, "model": name, "every": "15m", "window": {"last": "1h"},
                "schema": {"numerical": ["latency"], "embedding": {"vec": dim}}}
    return DriftlineConfig.model_validate({"monitors": [monitor("search", DIM), monitor("calm", SMALL),
                                                        monitor("moved", SMALL)]})


@dataclass(frozen=True)
class Live:
    client: httpx.AsyncClient
    store: Store
    config: DriftlineConfig


@pytest.fixture
async def live(database_url: str, config: DriftlineConfig) -> AsyncIterator[Live]:
    async with served(database_url, config) as (c, app):
        yield Live(client=c, store=app.state.store, config=config)


def _rows(vectors: np.ndarray, start: datetime, prefix: str = "p") -> list[dict[str, Any]]:
    return [{"prediction_id": f"{prefix}-{i}", "timestamp": (start + timedelta(seconds=i)).isoformat(),
             "latency": float(i), "prediction": "hit", "vec": v.tolist()} for i, v in enumerate(vectors)]


def _window(live: Live, monitor: str, start: datetime) -> Any:
    return live.store.read_window(live.config.monitor(monitor).to_domain(),
                                  WindowSpec(end=datetime.now(UTC) + timedelta(minutes=1), start=start))


def _problems(r: httpx.Response) -> list[tuple[int | None, str | None]]:
    assert r.status_code == 422, r.text
    return [(d["row"], d["field"]) for d in r.json()["detail"]]


def _body(rows: list[dict[str, Any]], content_type: str) -> bytes:
    if content_type == JSON:
        return json.dumps(rows).encode()
    if content_type == NDJSON:
        return "".join(json.dumps(r) + "\n" for r in rows).encode()
    frame = pd.DataFrame(rows)  # CSV: the vector as the text of a JSON array
    frame["vec"] = [json.dumps(v) if isinstance(v, list) else None for v in frame["vec"]]
    return frame.to_csv(index=False).encode()


@pytest.mark.parametrize("content_type", [JSON, NDJSON, CSV])
async def test_a_batch_of_vectors_round_trips_to_float32(live: Live, content_type: str) -> None:
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(100, DIM)) * 10.0 ** rng.integers(-3, 3, size=(100, 1))
    start = datetime.now(UTC) - timedelta(minutes=10)
    rows = _rows(vectors, start)
    rows[7]["vec"] = None  # missing
    del rows[8]["vec"]  # absent: missing too
    body = _body(rows, content_type)
    r = await live.client.post("/v1/models/search/predictions", content=body, headers=auth(content_type=content_type))
    assert r.json() == {"accepted": 100, "duplicates": 0}, r.text

    window = _window(live, "search", start - timedelta(minutes=1)).set_index("prediction_id")
    assert len(window) == 100
    for i in (7, 8):
        assert window.loc[f"p-{i}", "vec"] is None
    kept = [i for i in range(100) if i not in (7, 8)]
    got = np.stack([window.loc[f"p-{i}", "vec"] for i in kept])
    assert got.dtype == np.float32 and got.shape == (98, DIM)
    np.testing.assert_array_equal(got, vectors[kept].astype(np.float32))  # exactly float32 of what was sent
    assert window.loc["p-5", "latency"] == 5.0

    # Stored compactly: one vector is dim float32 values, 4 bytes each.
    table = sa.table("predictions_search", sa.column("vec"))
    with live.store.engine.connect() as conn:
        sizes = {conn.scalar(sa.select(sa.func.length(table.c.vec)).where(sa.column("prediction_id") == p))
                 for p in ("p-0", "p-50")}
    assert sizes == {DIM * 4}


async def test_a_parquet_list_column_is_ingested(live: Live) -> None:
    rng = np.random.default_rng(5)
    vectors = rng.normal(size=(20, DIM)).astype(np.float32)
    start = datetime.now(UTC) - timedelta(minutes=5)
    cells: list[Any] = list(vectors)
    cells[3] = None
    for typ in (pa.list_(pa.float32()), pa.list_(pa.float32(), DIM)):
        prefix = "fixed" if pa.types.is_fixed_size_list(typ) else "list"
        table = pa.table({"prediction_id": [f"{prefix}-{i}" for i in range(20)],
                          "timestamp": pa.array([start + timedelta(seconds=i) for i in range(20)],
                                                type=pa.timestamp("us", "UTC")),
                          "prediction": ["hit"] * 20, "vec": pa.array(cells, type=typ)})
        buf = io.BytesIO()
        pq.write_table(table, buf)
        r = await live.client.post("/v1/models/search/predictions", content=buf.getvalue(),
                                   headers=auth(content_type=PARQUET))
        assert r.json() == {"accepted": 20, "duplicates": 0}, (typ, r.text)
    window = _window(live, "search", start - timedelta(minutes=1)).set_index("prediction_id")
    for prefix in ("list", "fixed"):
        assert window.loc[f"{prefix}-3", "vec"] is None
        np.testing.assert_array_equal(window.loc[f"{prefix}-4", "vec"], vectors[4])
        np.testing.assert_array_equal(window.loc[f"{prefix}-19", "vec"], vectors[19])


@pytest.mark.parametrize(("bad", "words"), [
    ([0.5] * (SMALL - 1), f"got {SMALL - 1} values"),
    ([0.5] * (SMALL + 1), f"got {SMALL + 1} values"),
    ([0.5] * (SMALL - 1) + ["0.5"], "element 15 is '0.5', not a number"),
    ([True] + [0.5] * (SMALL - 1), "element 0 is True, not a number"),
    ([[0.5]] + [0.5] * (SMALL - 1), "element 0 is [0.5], not a number"),
    ([0.5, None] + [0.5] * (SMALL - 2), "element 1 is null or NaN"),
    ([1e39] + [0.5] * (SMALL - 1), "beyond the 32-bit float range"),
    ("[0.5, 0.5]", "got '[0.5, 0.5]'"),
    (0.5, "got 0.5"),
    ({"x": 1}, "got {'x': 1}"),
])
async def test_a_bad_vector_is_422_naming_row_and_field_and_nothing_is_written(live: Live, bad: Any,
                                                                               words: str) -> None:
    start = datetime.now(UTC) - timedelta(minutes=5)
    rows = _rows(np.ones((30, SMALL)), start)
    rows[21]["vec"] = bad
    r = await live.client.post("/v1/models/calm/predictions", json=rows, headers=auth())
    assert _problems(r) == [(21, "vec")]
    assert words in r.json()["detail"][0]["message"], r.text
    assert live.store.count_predictions("calm") == 0


async def test_infinity_and_nan_inside_a_vector_are_refused(live: Live) -> None:
    start = datetime.now(UTC) - timedelta(minutes=5)
    rows = _rows(np.ones((3, SMALL)), start)
    # Python's json module writes (and reads) NaN and Infinity, which JSON itself does not have.
    rows[1]["vec"][4] = float("inf")
    rows[2]["vec"][0] = float("nan")
    r = await live.client.post("/v1/models/calm/predictions", content=json.dumps(rows).encode(),
                               headers=auth(content_type=JSON))
    assert _problems(r) == [(1, "vec"), (2, "vec")]
    vectors = np.ones((3, SMALL), dtype=np.float64)
    vectors[0, 2] = np.nan
    table = pa.table({"prediction_id": ["a", "b", "c"], "prediction": ["hit"] * 3,
                      "vec": pa.array(list(vectors), type=pa.list_(pa.float64()))})
    buf = io.BytesIO()
    pq.write_table(table, buf)
    r = await live.client.post("/v1/models/calm/predictions", content=buf.getvalue(), headers=auth(content_type=PARQUET))
    assert _problems(r) == [(0, "vec")]
    assert live.store.count_predictions("calm") == 0


def _embeddings(rng: np.random.Generator, n: int, shift: float = 0.0) -> np.ndarray:
    """Vectors near a 3-dimensional subspace of 16 dimensions; ``shift`` moves the first latent factor."""
    mixing = np.random.default_rng(99).normal(size=(3, SMALL))  # the same subspace in every call
    latent = rng.normal(size=(n, 3))
    latent[:, 0] += shift
    out: np.ndarray = latent @ mixing + 0.1 * rng.normal(size=(n, SMALL))
    return out


async def test_a_monitor_fed_through_the_api_flags_a_shifted_embedding_only(live: Live) -> None:
    rng = np.random.default_rng(2026)
    reference = [{k: v for k, v in row.items() if k not in ("prediction_id", "timestamp")}
                 for row in _rows(_embeddings(rng, 400), datetime(2025, 1, 1, tzinfo=UTC))]
    for monitor in ("calm", "moved"):
        r = await live.client.post(f"/v1/monitors/{monitor}/reference", json=reference, headers=auth())
        assert r.status_code == 201, r.text
    start = datetime.now(UTC) - timedelta(minutes=20)
    batches = {"calm": _embeddings(rng, 300), "moved": _embeddings(rng, 300, shift=1.0)}
    verdicts = {}
    for monitor, vectors in batches.items():
        r = await live.client.post(f"/v1/models/{monitor}/predictions", json=_rows(vectors, start), headers=auth())
        assert r.json() == {"accepted": 300, "duplicates": 0}, r.text
        run = await live.client.post(f"/v1/monitors/{monitor}/runs", headers=auth())
        assert run.status_code == 201, run.text
        detail = (await live.client.get(run.headers["Location"])).json()
        assert detail["rows"] == 300
        vec = next(f for f in detail["features"] if f["column"] == "vec")
        assert vec["method"] == "embedding_mmd", vec
        verdicts[monitor] = (vec["drifted"], vec["p_value"])
    assert verdicts["calm"][0] is False and verdicts["calm"][1] > 0.05, verdicts
    assert verdicts["moved"][0] is True and verdicts["moved"][1] < 0.01, verdicts
