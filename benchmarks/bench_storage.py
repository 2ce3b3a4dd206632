"""Driftline's store against the naive pandas way (``DataFrame.to_sql`` / ``pandas.read_sql``).

Both peers write the same pre-built 10k-row batches into the same kind of table (the model's
prediction table: primary key on prediction_id, index on ts) in the same database, alternating
batch by batch, and read the same window back. The peer does not skip duplicate ids, so it gets
only fresh batches; Driftline additionally replays a seen batch (all duplicates). The PostgreSQL
tables are ANALYZEd before reading, as autovacuum would have done. Times are wall seconds; the
read row shows the best and the median of ``--rounds``.

Usage: ``python benchmarks/bench_storage.py [--rows 100000] [--batch 10000] [--rounds 3]
[--postgres-url postgresql+psycopg://postgres@127.0.0.1:5432/test]``
"""

from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.config import DriftlineConfig
from monitor.domain import WindowSpec
from monitor.storage import Store

T0 = datetime(2024, 1, 1, tzinfo=UTC)
SHAPES = {"narrow": (10, 5), "wide": (40, 10)}  # (numerical, categorical) features per model


def config() -> DriftlineConfig:
    monitors = [{"name": name, "model": f"bench-{name}", "every": "15m",
                 "schema": {"numerical": [f"n{j}" for j in range(num)],
                            "categorical": [f"c{j}" for j in range(cat)], "prediction_score": "score"}}
                for name, (num, cat) in SHAPES.items()]
    return DriftlineConfig.model_validate({"monitors": monitors})


def batches(shape: str, rows: int, batch: int, rng: np.random.Generator) -> list[pd.DataFrame]:
    """Fresh prediction batches: normal numbers with 2% missing, short categories, one row per second."""
    num, cat = SHAPES[shape]
    out = []
    for lo in range(0, rows, batch):
        i = np.arange(lo, min(lo + batch, rows))
        data: dict[str, Any] = {"prediction_id": [f"pred-{k:010d}" for k in i],
                                "timestamp": pd.Series(T0 + pd.to_timedelta(i, unit="s"))}
        for j in range(num):
            values = rng.normal(size=len(i))
            values[rng.random(len(i)) < 0.02] = np.nan
            data[f"n{j}"] = values
        for j in range(cat):
            data[f"c{j}"] = rng.choice(["basic", "pro", "enterprise", "trial", None], size=len(i))
        data["prediction"] = rng.choice(["churn", "stay"], size=len(i))
        data["score"] = rng.random(len(i))
        out.append(pd.DataFrame(data))
    return out


@contextmanager
def postgres_database(admin_url: str) -> Iterator[str | None]:
    """A scratch database ``driftline_bench_<random>``, dropped afterwards; None if unreachable."""
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"driftline_bench_{secrets.token_hex(4)}"
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    except sa.exc.OperationalError as exc:
        print(f"PostgreSQL not reachable, skipping it: {str(exc.orig).splitlines()[0]}", file=sys.stderr)
        admin.dispose()
        yield None
        return
    try:
        yield admin.url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


def peer_table(engine: sa.Engine, store: Store, shape: str) -> str:
    """An empty copy of the model's prediction table for the peer (same keys and index)."""
    source = store._layouts[f"bench-{shape}"].table  # the benchmark may look inside
    peer = source.to_metadata(sa.MetaData(), name=f"peer_{shape}")
    for index in list(peer.indexes):
        index.name = f"ix_peer_{shape}_ts"
    peer.create(engine)
    return peer.name


def to_db_names(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.rename(columns={"timestamp": "ts"})


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def bench_backend(label: str, url: str, data: dict[str, list[pd.DataFrame]], rows: int, rounds: int,
                  table: list[tuple[str, ...]]) -> None:
    cfg = config()
    store = Store.from_url(url, cfg)
    store.upgrade()
    engine = sa.create_engine(url)
    try:
        for shape, frames in data.items():
            peer = peer_table(engine, store, shape)
            ours = theirs = 0.0
            model = f"bench-{shape}"
            for frame in frames:  # alternate, so background noise hits both alike
                seconds, result = timed(partial(store.ingest_predictions, model, frame))
                assert result.accepted == len(frame), result
                ours += seconds
                theirs += timed(partial(to_db_names(frame).to_sql, peer, engine, if_exists="append", index=False))[0]
            replay, result = timed(partial(store.ingest_predictions, model, frames[0]))
            assert result.duplicates == len(frames[0])
            n_features = sum(SHAPES[shape])
            what = f"ingest {len(frames[0])}-row batches, {n_features} features"
            table.append((what, label, "driftline", str(rows), f"{ours:.3f}", f"{rows / ours:,.0f}",
                          f"{theirs / ours:.1f}x"))
            table.append((what, label, "pandas.to_sql", str(rows), f"{theirs:.3f}", f"{rows / theirs:,.0f}", "1.0x"))
            table.append((f"replay a seen batch (all duplicates), {n_features} features", label, "driftline",
                          str(len(frames[0])), f"{replay:.3f}", f"{len(frames[0]) / replay:,.0f}", ""))
        if engine.dialect.name == "postgresql":
            with engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")
        monitor = cfg.monitor("wide").to_domain()
        window = WindowSpec(start=T0, end=T0 + timedelta(seconds=rows))
        layout = store._layouts["bench-wide"].table
        columns = ", ".join(f'"{c.name}"' for c in layout.columns)
        query = sa.text(f"SELECT {columns} FROM {layout.name} WHERE ts >= :start AND ts < :end "
                        "ORDER BY ts, prediction_id")
        ours_s: list[float] = []
        theirs_s: list[float] = []
        for _ in range(rounds):
            seconds, frame = timed(lambda: store.read_window(monitor, window))
            assert len(frame) == rows, len(frame)
            ours_s.append(seconds)
            with engine.connect() as conn:
                params: dict[str, Any] = {"start": window.start, "end": window.end}
                if engine.dialect.name == "sqlite":  # the peer must match the stored text format
                    params = {k: v.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
                              for k, v in params.items()}
                seconds, peer_frame = timed(lambda c=conn, p=params: pd.read_sql(query, c, params=p))
            assert len(peer_frame) == rows
            theirs_s.append(seconds)
        best, best_peer = min(ours_s), min(theirs_s)
        what = f"read_window {rows} rows x {sum(SHAPES['wide'])} features"
        table.append((what, label, "driftline", str(rows), f"{best:.3f} (median {statistics.median(ours_s):.3f})",
                      f"{rows / best:,.0f}", f"{best_peer / best:.1f}x"))
        table.append((what, label, "pandas.read_sql", str(rows),
                      f"{best_peer:.3f} (median {statistics.median(theirs_s):.3f})",
                      f"{rows / best_peer:,.0f}", "1.0x"))
    finally:
        engine.dispose()
        store.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgres-url", default=os.environ.get(
        "DRIFTLINE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    args = parser.parse_args()
    rng = np.random.default_rng(20240101)
    data = {shape: batches(shape, args.rows, args.batch, rng) for shape in SHAPES}
    table: list[tuple[str, ...]] = []
    with postgres_database(args.postgres_url) as pg_url:
        if pg_url is not None:
            bench_backend("postgresql", pg_url, data, args.rows, args.rounds, table)
    with tempfile.TemporaryDirectory() as tmp:
        bench_backend("sqlite", f"sqlite:///{Path(tmp) / 'bench.db'}", data, args.rows, args.rounds, table)
    header = ("operation", "database", "implementation", "rows", "seconds", "rows/s", "speed-up")
    widths = [max(len(r[i]) for r in [header, *table]) for i in range(len(header))]
    for r in [header, tuple("-" * w for w in widths), *table]:
        print(" | ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)))


if __name__ == "__main__":
    main()
