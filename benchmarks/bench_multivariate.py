"""Multivariate drift methods: time and peak memory at 10k, 100k and 1M rows x 50 features.

Each method is timed on a reference and a window of the same size (fit + test), its peak
traced memory measured with tracemalloc (NumPy's allocations are traced). MMD is compared in the
same run with a plain O(n²) implementation (the full Gaussian kernel matrix of the pooled
sample and a permutation test on it, as Evidently's ``empirical_mmd`` does) at the sizes where
that matrix fits in memory. Run: ``.venv/bin/python -m benchmarks.bench_multivariate [--sizes 10000,100000]``.
"""

from __future__ import annotations

import argparse
import os
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy.spatial.distance import cdist

from monitor.stats.multivariate import MultivariateMethod, fit_multivariate, multivariate_check

FEATURES = 50


def frame(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """50 numerical features in 10 correlated blocks of 5."""
    base = rng.normal(size=(n, 10))
    x = np.repeat(base, 5, axis=1) + 0.5 * rng.normal(size=(n, FEATURES))
    return pd.DataFrame(x, columns=[f"f{i:02d}" for i in range(FEATURES)])


def measure(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    tracemalloc.start()
    start = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return seconds, peak / 2**20, out


def exact_mmd(x: np.ndarray, y: np.ndarray, permutations: int, rng: np.random.Generator) -> tuple[float, float]:
    """The plain O(n²) peer: Gaussian kernel matrix (median heuristic), V-statistic MMD², permutation p-value."""
    z = np.vstack([x, y]).astype(np.float32)
    d2 = cdist(z, z, "sqeuclidean").astype(np.float32)
    sigma2 = float(np.median(d2[:1000, :1000])) / 2.0
    k = np.exp(-d2 / (2 * sigma2))
    del d2
    n = x.shape[0]

    def stat(idx: np.ndarray) -> float:
        a, b = idx[:n], idx[n:]
        return float(k[np.ix_(a, a)].mean() + k[np.ix_(b, b)].mean() - 2 * k[np.ix_(a, b)].mean())

    observed = stat(np.arange(z.shape[0]))
    null = [stat(rng.permutation(z.shape[0])) for _ in range(permutations)]
    return observed, (1 + sum(v >= observed for v in null)) / (permutations + 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--exact-max", type=int, default=5000, help="largest per-side size for the O(n²) peer")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print("| rows per side | method | fit + test (s) | peak traced memory (MiB) | statistic | drifted |")
    print("| --- | --- | --- | --- | --- | --- |")
    for n in [int(s) for s in args.sizes.split(",")]:
        rng = np.random.default_rng(n)
        reference, current = frame(n, rng), frame(n, rng)
        for method in MultivariateMethod:
            def run(method: MultivariateMethod = method) -> Any:
                fitted = fit_multivariate(reference, numerical=list(reference.columns), methods=[method])
                return multivariate_check(fitted, current)[0]
            seconds, mib, result = measure(run)
            print(f"| {n:,} | {method} | {seconds:.2f} | {mib:.0f} | {result.statistic:.4g} | {result.drifted} |",
                  flush=True)
    for n in (1000, 2000, args.exact_max):
        rng = np.random.default_rng(n)
        reference, current = frame(n, rng), frame(n, rng)
        def ours() -> Any:
            fitted = fit_multivariate(reference, numerical=list(reference.columns), methods=[MultivariateMethod.MMD])
            return multivariate_check(fitted, current)[0]
        s1, m1, r1 = measure(ours)
        s2, m2, r2 = measure(lambda: exact_mmd(reference.to_numpy(), current.to_numpy(), 200, rng))
        print(f"| {n:,} | mmd (ours, 256 RFF) vs exact O(n²) | {s1:.2f} vs {s2:.2f} | {m1:.0f} vs {m2:.0f} | "
              f"p {r1.p_value:.3f} vs {r2[1]:.3f} | |", flush=True)


if __name__ == "__main__":
    main()
