"""The PostgreSQL bulk paths: binary COPY in and out, through psycopg's raw connection.

Ingest stages a batch in a ``TEMP ... ON COMMIT DROP`` table with ``COPY FROM STDIN (FORMAT
binary)`` and moves it with ``INSERT ... SELECT ... ON CONFLICT (prediction_id) DO NOTHING`` (on a log
partitioned by day, each day's unique index on the id; see :func:`_insert`), all
inside the caller's SQLAlchemy transaction, so a failure anywhere leaves nothing behind. A missing
number travels as NaN (keeping every row's numeric part fixed-width) and becomes NULL in the INSERT.

A window is read with one ``COPY (SELECT ...) TO STDOUT (FORMAT binary)`` decoded by NumPy in
parts while the rest arrives: the server's output functions are the floor of any read (0.5-0.7 s
for 100k rows x 53 fields here, measured as ``COPY ... TO '/dev/null'``), and binary output is the
cheapest of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import psycopg
import pyarrow as pa
from numpy.typing import NDArray
from psycopg import sql

from monitor.domain import WindowSpec
from monitor.storage._frames import NAT, Batch, Columns
from monitor.storage._pgcopy import PG_EPOCH_US, decode_copy, decode_part, encode_copy
from monitor.storage.layout import ModelLayout
from monitor.storage.partitions import ACROSS_MIDNIGHT_US, DAY_US, timestamp_of

__all__ = ["insert_predictions", "insert_predictions_returning", "read_columns", "update_labels"]

Connection = psycopg.Connection[tuple[object, ...]]
Cursor = psycopg.Cursor[tuple[object, ...]]

_NAN = sql.SQL("'NaN'::float8")


def _stage(cur: Cursor, name: str, batch: Batch, extra: Sequence[tuple[str, NDArray[np.generic], str]] = ()) -> None:
    """Create temp table ``name`` (dropped at commit) and COPY ``batch`` into it."""
    fixed = [("ts", batch.ts - PG_EPOCH_US, "timestamptz"), *extra,
             *((c, v, "float8") for c, v in batch.numbers.items())]
    texts = [("prediction_id", batch.ids), *batch.texts.items(), *batch.binaries.items()]
    columns = [sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(t)) for c, _, t in fixed]
    # Ids in byte order, as the log keeps them: a join or an index on them then matches the log's.
    kinds = {c: "bytea" if c in batch.binaries else 'text COLLATE "C"' if c == "prediction_id" else "text"
             for c, _ in texts}
    columns += [sql.SQL("{} {}").format(sql.Identifier(c), sql.SQL(kinds[c])) for c, _ in texts]
    cur.execute(sql.SQL("CREATE TEMP TABLE {} ({}) ON COMMIT DROP").format(sql.Identifier(name),
                                                                          sql.SQL(", ").join(columns)))
    encoded = encode_copy([(v, "float8" if t == "float8" else "int8") for _, v, t in fixed], [a for _, a in texts])
    with cur.copy(sql.SQL("COPY {} FROM STDIN (FORMAT binary)").format(sql.Identifier(name))) as copy:
        for data in encoded:
            copy.write(data)


def _value(column: str, batch: Batch) -> sql.Composable:
    """The staged column as inserted: NaN (how a missing number travels) becomes NULL."""
    ident = sql.Identifier(column)
    values = batch.numbers.get(column)
    # NULLIF costs the server a function call per value; skip it where the batch has no NaN.
    return sql.SQL("NULLIF({}, {})").format(ident, _NAN) if values is not None and np.isnan(values).any() else ident


#: The staged column marking rows within an hour of a UTC midnight (a name no feature can clash with).
_NEAR = "driftline:near"


def _insert(cur: Cursor, layout: ModelLayout, batch: Batch, returning: bool, partitioned: bool) -> list[str]:
    """Insert ``batch`` but for ids stored already; return the ids inserted (``returning``) or one
    empty string per row inserted.

    Unpartitioned, the table's primary key on the id decides. Partitioned by day, each day's unique
    index on the id decides (``ON CONFLICT DO NOTHING`` takes the unique indexes of the day a row
    goes to), and the few rows within an hour of a midnight also look for their id within an hour
    in the neighbouring day: a retry stamped again at receipt, minutes later, can cross midnight.
    """
    targets = ["prediction_id", "ts", *batch.numbers, *batch.texts, *batch.binaries]
    values = [_value(c, batch) for c in targets]
    if "label" in targets:  # a label sent with its prediction arrived with it
        targets.append("label_ts")
        values.append(sql.SQL("CASE WHEN {} IS NOT NULL THEN ts END").format(_value("label", batch)))
    near = np.zeros(len(batch), dtype=bool)
    if partitioned:
        into_day = np.mod(batch.ts, DAY_US)
        near = (into_day < ACROSS_MIDNIGHT_US) | (into_day >= DAY_US - ACROSS_MIDNIGHT_US)
    extra = [(_NEAR, near.astype(np.int64), "int8")] if near.any() else []
    _stage(cur, "driftline_stage", batch, extra)
    table = sql.Identifier(layout.table.name)
    insert = sql.SQL("INSERT INTO {} ({}) SELECT {} FROM driftline_stage AS s").format(
        table, sql.SQL(", ").join(map(sql.Identifier, targets)), sql.SQL(", ").join(values))
    tail = sql.SQL(" ON CONFLICT {}DO NOTHING{}").format(
        sql.SQL("" if partitioned else "(prediction_id) "), sql.SQL(" RETURNING prediction_id" if returning else ""))
    statements = [insert + tail]
    if extra:
        # The literal bounds prune the lookup to the days the near rows touch; the row's own decide.
        lo, hi = (timestamp_of(int(t)) for t in (batch.ts[near].min() - ACROSS_MIDNIGHT_US,
                                                  batch.ts[near].max() + ACROSS_MIDNIGHT_US + 1))
        seen = sql.SQL(" WHERE s.{near} = 1 AND NOT EXISTS (SELECT 1 FROM {t} AS p WHERE p.prediction_id = "
                       "s.prediction_id AND p.ts >= {lo} AND p.ts < {hi} AND p.ts BETWEEN s.ts - interval '1 hour' "
                       "AND s.ts + interval '1 hour')").format(near=sql.Identifier(_NEAR), t=table,
                                                              lo=sql.Literal(lo), hi=sql.Literal(hi))
        statements = [insert + sql.SQL(" WHERE s.{} = 0").format(sql.Identifier(_NEAR)) + tail, insert + seen + tail]
    inserted: list[str] = []
    for statement in statements:
        cur.execute(statement)
        inserted += [str(r[0]) for r in cur.fetchall()] if returning else [""] * max(cur.rowcount, 0)
    return inserted


def insert_predictions(conn: Connection, layout: ModelLayout, batch: Batch, partitioned: bool = False) -> int:
    """Insert ``batch`` unless its ids exist; return how many rows were inserted."""
    with conn.cursor() as cur:
        return len(_insert(cur, layout, batch, returning=False, partitioned=partitioned))


def insert_predictions_returning(conn: Connection, layout: ModelLayout, batch: Batch,
                                 partitioned: bool = False) -> list[str]:
    """Insert ``batch`` unless its ids exist; return the ids inserted (a group commit splits them by request)."""
    with conn.cursor() as cur:
        return _insert(cur, layout, batch, returning=True, partitioned=partitioned)


def update_labels(conn: Connection, layout: ModelLayout, batch: Batch,
                  days: Sequence[str] | None = None) -> tuple[int, tuple[str, ...]]:
    """Set label and label time of known ids; return the count and the unknown ids in input order.

    ``days``: the partitions of a partitioned log, newest first. A label does not say when its
    prediction was made, so the days are searched from the newest (labels mostly follow their
    predictions by hours or days) and each label leaves the search once its day is found: one
    index probe per label per day searched, never a join of the batch against every day. A label
    whose id is stored on two days goes to the newer.
    """
    table = sql.Identifier(layout.table.name)
    with conn.cursor() as cur:
        _stage(cur, "driftline_labels", batch, extra=[("pos", np.arange(len(batch), dtype=np.int64), "int8")])
        if days is None:
            cur.execute(sql.SQL("UPDATE {t} AS p SET label = s.label, label_ts = s.ts FROM driftline_labels AS s "
                                "WHERE p.prediction_id = s.prediction_id").format(t=table))
            updated = cur.rowcount
            cur.execute(sql.SQL("SELECT s.prediction_id FROM driftline_labels AS s WHERE NOT EXISTS "
                                "(SELECT 1 FROM {t} AS p WHERE p.prediction_id = s.prediction_id) ORDER BY s.pos")
                        .format(t=table))
            return updated, tuple(str(r[0]) for r in cur.fetchall())
        # A hash join would read a whole day per statement; the day's unique index answers each label,
        # and the staged labels' own index each found one's removal.
        # (Those plans' costs, inflated by the settings, would otherwise buy ~100 ms of JIT compilation.)
        cur.execute("CREATE INDEX ON driftline_labels (prediction_id)")
        for setting in ("enable_hashjoin", "enable_mergejoin", "jit"):
            cur.execute(sql.SQL("SET LOCAL {} = off").format(sql.Identifier(setting)))
        updated, left = 0, len(batch)
        for day in days:
            if not left:
                break
            cur.execute(sql.SQL("WITH done AS (UPDATE {d} AS p SET label = s.label, label_ts = s.ts "
                                "FROM driftline_labels AS s WHERE p.prediction_id = s.prediction_id "
                                "RETURNING p.prediction_id) DELETE FROM driftline_labels AS s USING done "
                                "WHERE s.prediction_id = done.prediction_id").format(d=sql.Identifier(day)))
            updated += cur.rowcount
            left -= cur.rowcount
        for setting in ("enable_hashjoin", "enable_mergejoin", "jit"):
            cur.execute(sql.SQL("RESET {}").format(sql.Identifier(setting)))
        cur.execute("SELECT prediction_id FROM driftline_labels ORDER BY pos")
        return updated, tuple(str(r[0]) for r in cur.fetchall())


def read_columns(conn: Connection, layout: ModelLayout, numbers: Sequence[str], texts: Sequence[str],
                 window: WindowSpec, binaries: Sequence[str] = ()) -> Columns:
    """Rows of ``window`` in (ts, prediction_id) order; the time filter is a range on the ts index."""
    where = [sql.SQL("ts < {}").format(sql.Literal(window.end))]
    if window.start is not None:
        where.append(sql.SQL("ts >= {}").format(sql.Literal(window.start)))
    order: sql.Composable = sql.SQL("ORDER BY ts, prediction_id")
    if window.rows is not None:  # newest first to take the last N; reversed below
        order = sql.SQL("ORDER BY ts DESC, prediction_id DESC LIMIT {}").format(sql.Literal(window.rows))
    # Fixed-width fields first, never NULL (missing numbers as NaN, a missing label time as
    # -infinity), so each row starts with one NumPy record; text fields after.
    fields: list[sql.Composable] = [sql.SQL("ts"), sql.SQL("COALESCE(label_ts, '-infinity')")]
    fields += [sql.SQL("COALESCE({}, {})").format(sql.Identifier(c), _NAN) for c in numbers]
    fields += [sql.Identifier(c) for c in ("prediction_id", *texts, *binaries)]  # bytea arrives as raw bytes
    query = sql.SQL("COPY (SELECT {} FROM {} WHERE {} {}) TO STDOUT (FORMAT binary)").format(
        sql.SQL(", ").join(fields), sql.Identifier(layout.table.name), sql.SQL(" AND ").join(where), order)
    kinds = ["int8", "int8", *("float8" for _ in numbers)]
    n_texts = 1 + len(texts) + len(binaries)
    try:
        fixed, strings = _read_decoded(conn, query, kinds, n_texts)
    except ValueError as exc:
        raise psycopg.DataError(f"unexpected COPY output: {exc}") from exc
    step = -1 if window.rows is not None else 1
    ts, label_ts = fixed[0][::step] + PG_EPOCH_US, fixed[1][::step]
    label_ts = np.where(label_ts == NAT, NAT, label_ts + PG_EPOCH_US)  # -infinity arrives as int64 min
    return Columns(ids=_reverse(strings[0], step), ts=ts, label_ts=label_ts,
                   numbers={c: fixed[j + 2][::step] for j, c in enumerate(numbers)},
                   texts={c: _reverse(strings[j + 1], step) for j, c in enumerate(texts)},
                   binaries={c: _reverse(strings[j + 1 + len(texts)].view(pa.large_binary()), step)
                             for j, c in enumerate(binaries)})


#: Rows per part decoded while the next part arrives.
_PART_ROWS = 16_384


def _read_decoded(conn: Connection, query: sql.Composed, kinds: list[str],
                  n_texts: int) -> tuple[list[NDArray[Any]], list[pa.Array]]:
    """Run the COPY and decode its rows in parts on a worker thread while the server sends the rest.

    The server produces the rows at its own pace (its output functions are most of a window's
    read), and this thread mostly waits on the socket; decoding each part of 16,384 rows as soon
    as it is complete hides the decoding (a third of the read at 100k x 50) behind the transfer.
    """
    parts: list[Future[tuple[list[NDArray[Any]], list[pa.Array]]]] = []
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="copy-decode") as pool:
        with conn.cursor() as cur, cur.copy(query) as copy:
            rows: list[bytes] = []
            for row in copy:  # one item per row, as the protocol sends them
                rows.append(bytes(row))
                if len(rows) == _PART_ROWS:
                    parts.append(pool.submit(decode_part, rows, kinds, n_texts, first=not parts, last=False))
                    rows = []
        if not parts:
            return decode_copy(rows, kinds, n_texts)
        parts.append(pool.submit(decode_part, rows, kinds, n_texts, first=False, last=True))
        decoded = [part.result() for part in parts]
    fixed = [np.concatenate([d[0][j] for d in decoded]) for j in range(len(kinds))]
    texts = [pa.concat_arrays([d[1][j] for d in decoded]) for j in range(n_texts)]
    return fixed, texts


def _reverse(arr: pa.Array, step: int) -> pa.Array:
    return arr if step == 1 else arr.take(pa.array(np.arange(len(arr) - 1, -1, -1)))
