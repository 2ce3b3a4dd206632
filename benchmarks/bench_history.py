"""Reads that stay flat as history grows: ``/metrics``, the read API and ingest at 1k-300k stored runs.

On PostgreSQL (a schema of its own, dropped after), with 50 monitors x 100 features: history is
grown in steps (runs inserted by SQL in bulk, each monitor's newest run saved through the store
with every feature result; predictions of one model generated in SQL), and at each step the
real ASGI app is asked, in process, for

- ``GET /metrics`` (the snapshot read + render),
- ``GET /v1/monitors``,
- ``GET /v1/monitors/{name}/runs?limit=1000``,

and ``Store.ingest_predictions`` is timed with 10,000-row batches into the log that grew. The peer, in the same run, is
what the scrape did before revision 0006: ``count(*)`` over every prediction table and the
grouped aggregate over every stored run (``monitor.storage.aggregates``).

Usage: ``python benchmarks/bench_history.py [--levels 1000,10000,100000,300000] [--predictions 10000000]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import numpy as np
import pandas as pd
import sqlalchemy as sa
from asgi_lifespan import LifespanManager
from pydantic import SecretStr

from benchmarks.bench_metrics import bench_schema, make_run
from monitor.app import create_app
from monitor.config import DriftlineConfig, Settings
from monitor.storage import Store
from monitor.storage.aggregates import row_counts, run_aggregates
from monitor.storage.layout import table_name
from monitor.storage.partitions import Partitions

T0 = datetime(2026, 1, 1, tzinfo=UTC)

_RUNS_SQL = """
INSERT INTO runs (id, monitor, model, status, window_start, window_end, rows, started_at, finished_at,
                  duration_seconds, reference_version, error, dataset_drift_share, dataset_drifted_features,
                  dataset_total_features, dataset_drift, dataset_threshold, labelled_rows, label_coverage,
                  concept_drift, concept_change_points)
SELECT md5(p.tag || g::text), 'm' || lpad((g % p.m)::text, 2, '0'), 'm' || lpad((g % p.m)::text, 2, '0'),
       CASE WHEN g % 5 = 0 THEN 'drift' WHEN g % 17 = 0 THEN 'insufficient_data' ELSE 'ok' END,
       p.t0 + (g / p.m) * interval '1 minute', p.t0 + (g / p.m + 1) * interval '1 minute', 1000,
       p.t0 + (g / p.m + 1) * interval '1 minute', p.t0 + (g / p.m + 1) * interval '1 minute' + interval '300 ms',
       0.3, 1, NULL, 0.1, 10, 100, false, 0.5, 0, NULL, NULL, '[]'
FROM (SELECT CAST(:tag AS text) AS tag, CAST(:monitors AS bigint) AS m, CAST(:t0 AS timestamptz) AS t0) AS p,
     generate_series(CAST(:first AS bigint), CAST(:last AS bigint)) AS g
"""

_RECOUNT_SQL = [
    "DELETE FROM run_counters",
    "INSERT INTO run_counters (monitor, status, bucket, runs, duration_sum, last_window_end) "
    "SELECT monitor, status, 3, count(*), sum(duration_seconds), max(window_end) FROM runs GROUP BY monitor, status",
]


def timed(fn, rounds: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times) * 1e3, statistics.median(times) * 1e3


async def atimed(fn, rounds: int) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        response = await fn()
        times.append(time.perf_counter() - t)
        assert response.status_code == 200, response.text[:200]
    return min(times) * 1e3, statistics.median(times) * 1e3


def prediction_frame(n: int, start: int, features: list[str], rng: np.random.Generator) -> pd.DataFrame:
    data = {f: rng.normal(size=n) for f in features[:10]}
    return pd.DataFrame({"prediction_id": [f"x{start + i}" for i in range(n)],
                         "timestamp": pd.Timestamp(T0) + pd.to_timedelta(np.arange(n), unit="s"),
                         "prediction": rng.normal(size=n), **data})


async def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--monitors", type=int, default=50)
    ap.add_argument("--features", type=int, default=100)
    ap.add_argument("--levels", default="1000,10000,100000,300000")
    ap.add_argument("--predictions", type=int, default=10_000_000, help="rows added to one model's log after the "
                    "run levels (0: skip)")
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args()
    levels = [int(x) for x in args.levels.split(",")]
    tag = uuid.uuid4().hex  # run ids: md5(tag || n)
    with bench_schema() as url:
        features = [f"f{k:03d}" for k in range(args.features)]
        config = DriftlineConfig.model_validate({"monitors": [
            {"name": f"m{i:02d}", "model": f"m{i:02d}", "every": "15m", "window": {"last": "15m"},
             "schema": {"numerical": features, "target": None}} for i in range(args.monitors)]})
        store = Store.from_url(url, config)
        rng = np.random.default_rng(0)
        settings = Settings(api_keys=SecretStr("bench-key-0123456789abcdef"), scheduler=False)
        app = create_app(settings, config, store=store)
        rows: list[str] = []
        try:
            store.upgrade()
            async with LifespanManager(app), httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                                              base_url="http://bench") as client:
                stored, ingested = 0, 0
                steps = [(n, 0) for n in levels] + ([(levels[-1], args.predictions)] if args.predictions else [])
                for n_runs, n_predictions in steps:
                    if n_runs > stored:
                        with store.engine.begin() as conn:
                            conn.execute(sa.text(_RUNS_SQL), {"tag": tag, "monitors": args.monitors, "t0": T0,
                                                              "first": stored, "last": n_runs - args.monitors - 1})
                            for sql in _RECOUNT_SQL:
                                conn.exec_driver_sql(sql)
                            # What autovacuum does after history accrues; bulk-inserted by SQL in a
                            # second, the runs would otherwise be planned with an empty table's statistics.
                            conn.exec_driver_sql("ANALYZE runs")
                            conn.exec_driver_sql("ANALYZE feature_results")
                        newest = T0 + timedelta(days=400 + n_runs)  # each monitor's latest run, with every feature
                        for m in config.monitors:
                            run = make_run(m.name, features, 0)
                            store.save_run(run.__class__(**{**{f: getattr(run, f) for f in run.__dataclass_fields__},
                                                            "window_start": newest, "window_end": newest}))
                        stored = n_runs
                    if n_predictions > ingested:
                        table = table_name("m00")
                        # The log is partitioned by day: the days the generated rows fall in first.
                        first_day = (T0 - datetime(1970, 1, 1, tzinfo=UTC)).days
                        Partitions(store.engine).ensure(table, range(first_day, first_day + n_predictions // 86_400 + 2))
                        with store.engine.begin() as conn:
                            conn.exec_driver_sql(
                                f"INSERT INTO {table} (prediction_id, ts, prediction, "
                                + ", ".join(f'"{f}"' for f in features[:10]) + ") "
                                "SELECT 'g' || g, timestamp '2026-01-01' + g * interval '1 second', random(), "
                                + ", ".join("random()" for _ in features[:10])
                                + f" FROM generate_series(1, {n_predictions}) AS g")
                            conn.exec_driver_sql(f"UPDATE ingest_counters SET rows = rows + {n_predictions} "
                                                 "WHERE model = 'm00'")
                            conn.exec_driver_sql(f"ANALYZE {table}")
                        ingested = n_predictions
                    metrics = await atimed(lambda: client.get("/metrics"), args.rounds)
                    monitors = await atimed(lambda: client.get("/v1/monitors"), args.rounds)
                    runs = await atimed(lambda: client.get("/v1/monitors/m00/runs", params={"limit": 1000}), args.rounds)
                    names = [m.name for m in config.monitors]
                    meta = sa.MetaData()
                    with store.engine.connect() as conn:  # reflected once, outside the timing
                        tables = {m: sa.Table(table_name(m), meta, autoload_with=conn) for m in names}

                    def old_scrape() -> None:
                        with store.engine.connect() as conn, sa.orm.Session(conn) as session:
                            run_aggregates(session, names)
                            row_counts(session, tables)

                    peer = timed(old_scrape, max(3, args.rounds // 3))
                    batch = prediction_frame(10_000, 10_000_000_000 + stored + ingested, features, rng)
                    t = time.perf_counter()
                    store.ingest_predictions("m00", batch)  # into the log that grew
                    ingest_rate = len(batch) / (time.perf_counter() - t)
                    rows.append(f"| {stored:,} | {ingested:,} | {metrics[0]:.1f} / {metrics[1]:.1f} | "
                                f"{peer[0]:.1f} / {peer[1]:.1f} | {monitors[0]:.1f} / {monitors[1]:.1f} | "
                                f"{runs[0]:.1f} / {runs[1]:.1f} | {ingest_rate:,.0f} |")
                    print(rows[-1], flush=True)
        finally:
            store.dispose()
    print(f"\n# {args.monitors} monitors x {args.features} features, PostgreSQL, load {os.getloadavg()[0]:.1f}; "
          "best / median ms\n")
    print("| stored runs | stored predictions | GET /metrics | peer: the scans the scrape did before 0006 | "
          "GET /v1/monitors | GET runs?limit=1000 | ingest rows/s (10k batch) |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print(row)


if __name__ == "__main__":
    asyncio.run(main())
