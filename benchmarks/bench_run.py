"""One scheduled run over a 100k-row x 50-feature window on PostgreSQL: read + compute + write.

Driftline's run (``MonitorService.run_at``: binary COPY read, check against the cached profile,
one transaction for the run and its results) against the naive peer on the same rows:
``pandas.read_sql`` of the window plus Evidently's DataDriftPreset. Needs the PostgreSQL of the
development machine (``DRIFTLINE_BENCH_POSTGRES_URL``, default the local ``test`` database); it
works in a schema of its own and drops it afterwards.

Usage: ``python benchmarks/bench_run.py [--rows 100000] [--features 50] [--rounds 5]``
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("DO_NOT_TRACK", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd
import sqlalchemy as sa

from monitor.config import DriftlineConfig, Settings
from monitor.service import MonitorService
from monitor.storage import Store

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def frames(rows: int, features: int, seed: int, shift: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    n_num = features * 3 // 5
    data: dict[str, object] = {
        "prediction_id": [f"{seed}-{i}" for i in range(rows)],
        "timestamp": pd.date_range(T0 - timedelta(minutes=59), periods=rows, freq="30ms", tz="UTC"),
    }
    for j in range(n_num):
        data[f"n{j}"] = rng.normal(shift * (j % 3 == 0), 1.0, rows)
    for j in range(features - n_num):
        data[f"c{j}"] = rng.choice(["a", "b", "c", "d", "e"], rows).astype(object)
    data["prediction"] = rng.choice(["0", "1"], rows).astype(object)
    return pd.DataFrame(data)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--features", type=int, default=50)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--no-peer", action="store_true")
    args = ap.parse_args()
    admin_url = os.environ.get("DRIFTLINE_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = sa.make_url(admin_url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False)
    n_num = args.features * 3 // 5
    config = DriftlineConfig.model_validate({"monitors": [{
        "name": "bench", "model": "bench", "every": "1h", "window": {"last": "1h"}, "min_rows": 100,
        "schema": {"numerical": [f"n{j}" for j in range(n_num)],
                   "categorical": [f"c{j}" for j in range(args.features - n_num)], "target": None},
    }]})
    store = Store.from_url(url, config)
    try:
        store.upgrade()
        current = frames(args.rows, args.features, 1, 0.3)
        for start in range(0, args.rows, 10_000):
            store.ingest_predictions("bench", current.iloc[start:start + 10_000])
        reference = frames(args.rows, args.features, 2, 0.0)
        svc = MonitorService(Settings(scheduler=False), config, store)

        async def go() -> list[float]:
            await svc.register_reference("bench", reference, source="bench")
            times = []
            for i in range(args.rounds):
                t = time.perf_counter()
                run = await svc.run_at("bench", T0 + timedelta(microseconds=i + 1))
                times.append(time.perf_counter() - t)
                assert run.rows == args.rows, run
            return times

        ours = asyncio.run(go())
        print(f"# {os.cpu_count()} CPUs; window {args.rows:,} rows x {args.features} features on PostgreSQL\n")
        print("| pipeline | read + compute + write, best s | median s |")
        print("|---|---|---|")
        print(f"| Driftline run_at | {min(ours):.3f} | {sorted(ours)[len(ours) // 2]:.3f} |")
        if not args.no_peer:
            from tests.oracles.evidently import evidently_drift

            with store.engine.connect() as conn:
                t = time.perf_counter()
                window = pd.read_sql(sa.text('SELECT * FROM "predictions_bench"'), conn)
                read = time.perf_counter() - t
            cols = [c for c in reference.columns if c not in ("prediction_id", "timestamp")]
            t = time.perf_counter()
            evidently_drift(reference[cols], window[cols])
            compute = time.perf_counter() - t
            print(f"| pandas.read_sql + Evidently DataDriftPreset (no write) | {read + compute:.3f} | "
                  f"(read {read:.2f}, compute {compute:.2f}) |")
            print(f"\nspeed-up: {(read + compute) / min(ours):.0f}x")
    finally:
        store.dispose()
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


if __name__ == "__main__":
    main()
