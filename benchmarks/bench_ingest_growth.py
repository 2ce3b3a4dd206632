"""Ingest as the prediction log grows, and retention, on PostgreSQL: a log partitioned by day
against the unpartitioned log revision 0014 made (the peer, the same store code, in the same run).

One model, 10 numerical features; both logs are grown to each level (0, 10M, 50M rows by
default) with rows spread over the 30 days before "now" (a ``retention: 30d`` log) and ids that
are md5 hex strings (random, as UUIDs are). The growth is generated in SQL with the unique
indexes on the id dropped and rebuilt (a sort), so building 50M rows takes minutes, not hours;
the timed ingest then runs against the full indexes. At each level ``Store.ingest_predictions``
is timed with 10,000-row batches of new random ids stamped "now" (the newest day), as a
producer sends them, the two logs' batches alternating after a CHECKPOINT; then
``Store.ingest_labels`` with 10,000 labels for ids drawn from the whole log. At the last level
retention of the oldest days is timed: dropping partitions against deleting rows in batches.

Usage: ``python benchmarks/bench_ingest_growth.py [--levels 0,10000000,50000000] [--batches 10]``
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd
import sqlalchemy as sa

from benchmarks.bench_metrics import bench_schema
from monitor.config import DriftlineConfig
from monitor.storage import Store
from monitor.storage.layout import build_layouts, table_name
from monitor.storage.partitions import Partitions

NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)
SPAN = timedelta(days=30)
FEATURES = [f"f{k}" for k in range(10)]


def grow(engine: sa.Engine, table: str, first: int, last: int) -> float:
    """Add rows ``first``..``last`` (md5 ids, spread over SPAN before NOW) to ``table``; seconds.

    The unique indexes on the id (the primary key; each day's unique index) are dropped for the
    load and built again after, by sorting."""
    start = NOW - SPAN
    step_us = SPAN / timedelta(microseconds=1) / max(last, 1)
    t = time.perf_counter()
    with engine.begin() as conn:
        conn.exec_driver_sql("SET LOCAL maintenance_work_mem = '1GB'")
        unique = conn.execute(sa.text(
            "SELECT c.conname, NULL FROM pg_constraint c WHERE c.conrelid = to_regclass(:t) AND c.contype = 'p' "
            "UNION ALL SELECT i.indexname, i.indexdef FROM pg_indexes i JOIN pg_inherits h "
            "ON to_regclass(quote_ident(i.schemaname) || '.' || quote_ident(i.tablename)) = h.inhrelid "
            "WHERE h.inhparent = to_regclass(:t) AND i.indexdef LIKE 'CREATE UNIQUE%'"), {"t": table}).all()
        for name, definition in unique:
            conn.exec_driver_sql(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"' if definition is None
                                 else f'DROP INDEX "{name}"')
        conn.execute(sa.text(
            f"INSERT INTO {table} (prediction_id, ts, prediction, {', '.join(FEATURES)}) "
            f"SELECT md5(g::text), CAST(:start AS timestamptz) + g * CAST(:step AS float8) * interval '1 microsecond', "
            f"'yes', {', '.join('random()' for _ in FEATURES)} "
            "FROM generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS g"),
            {"start": start, "step": step_us, "first": first, "last": last})
        for name, definition in unique:
            conn.exec_driver_sql(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" PRIMARY KEY (prediction_id)'
                                 if definition is None else definition)
        conn.exec_driver_sql(f"UPDATE ingest_counters SET rows = rows + {last - first + 1} "
                             f"WHERE model = '{table.removeprefix('predictions_')}'")
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql(f"VACUUM ANALYZE {table}")  # what autovacuum does after a load
    return time.perf_counter() - t


def batch(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """``n`` predictions with random 128-bit hex ids, stamped within the hour after NOW."""
    raw = rng.bytes(16 * n)
    return pd.DataFrame({"prediction_id": [raw[i:i + 16].hex() for i in range(0, 16 * n, 16)],
                         "timestamp": pd.Series([NOW] * n, dtype="datetime64[us, UTC]")
                         + pd.to_timedelta(rng.integers(0, 3_600_000_000, n), unit="us"),
                         "prediction": "yes", **{f: rng.normal(size=n) for f in FEATURES}})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--levels", default="0,10000000,50000000")
    ap.add_argument("--batches", type=int, default=10)
    ap.add_argument("--rows", type=int, default=10_000, help="rows per ingest batch")
    args = ap.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    rng = np.random.default_rng(0)
    config = DriftlineConfig.model_validate({"monitors": [
        {"name": name, "model": name, "every": "15m", "schema": {"numerical": FEATURES}}
        for name in ("daily", "flat")]})
    rows: list[str] = []
    with bench_schema() as url:
        engine = sa.create_engine(url)
        # The peer: the log as revision 0014 made it (created before upgrade, so kept unpartitioned).
        build_layouts(config.to_domain(), sa.MetaData())["flat"].table.create(engine)
        store = Store.from_url(url, config)
        try:
            store.upgrade()
            days = (NOW - SPAN - datetime(1970, 1, 1, tzinfo=UTC)).days
            Partitions(store.engine).ensure(table_name("daily"), range(days, days + SPAN.days + 2))
            grown = 0
            for level in levels:
                seconds = {}
                for model in ("daily", "flat"):
                    seconds[model] = grow(engine, table_name(model), grown + 1, level) if level > grown else 0.0
                grown = max(grown, level)
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                    conn.exec_driver_sql("CHECKPOINT")  # the growth's dirty pages written before timing
                times: dict[str, list[float]] = {"daily": [], "flat": []}
                for k in range(2 * args.batches):  # batches alternate, so neither log meets the other's I/O
                    model = ("daily", "flat")[(k + k // 2) % 2]
                    frame = batch(args.rows, rng)
                    t = time.perf_counter()
                    result = store.ingest_predictions(model, frame)
                    times[model].append(time.perf_counter() - t)
                    assert result.accepted == args.rows, result
                rates = {m: (args.rows / statistics.median(ts), args.rows / min(ts)) for m, ts in times.items()}
                labelled: dict[str, list[float]] = {"daily": [], "flat": []}
                for k in range(2 * args.batches if grown else 0):  # labels for stored ids, spread over the log
                    model = ("daily", "flat")[(k + k // 2) % 2]
                    ids = [hashlib.md5(str(g).encode()).hexdigest() for g in rng.integers(1, grown + 1, args.rows)]
                    frame = pd.DataFrame({"prediction_id": ids, "label": "yes",
                                          "timestamp": pd.Series([NOW] * args.rows, dtype="datetime64[us, UTC]")})
                    t = time.perf_counter()
                    store.ingest_labels(model, frame)
                    labelled[model].append(time.perf_counter() - t)
                labels = {m: f"{args.rows / statistics.median(ts):,.0f}" if ts else "-" for m, ts in labelled.items()}
                with engine.connect() as conn:
                    size = {m: conn.execute(sa.text("SELECT pg_total_relation_size(c.oid) + coalesce(sum("
                                                    "pg_total_relation_size(i.inhrelid)), 0) FROM pg_class c "
                                                    "LEFT JOIN pg_inherits i ON i.inhparent = c.oid "
                                                    "WHERE c.oid = to_regclass(:t) GROUP BY c.oid"),
                                            {"t": table_name(m)}).scalar_one() / 2**30 for m in ("daily", "flat")}
                rows.append(f"| {level:,} | {rates['daily'][0]:,.0f} / {rates['daily'][1]:,.0f} | "
                            f"{rates['flat'][0]:,.0f} / {rates['flat'][1]:,.0f} | "
                            f"{rates['daily'][0] / rates['flat'][0]:.2f}x | {labels['daily']} / {labels['flat']} | "
                            f"{size['daily']:.1f} / {size['flat']:.1f} | "
                            f"{seconds['daily']:.0f} / {seconds['flat']:.0f} |")
                print(rows[-1], flush=True)
            cutoff = NOW - SPAN + timedelta(days=1)
            cutoff = cutoff.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)
            retention = {}
            for model in ("daily", "flat"):
                t = time.perf_counter()
                n = store.delete_predictions_before(model, cutoff)
                retention[model] = (n, time.perf_counter() - t)
        finally:
            store.dispose()
            engine.dispose()
    print(f"\n# PostgreSQL, 10 numerical features, {args.rows:,}-row batches of random ids stamped now; "
          f"load {os.getloadavg()[0]:.1f}\n")
    print("| stored rows (each log) | daily partitions: rows/s median / best | peer, unpartitioned (0014): "
          "rows/s median / best | daily / peer (median) | labels rows/s median, daily / peer | GiB daily / peer | "
          "growth s daily / peer |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(row)
    (nd, sd), (nf, sf) = retention["daily"], retention["flat"]
    print(f"\nRetention of the oldest days (before {cutoff:%Y-%m-%d}): partitions dropped {nd:,} rows in {sd:.2f} s; "
          f"batched DELETE {nf:,} rows in {sf:.2f} s ({sf / max(sd, 1e-9):.0f}x)")


if __name__ == "__main__":
    main()
