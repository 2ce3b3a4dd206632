"""A fast path for small JSON and NDJSON batches: the standard library's parser and a loop over the
values, instead of Arrow's reader and pandas' column-by-column validation.

Why: a 10-row request spent 10-30 ms of CPU in :func:`monitor.ingest.parse_batch`, nearly all of
it pandas' fixed cost per call (Series built, checked and converted column by column), which caps
``driftline serve`` at tens of requests per second on 2 cores. For a few hundred values a Python
loop is a fraction of a millisecond.

The fast path only ever *accepts*: it takes a batch when every value is one it can convert
exactly as :mod:`monitor.ingest`'s data policy does (a scalar of the column's kind, an ISO 8601
timestamp of the plain ``YYYY-MM-DDTHH:MM:SS[.ffffff][Z|±HH:MM]`` form, no NaN or infinity, no
integer beyond 2**53, no NUL or lone surrogate, no unknown or repeated key, every required value
present) and returns the same frame. Anything else (a bad value, a nested value, a column kind
it does not know, more than :data:`MAX_ROWS` rows, invalid JSON) makes it return ``None`` and the
caller runs the general path, so every error message comes from that one implementation and a
refused batch is refused exactly as before. The size and nesting limits of :mod:`monitor._scan`
are checked first, as on the general path, before any parser runs.

Pure: no I/O, clock or logging.
"""

from __future__ import annotations

import json
import math
import re
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pyarrow as pa

from monitor._scan import Limits, check_rows, json_shape

if TYPE_CHECKING:
    from monitor.ingest import BatchSpec, Column

__all__ = ["MAX_BYTES", "MAX_ROWS", "fast_batch"]

#: Batches with more rows than this take the general path (vectorised, faster per row when large).
MAX_ROWS = 1_000
#: Bodies larger than this take the general path without being measured twice.
MAX_BYTES = 1 << 20

#: The column kinds handled here (``monitor.ingest.Kind`` values); a spec with any other falls back.
_KINDS = frozenset({"id", "timestamp", "number", "category"})
_EXACT_INT = 2**53
#: A NUL or a lone surrogate (``monitor.ingest._BAD_TEXT``): the general path refuses it.
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
#: The one timestamp form taken here; every other form ISO 8601 allows goes to the general path.
_ISO = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?"
                  r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])?")
#: Raised by a converter for a value the fast path does not take: the general path decides. A
#: built-in class (every class of the packages is in the DriftlineError tree), caught at once.
_Fallback = ValueError
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICRO = timedelta(microseconds=1)
#: pandas' ``str`` dtype, as the general path's text columns have it; Arrow-backed, so a column is
#: built from one Arrow array (pd.array(..., dtype="str") costs ten times as much on 10 values).
_STR = pd.array([], dtype="str").dtype
_UTC_NS = pd.DatetimeTZDtype("ns", "UTC")


def _str_array(texts: list[str | None]) -> Any:
    if getattr(_STR, "storage", None) == "pyarrow":
        return pd.arrays.ArrowStringArray(pa.array(texts, type=pa.large_string()), dtype=_STR)  # type: ignore[call-arg]  # pandas 3 takes the NaN-missing "str" dtype; the stubs predate it
    return pd.array(texts, dtype=_STR)  # pragma: no cover -- pandas without pyarrow strings


def _records(text: str, lines: bool) -> list[Any] | None:
    try:
        if not lines:
            data = json.loads(text)
            return data if isinstance(data, list) else None
        if "\r" in text.replace("\r\n", "\n"):  # a lone CR: line splitting could differ from Arrow's
            return None
        return [json.loads(line) for line in text.split("\n") if line.strip()]
    except ValueError:  # JSONDecodeError, and RecursionError cannot happen below the depth checked
        return None


def _number(v: Any) -> float:
    t = type(v)
    if t is float:
        if not math.isfinite(v):
            raise _Fallback(v)
        return float(v)
    if t is int and -_EXACT_INT < v < _EXACT_INT:
        return float(v)
    raise _Fallback(v)


def _text(v: Any, *, allow_bool: bool, scan: bool) -> str:
    t = type(v)
    if t is str:
        if scan and _BAD_TEXT.search(v):
            raise _Fallback(v)
        return str(v)
    if t is int and -_EXACT_INT < v < _EXACT_INT:
        return str(v)
    if t is bool and allow_bool:
        return "true" if v else "false"
    if t is float and v.is_integer() and abs(v) < _EXACT_INT:
        return str(int(v))
    raise _Fallback(v)


def _micros(v: Any) -> int:
    if type(v) is not str or _ISO.fullmatch(v) is None:
        raise _Fallback(v)
    try:
        at = datetime.fromisoformat(v)
    except ValueError:
        raise _Fallback(v) from None
    if at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    if not 1679 <= at.year <= 2260:  # clear of the 1678-2261 bounds whatever the offset
        raise _Fallback(v)
    return (at - _EPOCH) // _MICRO


def _column(col: Column, values: list[Any], scan: bool, now: datetime) -> tuple[Any, int]:
    """The output array of one column and how many rows have a value."""
    kind = str(col.kind)
    present = [v for v in values if v is not None]
    if kind == "number":
        return np.array([math.nan if v is None else _number(v) for v in values], dtype=np.float64), len(present)
    if kind in ("category", "id"):
        allow_bool = kind == "category"
        texts = [None if v is None else _text(v, allow_bool=allow_bool, scan=scan) for v in values]
        if kind == "id" and "" in texts:
            raise _Fallback("an empty id")
        return _str_array(texts), len(present)
    nanos = np.array([0 if v is None else _micros(v) for v in values], dtype=np.int64) * 1000
    if len(present) < len(values):  # as the general path does it (and fails it, for a naive ``now``)
        filler = pd.Timestamp(now).tz_convert("UTC").value
        nanos[[i for i, v in enumerate(values) if v is None]] = filler
    return pd.DatetimeIndex(nanos.view("datetime64[ns]"), dtype=_UTC_NS).array, len(present)


def fast_batch(body: bytes, spec: BatchSpec, *, lines: bool, now: datetime, limits: Limits) -> pd.DataFrame | None:
    """The frame :func:`monitor.ingest.parse_batch` gives for a small, clean JSON (``lines``
    False) or NDJSON body, or ``None`` when the general path must decide.

    Raises what the general path raises first for a body over the nesting, row or value limits.
    """
    if len(body) > MAX_BYTES or any(str(c.kind) not in _KINDS for c in spec.columns):
        return None
    shape = json_shape(body, lines=lines, max_depth=limits.max_depth)
    check_rows(shape.rows, shape.values, limits)
    if shape.rows > MAX_ROWS or shape.depth > (1 if lines else 2):  # a nested value: not a flat row
        return None
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    records = _records(text, lines)
    if not records or len(records) != shape.rows or any(type(r) is not dict for r in records):
        return None
    keys: set[str] = set().union(*records)
    # Each key of the body is in the records (JSON's last-wins would hide a repeated one) and known.
    if (sum(map(len, records)) != shape.keys or len(keys) > limits.max_columns
            or not keys <= {c.name for c in spec.columns} | spec.ignored):
        return None
    scan = "\\u" in text  # only an escape can put a NUL or a surrogate into decoded, parsed text
    out: dict[str, Any] = {}
    try:
        for col in spec.columns:
            values = [r.get(col.name) for r in records]
            array, present = _column(col, values, scan, now)
            if present < len(values) and str(col.presence) == "value":
                return None
            if present == 0 and str(col.presence) == "column":
                return None
            if present or not spec.drop_empty:
                out[col.output] = array
        for name in spec.ignored & keys:  # dropped, but text the general path would refuse is refused there
            for r in records:
                v = r.get(name)
                if isinstance(v, str) and scan and _BAD_TEXT.search(v):
                    return None
    except _Fallback:
        return None
    return pd.DataFrame(out, index=pd.RangeIndex(len(records)), copy=False)
