"""Bounds on an ingest body, checked before any native parser sees it.

Arrow's JSON reader recurses on nesting (20,000 nested arrays in 60 KB kill the process; 10,000
cost a minute of CPU), grows every row by every field name it has seen (10,000 distinct keys in
half a megabyte cost 26 s and 2 GB) and a Parquet file declares how much it will inflate to. So
a body is measured first, in time linear in its size and without building anything:

- JSON and NDJSON: :func:`json_shape` finds the structural characters with NumPy (a quote is
  escaped by an odd run of backslashes before it; a bracket inside a string does not count) and
  gives the nesting depth, the rows, the values and the keys, without parsing.
- Parquet: :func:`check_parquet` reads the footer only (rows, columns, declared uncompressed size);
  the reader then counts what it really decoded, so a footer that lies cannot get past the limit.

Pure: no I/O, settings or logging; the limits arrive as a :class:`Limits`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow.parquet as pq
from numpy.typing import NDArray

from monitor.errors import BatchTooLarge, InputError

__all__ = ["BatchTooLarge", "JsonShape", "Limits", "check_parquet", "check_rows", "json_shape"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Limits:
    """What one batch may hold; the defaults are those of :class:`monitor.config.Settings`."""

    max_depth: int = 32
    max_rows: int = 1_000_000
    max_values: int = 50_000_000
    max_columns: int = 1_000
    max_decompressed_bytes: int = 512 * 2**20


@dataclass(frozen=True, slots=True, kw_only=True)
class JsonShape:
    """What :func:`json_shape` measured: ``keys`` counts the object keys (colons outside strings)."""

    depth: int
    rows: int
    values: int
    keys: int


_QUOTE, _BACKSLASH, _NEWLINE, _COMMA, _COLON = 0x22, 0x5C, 0x0A, 0x2C, 0x3A
_OPEN = (0x5B, 0x7B)
_CLOSE = (0x5D, 0x7D)
_SPECIAL = np.zeros(256, dtype=bool)
_SPECIAL[[_QUOTE, _BACKSLASH, _NEWLINE, _COMMA, _COLON, *_OPEN, *_CLOSE]] = True
#: +1 for an opening bracket, -1 for a closing one (lookup tables beat np.isin on large bodies).
_DELTA = np.zeros(256, dtype=np.int8)
_DELTA[list(_OPEN)] = 1
_DELTA[list(_CLOSE)] = -1
_WHITESPACE = np.zeros(256, dtype=bool)
_WHITESPACE[list(b" \t\r\n")] = True


def _since_line_start(cumulative: NDArray[np.int64], newline: NDArray[np.bool_]) -> NDArray[np.int64]:
    """``cumulative`` minus its value at the last newline before (or at) each position."""
    idx = np.arange(len(cumulative))
    last = np.maximum.accumulate(np.where(newline, idx, -1))
    base = np.where(last >= 0, cumulative[np.maximum(last, 0)], 0)
    return cumulative - base


def _nonblank_lines(b: NDArray[np.uint8]) -> int:
    """The lines of ``b`` holding anything but whitespace (NDJSON's rows)."""
    starts = np.concatenate(([0], np.flatnonzero(b == _NEWLINE) + 1))
    starts = starts[starts < len(b)]
    return int(np.count_nonzero(np.add.reduceat(~_WHITESPACE[b], starts))) if len(starts) else 0


def json_shape(body: bytes, *, lines: bool, max_depth: int) -> JsonShape:
    """Measure a JSON (``lines=False``) or NDJSON body without parsing it.

    In NDJSON every line starts outside any string at depth 0 (a raw newline cannot be inside a
    JSON string), as Arrow's reader, which parses blocks of lines in parallel, sees it. Raises
    :class:`InputError` when the depth passes ``max_depth`` or a bracket closes below depth 0.
    """
    b = np.frombuffer(body, dtype=np.uint8)
    pos = np.flatnonzero(_SPECIAL[b])
    ch = b[pos]
    idx = np.arange(len(pos))
    is_bs = ch == _BACKSLASH
    # after_bs: the previous special is a backslash right before this byte.
    after_bs = np.zeros(len(pos), dtype=bool)
    after_bs[1:] = is_bs[:-1] & (np.diff(pos) == 1)
    run_start = np.maximum.accumulate(np.where(is_bs & ~after_bs, idx, 0))
    run_before = np.zeros(len(pos), dtype=np.int64)
    run_before[1:] = idx[:-1] - run_start[:-1] + 1
    escaped = after_bs & (run_before % 2 == 1)
    newline = (ch == _NEWLINE) if lines else np.zeros(len(pos), dtype=bool)
    quote = (ch == _QUOTE) & ~escaped
    quotes_before = np.cumsum(quote, dtype=np.int64) - quote
    if lines:
        quotes_before = _since_line_start(quotes_before, newline)
    outside = quotes_before % 2 == 0
    delta = np.where(outside, _DELTA[ch], np.int8(0))
    depth = np.cumsum(delta, dtype=np.int64)
    if lines:
        depth = _since_line_start(depth, newline)
    if len(depth) and int(depth.min()) < 0:
        at = int(pos[int(np.argmax(depth < 0))])
        raise InputError(f"the body is not valid JSON: a bracket at byte {at} closes nothing", field="body")
    deepest = int(depth.max()) if len(depth) else 0
    if deepest > max_depth:
        at = int(pos[int(np.argmax(depth > max_depth))])
        raise InputError(f"the body nests {deepest} levels deep (first past {max_depth} at byte {at}), over the "
                         f"limit of {max_depth} (DRIFTLINE_MAX_NESTING_DEPTH)", field="body")
    comma = outside & (ch == _COMMA)
    if lines:
        rows = _nonblank_lines(b)
    else:
        rows = int(np.count_nonzero(comma & (depth == 1))) + 1
    return JsonShape(depth=deepest, rows=rows,
                     values=int(np.count_nonzero(comma)) + int(np.count_nonzero(delta > 0)) + 1,
                     keys=int(np.count_nonzero(outside & (ch == _COLON))))


def check_rows(rows: int, values: int, limits: Limits) -> None:
    """Refuse a batch over the row or value limit (:class:`BatchTooLarge`)."""
    if rows > limits.max_rows:
        raise BatchTooLarge(f"the batch has {rows} rows", setting="DRIFTLINE_MAX_BATCH_ROWS", limit=limits.max_rows)
    if values > limits.max_values:
        raise BatchTooLarge(f"the batch has {values} values", setting="DRIFTLINE_MAX_BATCH_VALUES",
                            limit=limits.max_values)


def check_parquet(metadata: pq.FileMetaData, limits: Limits) -> None:
    """Refuse a Parquet file whose footer declares too many rows, columns, levels or bytes."""
    check_rows(metadata.num_rows, metadata.num_rows * metadata.num_columns, limits)
    if metadata.num_columns > limits.max_columns:
        raise InputError(f"the Parquet file has {metadata.num_columns} columns, over the limit of "
                         f"{limits.max_columns} (DRIFTLINE_MAX_BATCH_COLUMNS)", field="body")
    schema = metadata.schema
    for i in range(metadata.num_columns):
        column = schema.column(i)
        if max(column.max_definition_level, column.max_repetition_level) > limits.max_depth:
            raise InputError(f"Parquet column {column.path!r} nests deeper than the limit of {limits.max_depth} "
                             "(DRIFTLINE_MAX_NESTING_DEPTH)", field="body")
    declared = sum(metadata.row_group(g).total_byte_size for g in range(metadata.num_row_groups))
    if declared > limits.max_decompressed_bytes:
        raise BatchTooLarge(f"the Parquet file inflates to {declared} bytes",
                            setting="DRIFTLINE_MAX_DECOMPRESSED_BYTES", limit=limits.max_decompressed_bytes)
