"""Multivariate drift methods: time and peak memory at 10k, 100k and 1M rows x 50 features.

Each method is timed on a reference and a window of the same size (fit + test), its peak
traced memory measured with tracemalloc (NumPy's allocations are traced). MMD is compared in the
same run with a plain O(n²) implementation (the full Gaussian kernel matrix of the pooled
sample and a permutation test on it, as Evidently's ``empirical_mmd`` does) at the sizes where
that matrix fits in memory. Run: ``.venv/bin/python -m benchmarks.bench_multivariate [--sizes 10000,100000]``.

``--false-alarms`` measures the domain classifier instead: on stationary data (50 features, 40
numerical in 8 correlated blocks and 10 categorical read off the blocks; a fresh 5,000-row
reference and window per draw, seeds fixed) the rate of ``p < alpha`` and of ``drifted`` (the
calibrated rule, with the 0.55 floor) with exact 95% intervals, for the held-out test
(:func:`~monitor.stats.multivariate.classifier.classifier_test`) and, on the same draws, the
five pooled folds it replaced (:func:`pooled_folds`); then the power of both on the injected
joint drifts at equal marginals (a correlation flip inside a block, a swap of two columns from
different blocks). Run: ``OMP_NUM_THREADS=1 .venv/bin/python -m benchmarks.bench_multivariate
--false-alarms [--windows 100,300,1000,10000 --draws 200 --pooled-draws 60 --power-draws 10]``.
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
from scipy import stats
from scipy.spatial.distance import cdist

from benchmarks.bench_trust import Rate
from monitor.stats._domain import fold_auc
from monitor.stats.multivariate import MultivariateMethod, MultivariateOptions, fit_multivariate, multivariate_check
from monitor.stats.multivariate._encode import Encoding, lowest, row_hashes
from monitor.stats.multivariate.classifier import classifier_test, fit_scores

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


BLOCKS, NUMERICAL, CATEGORICAL = 8, 40, 10
REFERENCE_ROWS = 5_000
DRIFTS = ("flip", "swap")


def mixed_frame(n: int, rng: np.random.Generator, drift: str | None = None) -> pd.DataFrame:
    """40 numerical features in 8 blocks of 5 (``base + 0.5 noise``) and 10 categorical ones, each
    the quartile of one block's base plus noise.

    ``flip``: ``x01 = -base0 + noise`` (its correlation with ``x00`` goes from 0.8 to -0.8, every
    marginal unchanged). ``swap``: ``x00`` and ``x05`` (two blocks, the same N(0, 1.25) marginal)
    swap places, as a pipeline that mixes up two columns.
    """
    base = rng.normal(size=(n, BLOCKS))
    x = np.repeat(base, NUMERICAL // BLOCKS, axis=1) + 0.5 * rng.normal(size=(n, NUMERICAL))
    if drift == "flip":
        x[:, 1] = x[:, 1] - 2.0 * base[:, 0]
    out = pd.DataFrame(x, columns=[f"x{i:02d}" for i in range(NUMERICAL)])
    if drift == "swap":
        out[["x00", "x05"]] = out[["x05", "x00"]].to_numpy()
    edges = np.array([-0.6745, 0.0, 0.6745]) * np.sqrt(1.25)
    for k in range(CATEGORICAL):
        level = np.searchsorted(edges, base[:, k % BLOCKS] + 0.5 * rng.normal(size=n))
        out[f"c{k}"] = np.array(["q1", "q2", "q3", "q4"])[level]
    return out


MIXED_NUMERICAL = [f"x{i:02d}" for i in range(NUMERICAL)]
MIXED_CATEGORICAL = [f"c{k}" for k in range(CATEGORICAL)]


def pooled_folds(encoding: Encoding, reference: np.ndarray, current: np.ndarray, options: MultivariateOptions,
                 folds: int = 5) -> tuple[float, bool]:
    """The test :func:`classifier_test` replaced: ``folds`` stratified folds (by position in hash
    order), the folds' U pooled (``sum U / sum n1 n0``) and their null variances summed as if the
    folds were independent. Same model (and binning) as the held-out test. Returns ``(p, drifted)``."""
    current = current[lowest(row_hashes(current, options.seed), options.max_rows)]
    x = np.concatenate([reference, current])
    y = np.arange(x.shape[0]) >= reference.shape[0]
    fold = np.concatenate([np.arange(reference.shape[0]) % folds, np.arange(current.shape[0]) % folds])
    is_cat = np.zeros(x.shape[1], dtype=bool)
    is_cat[len(encoding.numerical):] = True
    u_sum = mean_sum = var_sum = pairs = 0.0
    for f in range(folds):
        test, train = np.flatnonzero(fold == f), np.flatnonzero(fold != f)
        _, _, scores = fit_scores(x, y, is_cat, train, test, options.seed)
        u, mean, var = fold_auc(scores, y[test])
        n1 = float(y[test].sum())
        u_sum, mean_sum, var_sum, pairs = u_sum + u, mean_sum + mean, var_sum + var, pairs + n1 * (test.size - n1)
    auc = u_sum / pairs
    p = float(stats.norm.sf((u_sum - mean_sum) / np.sqrt(var_sum))) if var_sum > 0 else 0.5
    threshold = max(options.auc_floor, 0.5 + float(stats.norm.isf(options.alpha)) * float(np.sqrt(var_sum)) / pairs)
    return p, bool(auc > threshold)


def classifier_rates(windows: list[int], draws: int, draws_large: int, pooled_draws: int, power_draws: int,
                     progress: Callable[[str], None] = print) -> dict[str, Any]:
    """False alarms (``p < alpha`` and ``drifted``) and power of the held-out and the pooled-folds tests.

    The pooled folds (five fits a draw, against one) run on the first ``pooled_draws`` stationary
    draws of each window, the same data as the held-out test's.
    """
    options = MultivariateOptions()
    out: dict[str, Any] = {}
    for window in windows:
        n_draws = draws if window < 10_000 else draws_large
        n_pooled = min(pooled_draws, n_draws)
        counts = {k: 0 for k in ("heldout_p", "heldout_drifted", "pooled_p", "pooled_drifted")}
        power = {f"{t}_{d}": 0 for t in ("heldout", "pooled") for d in DRIFTS}
        start = time.perf_counter()
        for kind, n in (("null", n_draws), *((d, power_draws) for d in DRIFTS)):
            for draw in range(n):
                rng = np.random.default_rng([window, draw, ("null", *DRIFTS).index(kind)])
                reference = mixed_frame(REFERENCE_ROWS, rng)
                current = mixed_frame(window, rng, None if kind == "null" else kind)
                fitted = fit_multivariate(reference, numerical=MIXED_NUMERICAL, categorical=MIXED_CATEGORICAL,
                                          methods=[MultivariateMethod.DOMAIN_CLASSIFIER], options=options)
                coded = fitted.encoding.coded(current)
                new = classifier_test(fitted.encoding, fitted.sample, coded, options, np.random.default_rng(draw))
                if kind == "null":
                    counts["heldout_p"] += new.p_value is not None and new.p_value < options.alpha
                    counts["heldout_drifted"] += new.drifted
                    if draw >= n_pooled:
                        continue
                old_p, old_drifted = pooled_folds(fitted.encoding, fitted.sample, coded, options)
                if kind == "null":
                    counts["pooled_p"] += old_p < options.alpha
                    counts["pooled_drifted"] += old_drifted
                else:
                    power[f"heldout_{kind}"] += new.drifted
                    power[f"pooled_{kind}"] += old_drifted
        seconds = time.perf_counter() - start
        out[str(window)] = {"draws": n_draws, "pooled_draws": n_pooled, "power_draws": power_draws, "seconds": seconds,
                            "false_alarms": {k: Rate(v, n_pooled if k.startswith("pooled") else n_draws)
                                             for k, v in counts.items()},
                            "power": {k: Rate(v, power_draws) for k, v in power.items()}}
        row = out[str(window)]
        progress(f"| {window:,} | {n_draws} / {n_pooled} | " + " | ".join(r.cell() for r in row["false_alarms"].values())
                 + f" | {power_draws} | " + " | ".join(r.cell() for r in row["power"].values())
                 + f" | {seconds:.0f} s |")
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10000,100000,1000000")
    parser.add_argument("--exact-max", type=int, default=5000, help="largest per-side size for the O(n²) peer")
    parser.add_argument("--false-alarms", action="store_true", help="the domain classifier's false alarms and power")
    parser.add_argument("--windows", default="100,300,1000,10000")
    parser.add_argument("--draws", type=int, default=200, help="stationary draws per window below 10,000 rows")
    parser.add_argument("--draws-large", type=int, default=100, help="stationary draws of 10,000-row windows")
    parser.add_argument("--pooled-draws", type=int, default=60, help="of those, draws also tested by the pooled folds")
    parser.add_argument("--power-draws", type=int, default=10, help="draws per injected drift and window")
    args = parser.parse_args()
    if args.false_alarms:
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; reference {REFERENCE_ROWS:,} rows")
        print("| window | draws (held-out / pooled) | held-out p < 0.05 | held-out drifted | pooled p < 0.05 | "
              "pooled drifted | power draws | held-out flip | held-out swap | pooled flip | pooled swap | time |")
        print("| ---: | ---: | --- | --- | --- | --- | ---: | --- | --- | --- | --- | ---: |")
        classifier_rates([int(w) for w in args.windows.split(",")], args.draws, args.draws_large, args.pooled_draws,
                         args.power_draws)
        print(f"load average {os.getloadavg()[0]:.1f} at the end")
        return
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
