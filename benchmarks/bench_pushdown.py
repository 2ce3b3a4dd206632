"""Pushdown against reading rows: one window's run on PostgreSQL and on Parquet (DuckDB), side by side.

``python -m benchmarks.bench_pushdown --table-rows 2000000 --window-rows 1000000`` builds a
prediction table of ``--table-rows`` rows x 20 features (14 floats: normal, lognormal,
zero-inflated; 3 few-distinct integers; 3 text categories) and a prediction, in PostgreSQL
(COPY, into a schema of its own, dropped afterwards) and as one Parquet file; the window is the
last ``--window-rows`` rows by time. Each measurement runs in a fresh process (so its peak RSS is
its own): the reference bundle is fitted from 200k rows in that process first, then the run is
timed, rows (the source's read + ``evaluate``) or pushdown (``evaluate_pushdown``). Printed: wall
time of the run, the process's peak RSS (``ru_maxrss``) and its RSS before the run, what came
back from the engine (rows mode: the frame's deep memory; pushdown: the aggregate result rows),
and whether the verdicts are equal. No target, so pushdown reads no rows.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

PG = os.environ.get("DRIFTLINE_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
T0 = datetime(2026, 11, 1, tzinfo=UTC)
FLOATS = [f"f{i}" for i in range(14)]
INTS = ["i0", "i1", "i2"]
CATS = ["c0", "c1", "c2"]


def frame(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {}
    for i, name in enumerate(FLOATS):
        kind = i % 3
        if kind == 0:
            data[name] = rng.normal(shift * (i == 0), 1.0, n)
        elif kind == 1:
            data[name] = rng.lognormal(0.0, 1.0, n)
        else:
            data[name] = np.where(rng.random(n) < 0.6, 0.0, rng.exponential(1.0, n))
    for name in INTS:
        data[name] = rng.integers(0, 4, n)
    for name in CATS:
        data[name] = np.array(["a", "b", "c", "d", "e"])[rng.integers(0, 5, n)]
    data["prediction"] = np.array(["yes", "no"])[rng.integers(0, 2, n)]
    return pd.DataFrame(data)


def config(source: dict[str, object], reference: str, pushdown: bool) -> dict[str, object]:
    return {"monitors": [{
        "name": "bench", "model": "m", "every": "1h", "window": {"rows": 0}, "min_rows": 10,
        "schema": {"numerical": FLOATS + INTS, "categorical": CATS, "prediction": "prediction", "target": None},
        "source": {**source, **({"pushdown": True} if pushdown else {})},
        "reference": {"type": "file", "path": reference}}]}


def child(spec: dict[str, object]) -> None:
    """One measurement, in this (fresh) process; prints one JSON line."""
    from monitor.config import DriftlineConfig
    from monitor.domain import Run, RunStatus, WindowSpec
    from monitor.run.evaluate import evaluate, fit_reference
    from monitor.run.pushdown import evaluate_pushdown
    from monitor.sources import FileSource, SqlEngines, SqlTableSource

    cfg = config(spec["source"], spec["reference"], spec["mode"] == "pushdown")  # type: ignore[arg-type]
    cfg["monitors"][0]["window"] = {"rows": spec["window_rows"]}  # type: ignore[index]
    monitor = DriftlineConfig.model_validate(cfg).monitors[0].to_domain()
    bundle = fit_reference(monitor, pd.read_parquet(str(spec["reference"])))
    src = monitor.source
    source = SqlTableSource(src, SqlEngines()) if spec["engine"] == "postgresql" else FileSource(src)  # type: ignore[arg-type]
    window = WindowSpec(end=T0 + timedelta(days=400), rows=int(spec["window_rows"]))  # type: ignore[call-overload]
    run = Run(id="b", monitor="bench", model="m", status=RunStatus.OK, window_start=None, window_end=window.end,
              rows=0, started_at=T0, finished_at=T0)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    if spec["mode"] == "pushdown":
        from monitor.sources import pushdown as pd_mod

        returned: list[int] = []
        original = pd_mod._summaries

        def counting(plan, rows, n_rows):  # type: ignore[no-untyped-def]
            returned.append(len(rows))
            return original(plan, rows, n_rows)

        pd_mod._summaries = counting  # type: ignore[assignment]
        out = evaluate_pushdown(monitor, bundle, source, window, run, src.pushdown).run  # type: ignore[arg-type,union-attr]
        transferred = f"{sum(returned):,} aggregate rows"
    else:
        try:
            rows = source.read(monitor, window)
        except Exception as exc:
            raise SystemExit(f"read failed: {exc.__cause__!r}") from exc
        transferred = f"{rows.memory_usage(deep=True).sum() / 2**20:,.0f} MiB frame"
        out = evaluate(monitor, bundle, rows, run)
    seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    verdicts = {f.column: f.drifted for f in out.features}
    print(json.dumps({"seconds": seconds, "peak_mib": peak / 1024, "before_mib": before / 1024,
                      "transferred": transferred, "rows": out.rows, "verdicts": verdicts,
                      "dataset": out.dataset.dataset_drift if out.dataset else None}))


def build(table_rows: int, folder: Path) -> tuple[str, str, str, str]:
    import sqlalchemy as sa

    ref = frame(200_000, 1)
    ref_path = folder / "reference.parquet"
    ref.to_parquet(ref_path, index=False)
    log = frame(table_rows, 2, shift=0.2)
    log.insert(0, "timestamp", pd.Timestamp(T0) + pd.to_timedelta(np.arange(table_rows), unit="s"))
    log.insert(0, "prediction_id", np.char.add("p", np.arange(table_rows).astype(str)))
    parquet = folder / "log.parquet"
    log.to_parquet(parquet, index=False, row_group_size=500_000)
    schema = f"bench_pushdown_{os.getpid()}"
    engine = sa.create_engine(PG)
    cols = ", ".join([*(f"{c} double precision" for c in FLOATS), *(f"{c} bigint" for c in INTS),
                      *(f"{c} text" for c in CATS)])
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
        conn.exec_driver_sql(f"CREATE TABLE {schema}.log (prediction_id text, ts timestamptz, {cols}, prediction text)")
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        with cursor.copy(f"COPY {schema}.log FROM STDIN") as copy:  # type: ignore[attr-defined]
            for start in range(0, table_rows, 200_000):
                buf = io.StringIO()
                log.iloc[start:start + 200_000].to_csv(buf, sep="\t", header=False, index=False)
                copy.write(buf.getvalue())
        raw.commit()
    finally:
        raw.close()
    with engine.begin() as conn:
        conn.exec_driver_sql(f"CREATE INDEX ON {schema}.log (ts)")
        conn.exec_driver_sql(f"ANALYZE {schema}.log")
    engine.dispose()
    url = sa.make_url(PG).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    return schema, url, str(parquet), str(ref_path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table-rows", type=int, default=2_000_000)
    parser.add_argument("--window-rows", type=int, default=1_000_000)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(args.child))
        return
    import sqlalchemy as sa

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        schema, url, parquet, ref = build(args.table_rows, Path(tmp))
        print(f"built {args.table_rows:,} rows x 20 features in PostgreSQL and Parquet in "
              f"{time.perf_counter() - started:.0f} s; window: the last {args.window_rows:,} rows")
        try:
            sources = {"postgresql": {"type": "sql", "url": url, "table": "log", "columns": {"timestamp": "ts"}},
                       "duckdb": {"type": "files", "path": parquet}}
            rows = []
            for engine, source in sources.items():
                results = {}
                for mode in ("rows", "pushdown"):
                    spec = {"engine": engine, "mode": mode, "source": source, "reference": ref,
                            "window_rows": args.window_rows}
                    out = subprocess.run([sys.executable, "-m", "benchmarks.bench_pushdown", "--child",
                                          json.dumps(spec)], capture_output=True, text=True)
                    if out.returncode:
                        raise SystemExit(f"{engine} {mode} failed:\n{out.stderr[-3000:]}")
                    results[mode] = json.loads(out.stdout.strip().splitlines()[-1])
                equal = results["rows"]["verdicts"] == results["pushdown"]["verdicts"] and \
                    results["rows"]["dataset"] == results["pushdown"]["dataset"]
                rows.append((engine, results, equal))
        finally:
            engine_ = sa.create_engine(PG)
            with engine_.begin() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
            engine_.dispose()
    print(f"\nload average {os.getloadavg()[0]:.2f}\n")
    print("| engine | mode | run s | peak RSS MiB | RSS before the run MiB | from the engine | verdicts equal |")
    print("|---|---|---:|---:|---:|---|---|")
    for engine, results, equal in rows:
        for mode in ("rows", "pushdown"):
            r = results[mode]
            print(f"| {engine} | {mode} | {r['seconds']:.2f} | {r['peak_mib']:,.0f} | {r['before_mib']:,.0f} | "
                  f"{r['transferred']} | {equal} |")
        a, b = results["rows"], results["pushdown"]
        print(f"| {engine} | rows / pushdown | {a['seconds'] / b['seconds']:.1f}x | "
              f"{(a['peak_mib'] - a['before_mib']) / max(b['peak_mib'] - b['before_mib'], 1):.1f}x (above the "
              f"pre-run RSS) | | | |")


if __name__ == "__main__":
    main()
