"""A run's cost against a labelled reference of 10k rows and of 1M rows: it should not grow.

In process, no database: one monitor (binary classification with a score, so the degradation
test's metric is ROC AUC; 5 numerical features, hourly performance buckets), a seeded labelled
reference fitted with :func:`monitor.run.fit_reference`, then 10,000-row labelled windows
(a fresh one each run, so nothing about the window is cached) through
:func:`monitor.run.evaluate_performance` and the full :func:`monitor.run.evaluate`.

"cold" is the first run after the fit (the reference side of the test and the reference's
concept baseline are prepared then, once per fitted bundle); "warm" is the median (and the
best) of the next runs, the reference sizes taking turns on each window. "rebuilt" is each run
with the bundle's memo of those entries emptied first, so the reference side is rebuilt from
its rows every run (an upper bound of the cost before issue 16, which did that work directly).

Usage: ``python benchmarks/bench_labelled_run.py [--refs 10000,1000000] [--window 10000] [--runs 21]``
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd

from monitor.config import DriftlineConfig
from monitor.domain import Monitor, Run, RunStatus
from monitor.run import ReferenceBundle, evaluate, evaluate_performance, fit_reference

T0 = datetime(2026, 11, 1, tzinfo=UTC)
FEATURES = [f"x{j}" for j in range(5)]


def monitor() -> Monitor:
    schema = {"numerical": FEATURES, "prediction_score": "score", "target": "label"}
    return DriftlineConfig.model_validate({"monitors": [{
        "name": "m", "model": "m", "every": "1d", "schema": schema}]}).to_domain().monitor("m")


def frame(seed: int, n: int, span: timedelta) -> pd.DataFrame:
    """Labelled rows, a score that predicts the label, timestamps spread over ``span``."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, len(FEATURES)))
    p = 1.0 / (1.0 + np.exp(-1.5 * x[:, 0] - 0.5 * x[:, 1]))
    y = np.where(rng.random(n) < p, "yes", "no").astype(object)
    data: dict[str, object] = {f: x[:, j] for j, f in enumerate(FEATURES)}
    data.update(prediction_id=[f"p{seed}-{i}" for i in range(n)],
                timestamp=pd.date_range(T0, T0 + span, periods=n, tz="UTC"),
                score=p, prediction=np.where(p > 0.5, "yes", "no").astype(object), label=y)
    return pd.DataFrame(data)


def blank(m: Monitor) -> Run:
    return Run(id="r", monitor=m.name, model=m.model, status=RunStatus.OK, window_start=None, window_end=T0,
               rows=0, started_at=T0, finished_at=T0)


def timed(call: Callable[[], object]) -> float:
    t = time.perf_counter()
    call()
    return time.perf_counter() - t


def forget(bundle: ReferenceBundle) -> None:
    """Drop what issue 16 keeps per bundle (the degradation test's reference side, the concept
    baseline); the reference's own metrics were kept before and stay."""
    for key in [k for k in bundle._memo if k.startswith(("degradation:", "baseline:"))]:
        del bundle._memo[key]


def measure(bundles: dict[int, ReferenceBundle], windows: list[pd.DataFrame],
            step: Callable[[ReferenceBundle, pd.DataFrame], object]) -> dict[int, tuple[float, float, float, float]]:
    """Per reference size: (cold, warm median, warm best, rebuilt median) seconds of ``step``.

    The sizes take turns on each window, so a change of the shared machine's load falls on both.
    """
    cold, warm, rebuilt = {}, {n: [] for n in bundles}, {n: [] for n in bundles}  # type: ignore[var-annotated]
    for n, bundle in bundles.items():
        forget(bundle)
        cold[n] = timed(lambda b=bundle: step(b, windows[0]))  # type: ignore[misc]
    for w in windows[1:]:
        for n, bundle in bundles.items():
            warm[n].append(timed(lambda b=bundle, w=w: step(b, w)))  # type: ignore[misc]
    for w in windows[1:]:
        for n, bundle in bundles.items():
            forget(bundle)
            rebuilt[n].append(timed(lambda b=bundle, w=w: step(b, w)))  # type: ignore[misc]
    return {n: (cold[n], statistics.median(warm[n]), min(warm[n]), statistics.median(rebuilt[n])) for n in bundles}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--refs", default="10000,1000000")
    ap.add_argument("--window", type=int, default=10_000)
    ap.add_argument("--runs", type=int, default=21)
    args = ap.parse_args()
    m = monitor()
    windows = [frame(100 + i, args.window, timedelta(hours=24)) for i in range(args.runs + 1)]
    bundles, fits = {}, {}
    for n in (int(v) for v in args.refs.split(",")):
        ref = frame(1, n, timedelta(days=30))
        t = time.perf_counter()
        bundles[n] = fit_reference(m, ref)
        fits[n] = time.perf_counter() - t
    print("load average before: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))
    print(f"| reference rows | call | fit s | cold s | warm s, median of {args.runs} | warm best s "
          "| rebuilt every run s, median |")
    print("|---:|---|---:|---:|---:|---:|---:|")
    steps: dict[str, Callable[[ReferenceBundle, pd.DataFrame], object]] = {
        "evaluate_performance": lambda b, w: evaluate_performance(m, b, w),
        "evaluate": lambda b, w: evaluate(m, b, w, blank(m)),
    }
    for name, step in steps.items():
        for n, (cold, warm, best, rebuilt) in measure(bundles, windows, step).items():
            print(f"| {n:,} | `{name}` | {fits[n]:.2f} | {cold:.3f} | {warm:.3f} | {best:.3f} | {rebuilt:.3f} |",
                  flush=True)
    print("load average after: {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
