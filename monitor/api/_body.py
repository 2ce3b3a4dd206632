"""Reading a batch body: its format from the Content-Type, its bytes within the size limit, and
parsing it off the event loop within the batch limits of the settings."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, Final

import anyio.to_thread
import pandas as pd
from fastapi import Request
from starlette.requests import ClientDisconnect

from monitor.api.errors import PayloadTooLarge, UnsupportedMediaType
from monitor.config import Settings
from monitor.errors import InputError
from monitor.ingest import (
    BatchSpec,
    Format,
    Limits,
    looks_like_parquet,
    parse_batch,
)

__all__ = ["LABELS_BODY", "PREDICTIONS_BODY", "REFERENCE_BODY", "batch_body", "batch_format", "batch_limits",
           "check_media_type", "media_type", "parse_body", "read_batch", "read_body"]


_MEDIA_TYPES = {
    "application/json": Format.JSON,
    "application/x-ndjson": Format.NDJSON,
    "application/ndjson": Format.NDJSON,
    "application/jsonl": Format.NDJSON,
    "text/csv": Format.CSV,
    "application/vnd.apache.parquet": Format.PARQUET,
    "application/x-parquet": Format.PARQUET,
}
_OCTET_STREAM = "application/octet-stream"
_ACCEPTED = ", ".join([*_MEDIA_TYPES, f"{_OCTET_STREAM} (Parquet only)"])


def media_type(content_type: str | None) -> str:
    """The media type of a Content-Type header, lower case and without parameters."""
    return (content_type or "").split(";", 1)[0].strip().lower()


def check_media_type(content_type: str | None) -> str:
    """Refuse (415) a Content-Type no batch endpoint reads, before the body is read."""
    kind = media_type(content_type)
    if kind not in _MEDIA_TYPES and kind != _OCTET_STREAM:
        shown = f"Content-Type {kind!r}" if kind else "a missing Content-Type"
        raise UnsupportedMediaType(f"cannot read {shown}; send one of: {_ACCEPTED}")
    return kind


def batch_format(content_type: str | None, body: bytes) -> Format:
    """The format of a body; ``application/octet-stream`` is taken only when it is Parquet."""
    kind = check_media_type(content_type)
    if kind == _OCTET_STREAM:
        if not looks_like_parquet(body):
            raise UnsupportedMediaType("an application/octet-stream body must be a Parquet file "
                                       "(it does not start and end with PAR1)")
        return Format.PARQUET
    return _MEDIA_TYPES[kind]


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, refused (413) as soon as it is known to exceed ``limit`` bytes.

    A declared Content-Length over the limit is refused before reading; otherwise the body is
    read in chunks and reading stops at the first byte over the limit, whatever was declared.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        if not declared.strip().isdigit():
            raise InputError(f"Content-Length {declared[:20]!r} is not a number of bytes", field="Content-Length")
        if int(declared) > limit:
            raise PayloadTooLarge(limit)
    encoding = media_type(request.headers.get("content-encoding")) or "identity"
    if encoding != "identity":
        raise UnsupportedMediaType(f"Content-Encoding {encoding!r} is not supported; send the body uncompressed")
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(limit)
            chunks.append(chunk)
    except ClientDisconnect:
        raise InputError("the client went away before the body was complete", field="body") from None
    return b"".join(chunks)


async def read_batch(request: Request, limit: int) -> tuple[bytes, Format]:
    """A batch body and its format: the Content-Type is checked before the body is read."""
    check_media_type(request.headers.get("content-type"))
    body = await read_body(request, limit)
    return body, batch_format(request.headers.get("content-type"), body)


def batch_limits(settings: Settings) -> Limits:
    """The batch limits of the deployment (``DRIFTLINE_MAX_NESTING_DEPTH`` ...)."""
    return Limits(max_depth=settings.max_nesting_depth, max_rows=settings.max_batch_rows,
                  max_values=settings.max_batch_values, max_columns=settings.max_batch_columns,
                  max_decompressed_bytes=settings.max_decompressed_bytes)


async def parse_body(body: bytes, fmt: Format, spec: BatchSpec, settings: Settings) -> pd.DataFrame:
    """Parse and validate a batch in a worker thread: 422 for bad rows, 413 over a size limit."""
    now, limits = datetime.now(UTC), batch_limits(settings)
    return await anyio.to_thread.run_sync(lambda: parse_batch(body, fmt, spec, now=now, limits=limits))


def _csv_cell(value: Any) -> str:
    text = "" if value is None else str(value)
    return f'"{text.replace(chr(34), chr(34) * 2)}"' if any(c in text for c in ',"\n') else text


def batch_body(rows: list[dict[str, Any]], summary: str) -> dict[str, Any]:
    """The OpenAPI request body of a batch endpoint (they read raw bytes), with ``rows`` as its
    example in each text encoding: a JSON array, NDJSON (one object a line) and CSV with a header.

    The three examples are built from the same rows, so they always say the same thing.
    """
    columns = list(dict.fromkeys(key for row in rows for key in row))
    ndjson = "".join(json.dumps(row) + "\n" for row in rows)
    csv = "\n".join([",".join(columns), *(",".join(_csv_cell(r.get(c)) for c in columns) for r in rows)]) + "\n"
    return {
        "requestBody": {
            "required": True,
            "description": "Rows as a JSON array of objects, NDJSON, CSV with a header, or Parquet "
                           "(application/octet-stream is accepted when the body is a Parquet file).",
            "content": {
                "application/json": {"schema": {"type": "array", "items": {"type": "object"}},
                                     "examples": {"rows": {"summary": summary, "value": rows}}},
                "application/x-ndjson": {"schema": {"type": "string"},
                                         "examples": {"rows": {"summary": summary, "value": ndjson}}},
                "text/csv": {"schema": {"type": "string"},
                             "examples": {"rows": {"summary": summary, "value": csv}}},
                "application/vnd.apache.parquet": {"schema": {"type": "string", "format": "binary"}},
                "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    }


#: The request bodies of the batch endpoints, for the OpenAPI document, with an example each
#: (the churn model of docs/api.md: features age, income, plan, region; a classification).
PREDICTIONS_BODY: Final[dict[str, Any]] = batch_body([
    {"prediction_id": "p-1", "timestamp": "2026-11-22T17:00:00Z", "age": 31, "income": 4200.5, "plan": "gold",
     "region": "eu", "prediction": "stay", "score": 0.12},
    {"prediction_id": "p-2", "timestamp": "2026-11-22T17:00:05Z", "age": 58, "income": None, "plan": "basic",
     "region": "us", "prediction": "churn", "score": 0.81},
], "Two predictions of a churn model (income missing in the second)")
LABELS_BODY: Final[dict[str, Any]] = batch_body([
    {"prediction_id": "p-1", "label": "stay", "timestamp": "2026-11-29T09:00:00Z"},
    {"prediction_id": "p-2", "label": "churn", "timestamp": "2026-11-29T09:00:00Z"},
], "Labels of two logged predictions")
REFERENCE_BODY: Final[dict[str, Any]] = batch_body([
    {"age": 31, "income": 4200.5, "plan": "gold", "region": "eu", "prediction": "stay", "label": "stay"},
    {"age": 45, "income": 3100.0, "plan": "basic", "region": "us", "prediction": "churn", "label": "stay"},
    {"age": 27, "income": 5150.0, "plan": "gold", "region": "eu", "prediction": "stay", "label": "churn"},
], "Reference rows: features, prediction and target (a real reference has hundreds of rows)")
