"""Ingest parse + validate throughput: Driftline's vectorised reader against per-row pydantic.

The same batch (10,000 rows of ``prediction_id``, ``timestamp``, 20 features -- half numerical,
half categorical --, a prediction and a score, by default) is encoded as JSON, NDJSON, CSV and
Parquet. Each peer goes from the request body's bytes to a frame ready for the store:

- **driftline**: ``monitor.ingest.parse_batch`` (Arrow readers, column-wise checks, typed frame).
- **pydantic per row**: the naive service: decode the body (``json.loads``, a line at a time,
  ``csv.DictReader``, or Arrow's ``to_pylist``), ``Row.model_validate`` each row of a pydantic
  model generated from the same schema (``extra="forbid"``), then ``pd.DataFrame`` of the dumps.
- **pydantic list (JSON)**: pydantic's fastest path, ``TypeAdapter(list[Row]).validate_json``
  on the whole body (Rust end to end), then the frame.

A last line times a JSON batch with 1% bad rows, which both must reject with every error. Times
are the median of ``--rounds`` alternating rounds in one process; the database is not involved
(see the storage benchmark).

Usage: ``python benchmarks/bench_ingest.py [--rows 10000] [--features 20] [--rounds 7]``
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from pydantic import BaseModel, ConfigDict, TypeAdapter, ValidationError, create_model

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor import ingest
from monitor.config import DriftlineConfig


def make_batch(rows: int, features: int, seed: int = 0) -> tuple[pd.DataFrame, DriftlineConfig]:
    rng = np.random.default_rng(seed)
    numerical = [f"num_{i}" for i in range(features // 2)]
    categorical = [f"cat_{i}" for i in range(features - len(numerical))]
    start = datetime(2025, 3, 1, tzinfo=UTC)
    data: dict[str, Any] = {
        "prediction_id": [f"req-{i:08d}" for i in range(rows)],
        "timestamp": [(start + timedelta(milliseconds=250 * i)).isoformat() for i in range(rows)],
    }
    for name in numerical:
        values = rng.normal(50, 10, rows).round(4)
        values[rng.random(rows) < 0.02] = np.nan  # some missing values, as in real logs
        data[name] = values
    for name in categorical:
        data[name] = rng.choice(["alpha", "beta", "gamma", "delta", "epsilon"], rows)
    data["prediction"] = rng.choice(["stay", "churn"], rows)
    data["score"] = rng.random(rows).round(6)
    config = DriftlineConfig.model_validate({"monitors": [{
        "name": "bench", "model": "bench", "every": "1h",
        "schema": {"numerical": numerical, "categorical": categorical, "prediction_score": "score"},
    }]})
    return pd.DataFrame(data), config


def records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    return [{k: (None if isinstance(v, float) and v != v else v) for k, v in r.items()}
            for r in frame.to_dict("records")]


def encode(frame: pd.DataFrame) -> dict[ingest.Format, bytes]:
    rows = records(frame)
    parquet = io.BytesIO()
    frame.to_parquet(parquet, index=False)
    return {
        ingest.Format.JSON: json.dumps(rows).encode(),
        ingest.Format.NDJSON: "".join(json.dumps(r) + "\n" for r in rows).encode(),
        ingest.Format.CSV: frame.to_csv(index=False).encode(),
        ingest.Format.PARQUET: parquet.getvalue(),
    }


def row_model(config: DriftlineConfig) -> type[BaseModel]:
    s = config.monitors[0].schema_
    fields: dict[str, Any] = {
        "prediction_id": (str | int, ...),
        "timestamp": (datetime | None, None),
        "prediction": (str | int | bool, ...),
        "score": (float | None, None),
        "label": (str | int | bool | None, None),
    }
    fields |= {n: (float | None, None) for n in s.numerical}
    fields |= {n: (str | int | bool | None, None) for n in s.categorical}
    return create_model("Row", __config__=ConfigDict(extra="forbid"), **fields)


def pydantic_rows(model: type[BaseModel], fmt: ingest.Format, body: bytes) -> list[BaseModel]:
    if fmt is ingest.Format.JSON:
        return [model.model_validate(r) for r in json.loads(body)]
    if fmt is ingest.Format.NDJSON:
        return [model.model_validate_json(line) for line in body.splitlines() if line.strip()]
    if fmt is ingest.Format.CSV:
        reader = csv.DictReader(io.StringIO(body.decode()))
        return [model.model_validate({k: (v if v != "" else None) for k, v in r.items()}) for r in reader]
    return [model.model_validate(r) for r in pq.read_table(io.BytesIO(body)).to_pylist()]


def to_frame(models: list[BaseModel], now: datetime) -> pd.DataFrame:
    frame = pd.DataFrame([m.model_dump() for m in models])
    frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True).fillna(pd.Timestamp(now))
    return frame


def median_seconds(fn: Callable[[], Any], rounds: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(rounds):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def rejected(fn: Callable[[], Any]) -> Callable[[], int]:
    def run() -> int:
        try:
            fn()
        except ingest.BatchInvalid as exc:
            return exc.total
        raise AssertionError("the bad batch was accepted")
    return run


def pydantic_errors(model: type[BaseModel], body: bytes) -> int:
    errors = 0
    for r in json.loads(body):
        try:
            model.model_validate(r)
        except ValidationError as exc:
            errors += exc.error_count()
    if not errors:
        raise AssertionError("the bad batch was accepted")
    return errors


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--features", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()

    frame, config = make_batch(args.rows, args.features)
    spec = ingest.prediction_spec(config, "bench")
    model = row_model(config)
    adapter = TypeAdapter(list[model])  # type: ignore[valid-type]
    now = datetime.now(UTC)
    n = args.rows
    print(f"{n} rows x {args.features} features (+ id, timestamp, prediction, score); "
          f"median of {args.rounds} rounds\n")
    print("| format | body | driftline rows/s | pydantic per row rows/s | speedup |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for fmt, body in encode(frame).items():
        ours_times, peer_times = [], []
        for _ in range(args.rounds):  # alternate the peers round by round
            t, out = median_seconds(lambda: ingest.parse_batch(body, fmt, spec, now=now), 1)
            assert len(out) == n
            ours_times.append(t)
            t, out = median_seconds(lambda: to_frame(pydantic_rows(model, fmt, body), now), 1)
            assert len(out) == n
            peer_times.append(t)
        ours_s, peer_s = statistics.median(ours_times), statistics.median(peer_times)
        print(f"| {fmt} | {len(body) / 2**20:.1f} MiB | {n / ours_s:,.0f} | {n / peer_s:,.0f} "
              f"| {peer_s / ours_s:.1f}x |")

    body = encode(frame)[ingest.Format.JSON]
    list_s, out = median_seconds(lambda: to_frame(adapter.validate_json(body), now), args.rounds)
    ours_s, _ = median_seconds(lambda: ingest.parse_batch(body, ingest.Format.JSON, spec, now=now), args.rounds)
    print(f"| json vs pydantic list (validate_json) | | {n / ours_s:,.0f} | {n / list_s:,.0f} "
          f"| {list_s / ours_s:.1f}x |")

    bad = frame.copy()
    bad["num_0"] = bad["num_0"].astype(object)
    bad.loc[bad.index[::100], "num_0"] = "n/a"  # 1% of rows: text in a numerical feature
    bad_body = json.dumps(records(bad)).encode()
    ours_s, ours_errors = median_seconds(rejected(lambda: ingest.parse_batch(bad_body, ingest.Format.JSON, spec,
                                                                             now=now)), args.rounds)
    peer_s, peer_errors = median_seconds(lambda: pydantic_errors(model, bad_body), args.rounds)
    print(f"| json, 1% bad rows (rejected: {ours_errors} / {peer_errors} errors) | | {n / ours_s:,.0f} "
          f"| {n / peer_s:,.0f} | {peer_s / ours_s:.1f}x |")


if __name__ == "__main__":
    main()
