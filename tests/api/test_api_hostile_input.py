"""Hostile bodies: nesting, sizes, decompression bombs and invalid text are 4xx naming what is wrong.

The nesting cases once crashed the process (Arrow's JSON reader recursing 20,000 levels), so the
deepest one runs in a child process: a crash there is a failed assertion, not a dead pytest.
Invalid text runs on SQLite and PostgreSQL (``live`` of ``test_api_with_store``), where a NUL
once became a 503 and a lone surrogate a 500.
"""

# ruff: noqa: F811  (``live`` is a fixture imported from test_api_with_store)
from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor._scan import json_shape
from monitor.config import DriftlineConfig
from monitor.domain import WindowSpec
from tests.api.helpers import CSV, JSON, NDJSON, PARQUET, auth, encode, prediction_rows
from tests.api.test_api_with_store import Live, live  # noqa: F401  (fixtures, both backends)

pytestmark = pytest.mark.anyio

REPO = Path(__file__).resolve().parents[2]


def _deep(depth: int, lines: bool) -> bytes:
    row = '{"prediction_id":"x","prediction":' + "[" * depth + "]" * depth + "}"
    return (row + "\n" if lines else "[" + row + "]").encode()


# --- nesting ----------------------------------------------------------------------------------


def test_twenty_thousand_levels_do_not_kill_the_process() -> None:
    """Before the pre-scan this child died with SIGSEGV inside pyarrow's JSON reader."""
    script = f"""
import sys
from datetime import UTC, datetime
sys.path.insert(0, {str(REPO)!r})
from monitor import ingest
from monitor.config import DriftlineConfig
from monitor.errors import InputError
config = DriftlineConfig.model_validate({{"monitors": [{{"name": "m", "model": "m", "every": "1h",
                                         "schema": {{"numerical": ["x"]}}}}]}})
spec = ingest.prediction_spec(config, "m")
for fmt, body in (("json", {_deep(20_000, False)!r}), ("ndjson", {_deep(20_000, True)!r})):
    try:
        ingest.parse_batch(body, ingest.Format(fmt), spec, now=datetime.now(UTC))
    except InputError as exc:
        print(fmt, exc)
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=REPO,
                          check=False)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    out = done.stdout.splitlines()
    assert len(out) == 2 and all("20001 levels deep" in line or "20002 levels deep" in line for line in out), out
    assert all("DRIFTLINE_MAX_NESTING_DEPTH" in line for line in out)


@pytest.mark.parametrize("content_type", [JSON, NDJSON])
@pytest.mark.parametrize("depth", [40, 1000, 15_000])
async def test_deep_bodies_are_a_422_naming_the_limit(client: httpx.AsyncClient, content_type: str,
                                                      depth: int) -> None:
    r = await client.post("/v1/models/churn/predictions", content=_deep(depth, content_type == NDJSON),
                          headers=auth(content_type=content_type))
    assert r.status_code == 422, r.text
    assert "over the limit of 32 (DRIFTLINE_MAX_NESTING_DEPTH)" in r.json()["message"]
    assert r.json()["detail"][0]["field"] == "body"


async def test_brackets_and_escaped_quotes_inside_strings_do_not_count(client: httpx.AsyncClient) -> None:
    tricky = ['[' * 500, 'a\\"' + '{' * 300, '\\\\', 'x\\\\\\"' + '[' * 100]
    rows = [dict(r, plan=p) for r, p in zip(prediction_rows(4), tricky, strict=True)]
    body = json.dumps(rows).encode()
    r = await client.post("/v1/models/churn/predictions", content=body, headers=auth(content_type=JSON))
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 4


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet='ab[]{}"\\,:\n\u00e9', max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(alphabet='k[]{"\\:', max_size=3), inner,
                                                                max_size=3),
    max_leaves=30)


def _depth(value: Any) -> int:
    if isinstance(value, list):
        return 1 + max(map(_depth, value), default=0)
    if isinstance(value, dict):
        return 1 + max(map(_depth, value.values()), default=0)
    return 0


@given(value=_json_values)
def test_the_scanned_depth_is_the_parsed_depth(value: Any) -> None:
    """Oracle: the nesting depth of the Python object json.dumps serialised."""
    body = json.dumps(value, ensure_ascii=False).encode()
    assert json_shape(body, lines=False, max_depth=10_000).depth == _depth(value)
    ndjson = b"\n".join([body] * 3)
    assert json_shape(ndjson, lines=True, max_depth=10_000).depth == _depth(value)


async def test_a_close_before_any_open_is_refused(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/models/churn/predictions", content=b"]]]" + b"[" * 5000,
                          headers=auth(content_type=JSON))
    assert r.status_code == 422 and "closes nothing" in r.json()["message"]


async def test_many_distinct_keys_are_refused_before_a_frame_is_built(client: httpx.AsyncClient) -> None:
    """10,000 distinct keys in half a megabyte once cost 26 s and 2 GB in Arrow's inference."""
    rows = [{"prediction_id": f"p{i}", "prediction": "x", f"k{i}": 1} for i in range(5000)]
    r = await client.post("/v1/models/churn/predictions", json=rows, headers=auth())
    assert r.status_code == 422, r.text
    assert "5002 distinct columns" in r.json()["message"] and "DRIFTLINE_MAX_BATCH_COLUMNS" in r.json()["message"]


# --- sizes and decompression bombs ------------------------------------------------------------


def _parquet(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="zstd")
    return buf.getvalue()


async def test_a_parquet_bomb_is_a_413_before_it_is_read(client: httpx.AsyncClient) -> None:
    n = 2_000_000
    table = pa.table({"prediction_id": pa.array(np.zeros(n, dtype=np.int64)),
                      "prediction": pa.array(["stay"] * 1).take(np.zeros(n, dtype=np.int64))})
    body = _parquet(table)
    assert len(body) < 200_000  # tiny on the wire
    r = await client.post("/v1/models/churn/predictions", content=body, headers=auth(content_type=PARQUET))
    assert r.status_code == 413, r.text
    assert r.json()["detail"] == "the batch has 2000000 rows, over the limit of 1000000 (DRIFTLINE_MAX_BATCH_ROWS)"


async def test_parquet_inflating_past_the_limit_is_a_413(settings: Any, client: httpx.AsyncClient) -> None:
    n = 100_000
    table = pa.table({"prediction_id": [f"p-{i}" for i in range(n)], "prediction": ["x" * 200] * n})
    body = _parquet(table)
    assert len(body) < settings.max_body_bytes
    settings.max_decompressed_bytes = 10_000_000  # the route reads the live settings object
    r = await client.post("/v1/models/churn/predictions", content=body, headers=auth(content_type=PARQUET))
    assert r.status_code == 413, r.text
    assert "over the limit of 10000000 (DRIFTLINE_MAX_DECOMPRESSED_BYTES)" in r.json()["detail"]


@pytest.mark.parametrize("content_type", [JSON, NDJSON, CSV])
async def test_too_many_rows_is_a_413_in_every_text_format(settings: Any, client: httpx.AsyncClient,
                                                           content_type: str) -> None:
    settings.max_batch_rows = 10
    r = await client.post("/v1/models/churn/predictions", content=encode(prediction_rows(12), content_type),
                          headers=auth(content_type=content_type))
    assert r.status_code == 413, r.text
    assert "(DRIFTLINE_MAX_BATCH_ROWS)" in r.json()["detail"]
    ok = await client.post("/v1/models/churn/predictions", content=encode(prediction_rows(9), content_type),
                           headers=auth(content_type=content_type))
    assert ok.status_code == 200, ok.text


# --- malformed bodies -------------------------------------------------------------------------


async def test_a_null_body_is_not_an_empty_batch(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/models/churn/predictions", content=b"null", headers=auth(content_type=JSON))
    assert r.status_code == 422
    assert r.json()["message"] == "the body must be a JSON array of objects, not null"


async def test_an_unterminated_csv_quote_is_refused_with_its_row(client: httpx.AsyncClient) -> None:
    body = b'prediction_id,prediction,plan\np-0,stay,basic\np-1,stay,"gold\np-2,stay,basic\n'
    r = await client.post("/v1/models/churn/predictions", content=body, headers=auth(content_type=CSV))
    assert r.status_code == 422, r.text
    assert "unexpected end of data" in r.json()["message"] and r.json()["detail"][0]["row"] == 1


@pytest.mark.parametrize("content_type", [JSON, NDJSON])
async def test_a_twenty_digit_id_is_kept_exactly(live: Live, config: DriftlineConfig, content_type: str) -> None:
    ids = [12345678901234567890, 98765432109876543210987, -4611686018427387905]
    start = datetime.now(UTC) - timedelta(minutes=5)
    rows = [{"prediction_id": pid, "timestamp": (start + timedelta(seconds=i)).isoformat(), "prediction": "stay",
             "plan": pid} for i, pid in enumerate(ids)]
    r = await live.client.post("/v1/models/churn/predictions", content=encode(rows, content_type),
                               headers=auth(content_type=content_type))
    assert r.status_code == 200, r.text
    window = live.store.read_window(config.monitor("churn").to_domain(), WindowSpec(start=start - timedelta(minutes=1),
                                                                        end=datetime.now(UTC) + timedelta(minutes=1)))
    assert sorted(window["prediction_id"]) == sorted(str(i) for i in ids)
    assert sorted(window["plan"]) == sorted(str(i) for i in ids)


# --- invalid text, on both backends -----------------------------------------------------------

_BAD_TEXT = {"nul": "a\x00b", "surrogate": "a\ud800b"}


def _body(rows: list[dict[str, Any]], content_type: str) -> bytes:
    if content_type == JSON:
        return json.dumps(rows).encode()  # ensure_ascii: a lone surrogate travels as \ud800
    if content_type == NDJSON:
        return "".join(json.dumps(r) + "\n" for r in rows).encode()
    return encode(rows, content_type)


def _cases() -> list[Any]:
    cases = [pytest.param(ct, kind, id=f"{ct.split('/')[-1]}-{kind}") for ct in (JSON, NDJSON) for kind in _BAD_TEXT]
    cases += [pytest.param(CSV, "nul", id="csv-nul"), pytest.param(PARQUET, "nul", id="parquet-nul")]
    return cases


def _invalid_utf8(content_type: str) -> bytes:
    if content_type == PARQUET:
        good = pa.array([b"basic", b"go\xffld"], pa.binary())
        text = pa.Array.from_buffers(pa.string(), 2, good.buffers())  # a string column holding bad bytes
        return _parquet(pa.table({"prediction_id": ["p-0", "p-1"], "prediction": ["stay", "stay"], "plan": text}))
    if content_type == CSV:
        return b"prediction_id,prediction,plan\np-0,stay,basic\np-1,stay,go\xffld\n"
    row = b'{"prediction_id":"p-%d","prediction":"stay","plan":"%s"}'
    rows = [row % (0, b"basic"), row % (1, b"go\xffld")]
    return b"[" + b",".join(rows) + b"]" if content_type == JSON else b"\n".join(rows) + b"\n"


def _assert_names_row_1(r: httpx.Response, field: str) -> None:
    assert r.status_code == 422, r.text
    first = r.json()["detail"][0]
    assert (first["row"], first["field"]) == (1, field), r.json()


@pytest.mark.parametrize(("content_type", "kind"), _cases())
async def test_invalid_text_in_predictions_is_a_422_naming_row_and_field(live: Live, config: DriftlineConfig,
                                                                        content_type: str, kind: str) -> None:
    start = datetime.now(UTC) - timedelta(minutes=5)
    rows = prediction_rows(3)
    for i, row in enumerate(rows):
        row["timestamp"] = (start + timedelta(seconds=i)).isoformat()
    rows[1]["plan"] = _BAD_TEXT[kind]
    r = await live.client.post("/v1/models/churn/predictions", content=_body(rows, content_type),
                               headers=auth(content_type=content_type))
    _assert_names_row_1(r, "plan")
    window = live.store.read_window(config.monitor("churn").to_domain(), WindowSpec(start=start - timedelta(minutes=1),
                                                                        end=datetime.now(UTC) + timedelta(minutes=1)))
    assert len(window) == 0  # nothing was written


@pytest.mark.parametrize("content_type", [JSON, NDJSON, CSV, PARQUET])
async def test_invalid_utf8_is_a_422_naming_row_and_field(live: Live, content_type: str) -> None:
    r = await live.client.post("/v1/models/churn/predictions", content=_invalid_utf8(content_type),
                               headers=auth(content_type=content_type))
    _assert_names_row_1(r, "plan")


@pytest.mark.parametrize("kind", list(_BAD_TEXT))
async def test_invalid_text_in_labels_and_ids_is_a_422(live: Live, kind: str) -> None:
    ok = await live.client.post("/v1/models/churn/predictions", json=prediction_rows(2), headers=auth())
    assert ok.status_code == 200, ok.text
    labels = [{"prediction_id": "p-0", "label": "stay"}, {"prediction_id": "p-1", "label": _BAD_TEXT[kind]}]
    _assert_names_row_1(await live.client.post("/v1/models/churn/labels", content=_body(labels, JSON),
                                               headers=auth(content_type=JSON)), "label")
    ids = [{"prediction_id": "p-0", "label": "stay"}, {"prediction_id": _BAD_TEXT[kind], "label": "stay"}]
    _assert_names_row_1(await live.client.post("/v1/models/churn/labels", content=_body(ids, JSON),
                                               headers=auth(content_type=JSON)), "prediction_id")
    again = await live.client.post("/v1/models/churn/labels", json=labels[:1], headers=auth())
    assert again.json() == {"updated": 1, "unknown_ids": []}  # the refused batches set nothing


@pytest.mark.parametrize("kind", list(_BAD_TEXT))
async def test_invalid_text_in_a_reference_is_a_422(live: Live, kind: str) -> None:
    rows = [{k: v for k, v in r.items() if k != "region"} for r in prediction_rows(3)]
    rows[1]["plan"] = _BAD_TEXT[kind]
    r = await live.client.post("/v1/monitors/churn/reference", content=_body(rows, JSON),
                               headers=auth(content_type=JSON))
    _assert_names_row_1(r, "plan")
    assert (await live.client.get("/v1/monitors/churn/references")).json() == []


async def test_a_column_name_with_a_surrogate_is_echoed_escaped(client: httpx.AsyncClient) -> None:
    rows = [dict(r) for r in prediction_rows(1)]
    rows[0]["bad\ud800name"] = 1
    r = await client.post("/v1/models/churn/predictions", content=json.dumps(rows).encode(),
                          headers=auth(content_type=JSON))
    assert r.status_code == 422, r.text
    assert r.json()["detail"][0]["field"] == "bad\\ud800name"


# --- query parameters -------------------------------------------------------------------------


@pytest.mark.parametrize("limit", ["-18446744073709551617", "-1", "0", "1001", "ten"])
@pytest.mark.parametrize("path", ["/v1/monitors/churn/runs", "/v1/retrain-jobs", "/v1/deliveries",
                                  "/v1/alertmanager/notifications"])
async def test_every_limit_is_bounded(live: Live, path: str, limit: str) -> None:
    # The full app (alerting on): with alerting off its routes answer 404 before reading a parameter.
    r = await live.client.get(path, params={"limit": limit})
    assert r.status_code == 422, (path, limit, r.status_code, r.text)
    assert r.json()["detail"][0]["field"] == "limit"
