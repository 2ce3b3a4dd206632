"""The SQLite bulk paths: ``executemany`` inside the caller's transaction, times as fixed-width text.

SQLite has no COPY; one prepared statement run over all rows of a batch in one transaction is
its fast path (a commit per row is what makes SQLite slow). ``ON CONFLICT (prediction_id) DO
NOTHING`` skips known ids and, unlike ``INSERT OR IGNORE``, still fails on any other constraint
(a NULL time), so a broken row is an error, not a silently missing row. SQLite stores a NaN
float as NULL, which is exactly our meaning of NaN.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import datetime

import numpy as np
import pyarrow as pa
from numpy.typing import NDArray

from monitor.domain import WindowSpec
from monitor.storage._frames import Batch, Columns
from monitor.storage._types import sqlite_ts_strings, to_utc
from monitor.storage.layout import ModelLayout

__all__ = ["insert_predictions", "read_columns", "update_labels"]


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _bound(value: datetime) -> str:
    """A window bound in the stored text format, so the comparison is a range on the index."""
    return to_utc(value).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _rows(batch: Batch, with_label_ts: bool) -> list[tuple[object, ...]]:
    ts = sqlite_ts_strings(batch.ts).tolist()
    columns: list[list[object]] = [batch.ids.to_pylist(), ts]
    columns += [v.tolist() for v in batch.numbers.values()]
    columns += [a.to_pylist() for a in batch.texts.values()]
    columns += [a.to_pylist() for a in batch.binaries.values()]  # bytes: stored as BLOB
    if with_label_ts:
        number = batch.numbers.get("label")
        present = ~np.isnan(number) if number is not None else \
            ~batch.texts["label"].is_null().to_numpy(zero_copy_only=False)
        columns.append([t if p else None for t, p in zip(ts, present.tolist(), strict=True)])
    return list(zip(*columns, strict=True))


def insert_predictions(conn: sqlite3.Connection, layout: ModelLayout, batch: Batch) -> int:
    """Insert ``batch`` unless its ids exist; return how many rows were inserted."""
    targets = ["prediction_id", "ts", *batch.numbers, *batch.texts, *batch.binaries]
    with_label_ts = "label" in targets
    if with_label_ts:
        targets.append("label_ts")
    statement = (f"INSERT INTO {_q(layout.table.name)} ({', '.join(map(_q, targets))}) "
                 f"VALUES ({', '.join('?' for _ in targets)}) ON CONFLICT (prediction_id) DO NOTHING")
    cur = conn.executemany(statement, _rows(batch, with_label_ts))
    return cur.rowcount


def update_labels(conn: sqlite3.Connection, layout: ModelLayout, batch: Batch) -> tuple[int, tuple[str, ...]]:
    """Set label and label time of known ids; return the count and the unknown ids in input order."""
    table = _q(layout.table.name)
    conn.execute("CREATE TEMP TABLE driftline_labels (pos INTEGER PRIMARY KEY, prediction_id TEXT, label, ts TEXT)")
    label = batch.numbers["label"].tolist() if "label" in batch.numbers else batch.texts["label"].to_pylist()
    conn.executemany("INSERT INTO driftline_labels VALUES (?, ?, ?, ?)",
                     zip(range(len(batch)), batch.ids.to_pylist(), label, sqlite_ts_strings(batch.ts).tolist(),
                         strict=True))
    updated = conn.execute(f"UPDATE {table} SET label = s.label, label_ts = s.ts FROM driftline_labels AS s "
                           f"WHERE {table}.prediction_id = s.prediction_id").rowcount
    unknown = conn.execute(f"SELECT s.prediction_id FROM driftline_labels AS s WHERE NOT EXISTS "
                           f"(SELECT 1 FROM {table} AS p WHERE p.prediction_id = s.prediction_id) ORDER BY s.pos")
    ids = tuple(str(r[0]) for r in unknown.fetchall())
    conn.execute("DROP TABLE temp.driftline_labels")  # temp tables outlive the transaction in SQLite
    return updated, ids


def read_columns(conn: sqlite3.Connection, layout: ModelLayout, numbers: Sequence[str], texts: Sequence[str],
                 window: WindowSpec, binaries: Sequence[str] = ()) -> Columns:
    """Rows of ``window`` in (ts, prediction_id) order."""
    where, params = ["ts < ?"], [_bound(window.end)]
    if window.start is not None:
        where.append("ts >= ?")
        params.append(_bound(window.start))
    order = "ORDER BY ts, prediction_id"
    if window.rows is not None:
        order = f"ORDER BY ts DESC, prediction_id DESC LIMIT {int(window.rows)}"
    names = ["prediction_id", "ts", "label_ts", *numbers, *texts, *binaries]
    rows = conn.execute(f"SELECT {', '.join(map(_q, names))} FROM {_q(layout.table.name)} "
                        f"WHERE {' AND '.join(where)} {order}", params).fetchall()
    if window.rows is not None:
        rows.reverse()
    # One object array, then whole-column casts in C: numpy turns None into NaN (numbers) and
    # NaT (times); a Python loop over 100k tuples would cost more than the fetch itself.
    table = np.array(rows, dtype=object).reshape(len(rows), len(names))
    column = {name: table[:, i] for i, name in enumerate(names)}

    def text(name: str) -> pa.Array:
        return pa.array(column[name], type=pa.large_string(), from_pandas=True)

    return Columns(ids=text("prediction_id"), ts=_micros(column["ts"]), label_ts=_micros(column["label_ts"]),
                   numbers={c: column[c].astype(np.float64) for c in numbers},
                   texts={c: text(c) for c in texts},
                   binaries={c: _binary(column[c]) for c in binaries})


def _binary(values: NDArray[np.object_]) -> pa.Array:
    """BLOBs (bytes, None for NULL) as Arrow binary: one join of the values and their lengths
    (``pa.array`` over an object array of 10,000 vectors takes a second; this, milliseconds)."""
    present = np.fromiter((v is not None for v in values), dtype=bool, count=len(values))
    kept = values[present].tolist()
    sizes = np.zeros(len(values), dtype=np.int64)
    sizes[present] = np.fromiter(map(len, kept), dtype=np.int64, count=len(kept))
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    validity = None if present.all() else pa.array(present).buffers()[1]
    return pa.Array.from_buffers(pa.large_binary(), len(values), [validity, pa.py_buffer(offsets),
                                                                 pa.py_buffer(b"".join(kept))],
                                 null_count=int(len(values) - present.sum()))


def _micros(values: NDArray[np.object_]) -> NDArray[np.int64]:
    """Stored time strings as microseconds since the epoch; NULL becomes NaT (numpy parses both in C)."""
    micros: NDArray[np.int64] = values.astype("datetime64[us]").view(np.int64)
    return micros
