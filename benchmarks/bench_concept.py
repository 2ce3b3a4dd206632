"""Concept drift on River's SEA stream: detection delay and false alarms, per detector and bucket.

The model is fixed: SEA's concept-0 rule (``x0 + x1 > 8``). Each stream is 20,000 rows of
concept 0 then 20,000 of variant 1, 2 or 3 (thresholds 9, 7, 9.5; an abrupt concept change),
with SEA's 10 % label noise, for 10 seeds: 30 changes, 600,000 in-control rows. The model's
0/1 errors (about 10 %, then 16-21 %) are what the detectors see.

The peer is River's Page-Hinkley with its defaults on the per-row error stream, in the same run.
Driftline's detectors run as the service runs them: hourly windows (``advance`` with the state
the last window left), rows arriving as a Poisson stream at the stated rate, buckets of N rows
or of a fixed time. Delay: rows from the change to the last row the detector had seen when it
fired (first alarm after the change: the crossing row for the CUSUM, which is checked at every
row, the last row of the bucket for River's detectors on bucket means); false alarms: alarms raised before the change,
per 10,000 in-control rows. River's detectors on bucket means are shown beside the CUSUM.

    .venv/bin/python -m benchmarks.bench_concept [--seeds 10] [--detectors cusum,page_hinkley]
"""

from __future__ import annotations

import argparse
import itertools
import time
from dataclasses import dataclass
from datetime import timedelta

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from river import drift
from river.datasets import synth

from monitor.stats.concept import Detector
from monitor.stats.concept_state import Bucket, RowBucket, advance, fresh_state
from monitor.stats.cusum import Baseline, baseline_of
from monitor.stats.performance import Task

PRE = POST = 20_000
VARIANTS = (1, 2, 3)
NOISE = 0.1
START = pd.Timestamp("2024-01-01", tz="UTC")
#: (label, bucket, rows per hour of traffic)
BUCKETS: tuple[tuple[str, Bucket, int], ...] = (
    ("1 rows", RowBucket(1), 1000),
    ("50 rows", RowBucket(50), 1000),
    ("100 rows", RowBucket(100), 1000),
    ("250 rows", RowBucket(250), 1000),
    ("500 rows", RowBucket(500), 1000),
    ("1h @ 60/h", timedelta(hours=1), 60),
    ("1h @ 300/h", timedelta(hours=1), 300),
    ("10min @ 1000/h", timedelta(minutes=10), 1000),
    ("1h @ 500/h", timedelta(hours=1), 500),
)


def sea_errors(variant: int, seed: int, n: int) -> NDArray[np.float64]:
    """The fixed concept-0 model's 0/1 errors on ``n`` rows of SEA ``variant``."""
    rows = itertools.islice(synth.SEA(variant=variant, noise=NOISE, seed=seed), n)
    return np.fromiter(((x[0] + x[1] > 8.0) != y for x, y in rows), dtype=np.float64, count=n)


@dataclass(frozen=True)
class Stream:
    errors: NDArray[np.float64]
    change: int  # index of the first row of the new concept


def streams(seeds: int) -> list[Stream]:
    return [Stream(np.concatenate([sea_errors(0, seed, PRE), sea_errors(v, 10_000 + 7 * seed + v, POST)]), PRE)
            for seed in range(seeds) for v in VARIANTS]


@dataclass(frozen=True)
class Score:
    delays: list[float]  # inf where missed
    false_alarms: int
    in_control_rows: int

    def row(self) -> tuple[float, float, float, int]:
        d = np.asarray(self.delays)
        return (float(np.median(d)), float(np.mean(np.isinf(d))), 1e4 * self.false_alarms / self.in_control_rows,
                int(np.isinf(d).sum()))


def score(detections: list[list[int]], data: list[Stream]) -> Score:
    delays, fa = [], 0
    for found, s in zip(detections, data, strict=True):
        fa += sum(i < s.change for i in found)
        after = [i - s.change for i in found if i >= s.change]
        delays.append(float(after[0]) if after else float("inf"))
    return Score(delays, fa, sum(s.change for s in data))


def page_hinkley_per_row(data: list[Stream]) -> Score:
    out = []
    for s in data:
        ph, found = drift.PageHinkley(), []
        for i, e in enumerate(s.errors.tolist()):
            ph.update(e)
            if ph.drift_detected:
                found.append(i)
        out.append(found)
    return score(out, data)


def times(n: int, rows_per_hour: int, seed: int) -> NDArray[np.int64]:
    gaps = np.random.default_rng(seed).exponential(3600e9 / rows_per_hour, n)
    return np.asarray(START.value + np.cumsum(gaps), dtype=np.int64)


def driftline(detector: Detector, bucket: Bucket, rows_per_hour: int, data: list[Stream],
              reference: Baseline | None) -> Score:
    out = []
    for k, s in enumerate(data):
        ts = times(s.errors.size, rows_per_hour, k)
        stamps = pd.DatetimeIndex(ts, tz="UTC")
        state = fresh_state(detector, bucket, 1, reference)
        found: list[int] = []
        hours = int((ts[-1] - START.value) // 3600e9) + 2
        bounds = np.searchsorted(ts, START.value + np.arange(hours + 1) * 3_600_000_000_000)
        for h in range(hours):
            lo, hi = bounds[h], bounds[h + 1]
            end = (START + pd.Timedelta(hours=h + 1)).to_pydatetime()
            step = advance(state, stamps[lo:hi], s.errors[lo:hi], end=end, bucket=bucket, task=Task.CLASSIFICATION)
            state = step.state
            found.extend(int(np.searchsorted(ts, pd.Timestamp(a).value // 1000 * 1000)) for a in step.alarms)
        out.append(found)
    return score(out, data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--detectors", default=",".join(Detector),
                        help="comma-separated (cusum, page_hinkley, adwin, kswin, hddm_a, hddm_w)")
    parser.add_argument("--buckets", default=",".join(b[0] for b in BUCKETS))
    args = parser.parse_args()
    t0 = time.perf_counter()
    data = streams(args.seeds)
    # The reference: 20,000 rows of concept 0 that the streams never use (another seed).
    reference = baseline_of(Task.CLASSIFICATION, sea_errors(0, 99_999, 20_000))
    print(f"SEA, fixed concept-0 model, {len(data)} changes ({args.seeds} seeds x variants {VARIANTS}), "
          f"noise {NOISE}; reference error rate {reference.mean if reference else float('nan'):.4f}")
    print(f"{'detector':<14} {'bucket':<16} {'median delay':>12} {'missed':>7} {'false alarms/10k':>17}")
    peer = page_hinkley_per_row(data)
    med, _, far, missed = peer.row()
    print(f"{'river PH/row':<14} {'1 row (peer)':<16} {med:>12.0f} {missed:>7d} {far:>17.3f}")
    wanted = set(args.buckets.split(","))
    for name in args.detectors.split(","):
        detector = Detector(name)
        for label, bucket, rate in BUCKETS:
            if label not in wanted or (detector is not Detector.CUSUM and bucket == RowBucket(1)):
                continue  # River on one-row "means" is the peer's own setting
            got = driftline(detector, bucket, rate, data, reference)
            med, _, far, missed = got.row()
            ok = "ok" if med <= peer.row()[0] and far <= max(peer.row()[2], 0.05) and missed == 0 else "--"
            print(f"{name:<14} {label:<16} {med:>12.0f} {missed:>7d} {far:>17.3f}  {ok}", flush=True)
    print(f"({time.perf_counter() - t0:.0f} s)")


if __name__ == "__main__":
    main()
