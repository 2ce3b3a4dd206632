"""The vectorised codecs against plain reference implementations (no database needed).

A straightforward ``struct`` walk over PostgreSQL's binary COPY format is the oracle for the
NumPy encoder and decoder; Python's own ``isoformat`` is the oracle for SQLite's time strings.
"""

from __future__ import annotations

import struct
from datetime import UTC, datetime

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.storage._pgcopy import decode_copy, encode_copy
from monitor.storage._types import sqlite_ts_strings, utc_micros

_TEXT = st.one_of(st.none(), st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"),
                                     max_size=20))
_ROWS = st.lists(st.tuples(st.floats(allow_nan=False), st.integers(-(2**62), 2**62), _TEXT, _TEXT),
                 min_size=0, max_size=60)


def _reference_rows(data: bytes) -> list[bytes]:
    """Split COPY binary data into one item per row (header on the first, trailer alone), by walking it."""
    assert data[:11] == b"PGCOPY\n\xff\r\n\x00"
    pos, rows, start = 19, [], 0
    while True:
        (fields,) = struct.unpack_from(">h", data, pos)
        if fields == -1:
            rows.append(data[pos:])
            return [data[:19] + rows[0], *rows[1:]] if len(rows) > 1 else [data]
        pos += 2
        for _ in range(fields):
            (length,) = struct.unpack_from(">i", data, pos)
            pos += 4 + max(length, 0)
        rows.append(data[start or 19:pos])
        start = pos


def _values(row: bytes, kinds: list[str], n_texts: int) -> tuple[object, ...]:
    pos, out = 2, []
    for kind in kinds:
        out.append(struct.unpack_from(">d" if kind == "float8" else ">q", row, pos + 4)[0])
        pos += 12
    for _ in range(n_texts):
        (length,) = struct.unpack_from(">i", row, pos)
        out.append(None if length < 0 else row[pos + 4:pos + 4 + length].decode())
        pos += 4 + max(length, 0)
    return tuple(out)


@given(rows=_ROWS)
def test_binary_copy_encoding_matches_a_struct_walk_and_decodes_back(
        rows: list[tuple[float, int, str | None, str | None]]) -> None:
    ids = [f"id{i}" for i in range(len(rows))]
    floats = np.array([r[0] for r in rows], dtype=np.float64)
    ints = np.array([r[1] for r in rows], dtype=np.int64)
    texts = [pa.array(ids, type=pa.large_string()), pa.array([r[2] for r in rows], type=pa.large_string()),
             pa.array([r[3] for r in rows], type=pa.large_string())]
    data = b"".join(encode_copy([(floats, "float8"), (ints, "int8")], texts))
    items = _reference_rows(data)
    body = [items[0][19:], *items[1:-1]] if len(items) > 1 else []
    expected = {ids[i]: (floats[i], ints[i], ids[i], r[2], r[3]) for i, r in enumerate(rows)}
    walked = {v[2]: v for v in (_values(b, ["float8", "int8"], 3) for b in body)}
    assert walked == expected  # rows may come in any order; every row is there once
    fixed, strings = decode_copy(items, ["float8", "int8"], 3)
    decoded = {strings[0][i].as_py(): (fixed[0][i], fixed[1][i], strings[0][i].as_py(), strings[1][i].as_py(),
                                       strings[2][i].as_py()) for i in range(len(rows))}
    assert decoded == expected


_LONG_ROWS = st.lists(st.tuples(st.one_of(st.none(), st.text(st.characters(blacklist_categories=("Cs",),
                                                                             blacklist_characters="\x00"),
                                                              min_size=300, max_size=700)),
                                 st.one_of(st.none(), st.binary(min_size=600, max_size=2000))),
                       min_size=0, max_size=30)


@given(rows=_LONG_ROWS)
def test_long_texts_and_bytea_values_round_trip(rows: list[tuple[str | None, bytes | None]]) -> None:
    """Values of hundreds of bytes (embedding vectors) take _gather's slice-by-slice copy, ids its index."""
    ids = [f"id{i}" for i in range(len(rows))]
    floats = np.arange(len(rows), dtype=np.float64)
    texts = [pa.array(ids, type=pa.large_string()), pa.array([r[0] for r in rows], type=pa.large_string()),
             pa.array([r[1] for r in rows], type=pa.large_binary())]
    items = _reference_rows(b"".join(encode_copy([(floats, "float8")], texts)))
    fixed, strings = decode_copy(items, ["float8"], 3)
    binary = strings[2].view(pa.large_binary())
    decoded = {strings[0][i].as_py(): (fixed[0][i], strings[1][i].as_py(), binary[i].as_py()) for i in range(len(rows))}
    assert decoded == {ids[i]: (float(i), *r) for i, r in enumerate(rows)}


def test_decoding_refuses_what_is_not_copy_binary() -> None:
    with pytest.raises(ValueError, match="not PostgreSQL COPY binary"):
        decode_copy([b"id,name\n1,a\n"], ["int8"], 1)
    data = b"".join(encode_copy([(np.array([1], dtype=np.int64), "int8")], [pa.array(["xxxxxxxx"])]))
    with pytest.raises(ValueError, match="expected number of fields"):
        decode_copy(_reference_rows(data), ["int8"], 2)
    with pytest.raises(ValueError, match="shorter than their fixed-width fields"):
        decode_copy(_reference_rows(data), ["int8", "int8", "int8"], 0)
    # A length word pointing past its row (here: into the next row, then past the end) is refused,
    # never read outside the row or the buffer.
    two = _reference_rows(b"".join(encode_copy([(np.array([1, 2], dtype=np.int64), "int8")],
                                               [pa.array(["ab", "cd"])])))
    first = bytearray(two[0])
    at = 19 + 2 + 12  # header, field count, the int8 field; then the text field's length word
    for bad in (5, 10_000):
        first[at:at + 4] = bad.to_bytes(4, "big")
        with pytest.raises(ValueError, match="longer or shorter than their fields"):
            decode_copy([bytes(first), *two[1:]], ["int8"], 1)


@given(st.lists(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1),
                             timezones=st.just(UTC)), min_size=1, max_size=40))
def test_sqlite_time_strings_are_isoformat_and_sort_like_times(times: list[datetime]) -> None:
    import pandas as pd

    strings = sqlite_ts_strings(utc_micros(pd.Series(times, dtype="datetime64[us, UTC]"))).tolist()
    assert strings == [t.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds") for t in times]
    assert sorted(strings) == [s for _, s in sorted(zip(times, strings, strict=True))]
