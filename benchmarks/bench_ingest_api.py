"""Ingest through the real HTTP API into SQLite and PostgreSQL: rows/s end to end.

`driftline serve`'s app (uvicorn on loopback, scheduler off) receives 10,000-row batches of
20 features in each format, over HTTP from a client in the same machine; each batch has fresh
prediction ids, so every row is written. The peer, measured in the same run, is the naive
service a team would write first: per-row pydantic validation and ``pandas.to_sql`` into the
same database (no HTTP), which is the cost the API replaces.

Usage: ``python benchmarks/bench_ingest_api.py [--batches 10] [--rows 10000] [--features 20]``
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import sqlalchemy as sa
import uvicorn

from benchmarks.bench_ingest import encode, make_batch, pydantic_rows, row_model, to_frame
from monitor import ingest
from monitor.app import create_app
from monitor.config import Settings

CONTENT_TYPES = {ingest.Format.JSON: "application/json", ingest.Format.NDJSON: "application/x-ndjson",
                 ingest.Format.CSV: "text/csv", ingest.Format.PARQUET: "application/vnd.apache.parquet"}
KEY = "bench-key-0123456789"


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench(url: str, label: str, args: argparse.Namespace) -> list[str]:
    frame, config = make_batch(args.rows, args.features)
    settings = Settings(database_url=url, api_keys=KEY, scheduler=False)  # type: ignore[arg-type]
    port = _port()
    server = uvicorn.Server(uvicorn.Config(create_app(settings, config), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    lines = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=120,
                          headers={"Authorization": f"Bearer {KEY}"}) as client:
            for _ in range(100):
                try:
                    if client.get("/readyz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            for fmt, ctype in CONTENT_TYPES.items():
                bodies = []
                for b in range(args.batches):
                    batch = frame.assign(prediction_id=[f"{fmt}-{b}-{uuid.uuid4().hex[:6]}-{i}"
                                                        for i in range(len(frame))])
                    bodies.append(encode(batch)[fmt])
                start = time.perf_counter()
                for body in bodies:
                    r = client.post("/v1/models/bench/predictions", content=body, headers={"Content-Type": ctype})
                    r.raise_for_status()
                    assert r.json()["accepted"] == args.rows, r.text
                seconds = time.perf_counter() - start
                lines.append(f"| {label} | API, {fmt} | {args.rows * args.batches / seconds:,.0f} |")
        # the peer: per-row pydantic + pandas.to_sql into the same database, no HTTP
        model = row_model(config)
        body = encode(frame)[ingest.Format.JSON]
        engine = sa.create_engine(url)
        start = time.perf_counter()
        for b in range(max(1, args.batches // 2)):
            rows = to_frame(pydantic_rows(model, ingest.Format.JSON, body), now=datetime.now(UTC))
            rows["prediction_id"] = [f"peer-{b}-{i}" for i in range(len(rows))]
            rows.to_sql("peer_predictions", engine, if_exists="append", index=False, method="multi",
                        chunksize=1000)
        seconds = time.perf_counter() - start
        engine.dispose()
        lines.append(f"| {label} | pydantic per row + pandas.to_sql, json | "
                     f"{args.rows * max(1, args.batches // 2) / seconds:,.0f} |")
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batches", type=int, default=10)
    ap.add_argument("--rows", type=int, default=10_000)
    ap.add_argument("--features", type=int, default=20)
    args = ap.parse_args()
    print(f"# {os.cpu_count()} CPUs; {args.batches} batches of {args.rows:,} rows x {args.features} features\n")
    print("| database | path | rows/s |")
    print("|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for line in bench(f"sqlite:///{tmp}/bench.db", "SQLite", args):
            print(line, flush=True)
    admin_url = os.environ.get("DRIFTLINE_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    schema = f"bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        url = sa.make_url(admin_url).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
            hide_password=False)
        for line in bench(url, "PostgreSQL", args):
            print(line, flush=True)
    finally:
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


if __name__ == "__main__":
    main()
