"""POST /v1/models/{model}/predictions: every format, typed rows, per-row errors, limits."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import httpx
import pandas as pd
import pytest

from tests.api.helpers import CSV, JSON, NDJSON, PARQUET, auth, encode, prediction_rows, values
from tests.fakes import FakeStore

pytestmark = pytest.mark.anyio

URL = "/v1/models/churn/predictions"


@pytest.mark.parametrize("content_type", [JSON, NDJSON, CSV, PARQUET, f"{JSON}; charset=utf-8"])
async def test_every_format_is_logged_with_typed_columns(client: httpx.AsyncClient, store: FakeStore,
                                                         content_type: str) -> None:
    rows = prediction_rows(3)
    body = encode(rows, content_type.split(";")[0])
    r = await client.post(URL, content=body, headers=auth(content_type=content_type))
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 3, "duplicates": 0}
    (model, frame), = store.ingest_calls
    assert model == "churn"
    assert list(frame["prediction_id"]) == ["p-0", "p-1", "p-2"]
    assert list(frame["plan"]) == ["basic", "gold", "basic"]
    assert frame["age"].tolist() == [30.5, 31.5, 32.5]
    assert str(frame["timestamp"].dtype) == "datetime64[ns, UTC]"
    assert frame["timestamp"].iloc[2] == pd.Timestamp("2025-03-01T10:00:02Z")
    # the union of both monitors' columns, each present even when the batch lacks it (label)
    assert set(frame.columns) == {"prediction_id", "timestamp", "age", "income", "plan", "region",
                                  "prediction", "score", "label"}
    assert frame["label"].isna().all()


async def test_octet_stream_is_read_when_it_is_parquet(client: httpx.AsyncClient, store: FakeStore) -> None:
    body = encode(prediction_rows(2), PARQUET)
    r = await client.post(URL, content=body, headers=auth(content_type="application/octet-stream"))
    assert r.json() == {"accepted": 2, "duplicates": 0}


async def test_octet_stream_that_is_not_parquet_is_unsupported(client: httpx.AsyncClient, store: FakeStore) -> None:
    body = encode(prediction_rows(2), CSV)
    r = await client.post(URL, content=body, headers=auth(content_type="application/octet-stream"))
    assert r.status_code == 415
    assert "Parquet" in r.json()["detail"]
    assert store.ingest_calls == []


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/xml"])
async def test_other_content_types_get_415_listing_the_accepted_ones(client: httpx.AsyncClient,
                                                                     content_type: str | None) -> None:
    headers = auth(content_type=content_type) if content_type else auth()
    r = await client.post(URL, content=b"prediction_id\n1\n", headers=headers)
    assert r.status_code == 415
    assert "text/csv" in r.json()["detail"]


async def test_values_are_converted_by_column_kind(client: httpx.AsyncClient, store: FakeStore) -> None:
    rows = [
        {"prediction_id": 17, "age": 40, "plan": 3, "region": True, "prediction": 1, "label": 0},
        {"prediction_id": "p-2", "age": None, "plan": "gold", "region": None, "prediction": "1"},
    ]
    r = await client.post(URL, json=rows, headers=auth())
    assert r.status_code == 200, r.text
    frame = store.ingest_calls[0][1]
    assert frame["prediction_id"].tolist() == ["17", "p-2"]
    assert frame["plan"].tolist() == ["3", "gold"]
    assert values(frame["region"]) == ["true", None]
    assert frame["prediction"].tolist() == ["1", "1"]
    assert values(frame["label"]) == ["0", None]
    assert frame["age"].iloc[0] == 40.0 and pd.isna(frame["age"].iloc[1])


async def test_rows_without_timestamp_get_the_time_of_receipt(client: httpx.AsyncClient, store: FakeStore) -> None:
    rows = prediction_rows(3)
    del rows[0]["timestamp"]
    rows[2]["timestamp"] = None
    before = datetime.now(UTC)
    r = await client.post(URL, json=rows, headers=auth())
    after = datetime.now(UTC)
    assert r.status_code == 200, r.text
    ts = store.ingest_calls[0][1]["timestamp"]
    assert before <= ts.iloc[0] <= after
    assert before <= ts.iloc[2] <= after
    assert ts.iloc[1] == pd.Timestamp("2025-03-01T10:00:01Z")


async def test_offsets_are_converted_to_utc(client: httpx.AsyncClient, store: FakeStore) -> None:
    rows = prediction_rows(2)
    rows[0]["timestamp"] = "2025-03-01T12:00:00+02:00"
    rows[1]["timestamp"] = "2025-03-01T10:00:00"  # no offset: UTC
    await client.post(URL, json=rows, headers=auth())
    ts = store.ingest_calls[0][1]["timestamp"].tolist()
    assert ts == [pd.Timestamp("2025-03-01T10:00:00Z")] * 2


async def test_duplicates_are_counted_not_written_twice(client: httpx.AsyncClient, store: FakeStore) -> None:
    first = await client.post(URL, json=prediction_rows(3), headers=auth())
    again = await client.post(URL, json=prediction_rows(4) + prediction_rows(1), headers=auth())
    assert first.json() == {"accepted": 3, "duplicates": 0}
    assert again.json() == {"accepted": 1, "duplicates": 4}
    assert len(store.predictions("churn")) == 4


async def test_an_empty_batch_writes_nothing_and_is_fine(client: httpx.AsyncClient, store: FakeStore) -> None:
    r = await client.post(URL, json=[], headers=auth())
    assert r.json() == {"accepted": 0, "duplicates": 0}
    assert store.ingest_calls == []


async def test_unknown_model_is_404(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/models/nope/predictions", json=prediction_rows(1), headers=auth())
    assert r.status_code == 404
    assert "nope" in r.json()["detail"]


async def test_a_store_failure_is_503_without_its_text(client: httpx.AsyncClient, store: FakeStore) -> None:
    store.fail = "connection to postgresql://driftline:hunter2@db failed"
    r = await client.post(URL, json=prediction_rows(1), headers=auth())
    assert r.status_code == 503
    assert r.json() == {"detail": "storage unavailable"}
    assert "hunter2" not in r.text


# --- refused batches ------------------------------------------------------------------------------


def _problems(r: httpx.Response) -> list[tuple[int | None, str | None]]:
    assert r.status_code == 422, r.text
    return [(d["row"], d["field"]) for d in r.json()["detail"]]


@pytest.mark.parametrize("content_type", [JSON, NDJSON, CSV, PARQUET])
async def test_unknown_column_names_row_and_field(client: httpx.AsyncClient, store: FakeStore,
                                                  content_type: str) -> None:
    rows = prediction_rows(3)
    rows[1]["colour"] = "red"
    r = await client.post(URL, content=encode(rows, content_type), headers=auth(content_type=content_type))
    assert _problems(r) == [(1, "colour")]
    body = r.json()
    assert "unknown column" in body["message"] and "row 1" in body["message"]
    assert "\n" not in body["message"]
    assert store.ingest_calls == []


@pytest.mark.parametrize("content_type", [JSON, NDJSON, CSV, PARQUET])
async def test_non_number_in_a_numerical_feature_names_row_and_field(client: httpx.AsyncClient, store: FakeStore,
                                                                     content_type: str) -> None:
    rows = prediction_rows(4, age=None)  # a text column in every format, Parquet included
    rows[2]["age"] = "forty"
    r = await client.post(URL, content=encode(rows, content_type), headers=auth(content_type=content_type))
    assert _problems(r) == [(2, "age")]
    assert "forty" in r.json()["detail"][0]["message"]
    assert store.ingest_calls == []


@pytest.mark.parametrize("bad", [True, "31", [1], {"v": 1}, 1e400])
async def test_json_numbers_must_be_numbers(client: httpx.AsyncClient, bad: object) -> None:
    rows = prediction_rows(2)
    rows[1]["income"] = bad
    body = json.dumps(rows).replace("Infinity", "1e400").encode()
    r = await client.post(URL, content=body, headers=auth(content_type=JSON))
    assert _problems(r) == [(1, "income")]


async def test_a_fractional_category_is_refused(client: httpx.AsyncClient) -> None:
    rows = prediction_rows(2)
    rows[0]["plan"] = 1.5
    r = await client.post(URL, json=rows, headers=auth())
    assert _problems(r) == [(0, "plan")]


@pytest.mark.parametrize("content_type", [JSON, NDJSON, CSV, PARQUET])
async def test_missing_prediction_id_names_row_and_field(client: httpx.AsyncClient, store: FakeStore,
                                                         content_type: str) -> None:
    rows = prediction_rows(3)
    rows[1]["prediction_id"] = None
    r = await client.post(URL, content=encode(rows, content_type), headers=auth(content_type=content_type))
    assert _problems(r) == [(1, "prediction_id")]
    assert r.json()["detail"][0]["message"] == "missing required field"
    assert store.ingest_calls == []


async def test_an_absent_required_column_is_named(client: httpx.AsyncClient) -> None:
    rows = prediction_rows(2)
    for row in rows:
        del row["prediction"]
    r = await client.post(URL, json=rows, headers=auth())
    assert _problems(r) == [(0, "prediction"), (1, "prediction")]


async def test_every_problem_is_listed_in_row_order(client: httpx.AsyncClient, store: FakeStore) -> None:
    rows = prediction_rows(5)
    rows[3]["age"] = "old"
    rows[1]["timestamp"] = "yesterday"
    rows[3]["prediction_id"] = ""
    r = await client.post(URL, json=rows, headers=auth())
    assert _problems(r) == [(1, "timestamp"), (3, "prediction_id"), (3, "age")]
    assert r.json()["message"].startswith("row 1, field 'timestamp': expected an ISO 8601 timestamp")
    assert "(and 2 more problems)" in r.json()["message"]


async def test_a_batch_with_one_bad_row_writes_nothing(client: httpx.AsyncClient, store: FakeStore) -> None:
    rows = prediction_rows(50)
    rows[49]["age"] = "x"
    r = await client.post(URL, json=rows, headers=auth())
    assert r.status_code == 422
    assert store.ingest_calls == []
    assert store.predictions("churn").empty


async def test_reported_problems_are_capped_but_counted(client: httpx.AsyncClient) -> None:
    rows = prediction_rows(250, age="x")
    r = await client.post(URL, json=rows, headers=auth())
    body = r.json()
    assert len(body["detail"]) == 100
    assert "(and 249 more problems)" in body["message"]


@pytest.mark.parametrize(("content_type", "body", "field", "row"), [
    (JSON, b"[{\"prediction_id\": ", "body", None),
    (JSON, b"{\"prediction_id\": \"a\"}", "body", None),
    (JSON, b"[{\"prediction_id\": \"a\", \"prediction\": \"x\"}, 7]", None, 1),
    (NDJSON, b"{\"prediction_id\": \"a\", \"prediction\": \"x\"}\n{oops\n", None, 1),
    (CSV, b"prediction_id,prediction\na,x\nb,y,z\n", None, 1),
    (PARQUET, b"PAR1 not really PAR1", "body", None),
    (JSON, b"   ", "body", None),
])
async def test_malformed_bodies_are_422_saying_where(client: httpx.AsyncClient, store: FakeStore, content_type: str,
                                                     body: bytes, field: str | None, row: int | None) -> None:
    r = await client.post(URL, content=body, headers=auth(content_type=content_type))
    assert _problems(r) == [(row, field)]
    assert store.ingest_calls == []


# --- size limit -----------------------------------------------------------------------------------


async def test_declared_length_over_the_limit_is_413(client: httpx.AsyncClient, store: FakeStore) -> None:
    body = json.dumps(prediction_rows(3, plan="x" * 2000) * 200).encode()
    assert len(body) > 1_000_000
    r = await client.post(URL, content=body, headers=auth(content_type=JSON))
    assert r.status_code == 413
    assert "1000000" in r.json()["detail"]
    assert store.ingest_calls == []


async def test_streamed_body_over_the_limit_is_413_and_read_no_further(client: httpx.AsyncClient,
                                                                       store: FakeStore) -> None:
    sent = 0

    async def chunks():  # no Content-Length: chunked transfer
        nonlocal sent
        for _ in range(100):
            sent += 1
            yield b" " * 100_000

    r = await client.post(URL, content=chunks(), headers=auth(content_type=JSON))
    assert r.status_code == 413
    assert sent < 100
    assert store.ingest_calls == []


async def test_understated_content_length_does_not_bypass_the_limit(client: httpx.AsyncClient) -> None:
    async def chunks():
        for _ in range(20):
            yield b" " * 100_000

    headers = auth(content_type=JSON) | {"Content-Length": "10"}
    r = await client.post(URL, content=chunks(), headers=headers)
    assert r.status_code == 413
