"""Driftline's automatic check against Evidently, a plain SciPy loop and the np.sort floor, same frames.

The frames are like a user's: continuous, heavy-tailed, zero-inflated and few-valued floats
(some with missing values), small integers, booleans, and categoricals both as pandas
``category`` (Parquet dictionary columns) and as plain strings with missing values (CSV, SQL);
a third of the columns drifted. Every peer gets the same frames in one process, alternating:

* **Evidently 0.7.23** ``Report([DataDriftPreset()])`` (at 1M rows it takes minutes: only with
  ``--evidently-1m``);
* **a plain SciPy loop**: ``ks_2samp`` on every numerical column's non-missing values and
  ``chi2_contingency`` on every other column's aligned ``value_counts``, what one writes by hand;
* **the np.sort floor**: sorting the current window's numerical columns, which any exact
  two-sample test must do at least;
* **Driftline cold**: ``check(fit_profile(reference), current)``, fitting the reference profile
  and simulating the calibrated rule's null draws included (a one-off comparison);
* **Driftline cached**: ``check(profile, current)`` against a profile fitted, and its null
  draws simulated, by an earlier check (what the service does on every scheduled run).

alibi-detect 0.13 (TabularDrift) is not a peer here: it does not install beside NumPy 2.

Peak memory is the resident-set high-water mark above the resident size just before the call
(Linux ``/proc/self/clear_refs`` resets the mark), as a ratio to the two frames' size. Every
figure is the range over ``--rounds`` runs; the load average is printed before each size,
because the 2 cores are shared.

Usage: ``python benchmarks/bench_check.py [--sizes 100000x50,1000000x50] [--rounds 5] [--evidently-1m] [--no-evidently]``
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("DO_NOT_TRACK", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd
from scipy import stats

from monitor.stats.check import check
from monitor.stats.profile import NumericalProfile, ReferenceProfile, fit_profile
from tests.oracles.evidently import evidently_drift
from tests.oracles.frames import mixed_frames

#: Above this many rows Evidently runs only with --evidently-1m (about 2-3 minutes per run).
EVIDENTLY_MAX_ROWS = 100_000


def user_frames(rows: int, columns: int, *, seed: int = 42) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`~tests.oracles.frames.mixed_frames`, with the categoricals of every other ten
    columns turned into plain strings (pandas' default string dtype) with 3% missing values."""
    ref, cur = mixed_frames(rows, rows, columns, seed=seed)
    rng = np.random.default_rng(seed + 1)
    for j, name in enumerate(ref.columns):
        if name.startswith("category") and (j // 10) % 2 == 0:
            for frame in (ref, cur):
                values = frame[name].astype(object).to_numpy().copy()
                values[rng.random(values.size) < 0.03] = None
                frame[name] = pd.Series(values, dtype="str")
    return ref, cur


def _rss_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/self/status")


def measure(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall seconds, peak extra MiB, and the result of ``fn()``."""
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")
    base = _rss_kib("VmRSS")
    start = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - start
    peak = _rss_kib("VmHWM")
    return seconds, (peak - base) / 1024, out


def driftline_cold(ref: pd.DataFrame, cur: pd.DataFrame) -> dict[str, bool]:
    return {c.column: c.drifted for c in check(fit_profile(ref), cur).columns}


def driftline_cached(profile: ReferenceProfile, cur: pd.DataFrame) -> dict[str, bool]:
    return {c.column: c.drifted for c in check(profile, cur).columns}


def evidently(ref: pd.DataFrame, cur: pd.DataFrame) -> dict[str, bool]:
    peer = evidently_drift(ref, cur)
    return {name: c.drifted for name, c in peer.columns.items()}


def scipy_loop(ref: pd.DataFrame, cur: pd.DataFrame) -> dict[str, bool]:
    """What one writes by hand: KS on numbers, chi-square on the aligned counts of the rest."""
    out: dict[str, bool] = {}
    for name in ref.columns:
        r, c = ref[name], cur[name]
        if pd.api.types.is_numeric_dtype(r.dtype) and not pd.api.types.is_bool_dtype(r.dtype):
            p = stats.ks_2samp(r.dropna().to_numpy(np.float64), c.dropna().to_numpy(np.float64)).pvalue
        else:
            table = pd.concat([r.value_counts(), c.value_counts()], axis=1).fillna(0).to_numpy().T
            p = stats.chi2_contingency(table).pvalue
        out[str(name)] = bool(p < 0.05)
    return out


def sort_floor(profile: ReferenceProfile, cur: pd.DataFrame) -> int:
    """Sort the current window's numerical columns (the least an exact two-sample test does)."""
    numerical = [name for name, p in profile.columns.items() if isinstance(p, NumericalProfile)]
    for name in numerical:
        np.sort(cur[name].to_numpy(dtype=np.float64, na_value=np.nan))
    return len(numerical)


def _span(values: list[float], fmt: str) -> str:
    lo, hi = min(values), max(values)
    return format(lo, fmt) if format(lo, fmt) == format(hi, fmt) else f"{format(lo, fmt)}-{format(hi, fmt)}"


def _blas() -> str:
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return "threadpoolctl not installed"
    return ", ".join(f"{i['internal_api']} {i['num_threads']} threads" for i in threadpool_info() if i["user_api"] == "blas")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="100000x50,1000000x50")
    ap.add_argument("--rounds", type=int, default=5, help="runs of every Driftline variant, the SciPy loop and the floor")
    ap.add_argument("--peer-rounds", type=int, default=2, help="Evidently runs per size")
    ap.add_argument("--evidently-1m", action="store_true", help=f"also run Evidently above {EVIDENTLY_MAX_ROWS:,} rows")
    ap.add_argument("--no-evidently", action="store_true", help="skip Evidently (e.g. to time an older Driftline)")
    args = ap.parse_args()
    print(f"# {os.cpu_count()} CPUs, Python {sys.version.split()[0]}, NumPy {np.__version__}, pandas {pd.__version__}, "
          f"BLAS outside the check: {_blas()}\n")
    header = ("| rows x cols | frames MiB | load | Evidently s | SciPy loop s | np.sort floor s | Driftline cold s | "
              "Driftline cached s | cold vs Evidently | cold vs SciPy | cached / floor | Evidently peak MiB | "
              "Driftline cold peak MiB (/ frames) | verdicts unlike Evidently |")
    rows_out: list[str] = []
    for size in args.sizes.split(","):
        rows, cols = (int(v) for v in size.split("x"))
        ref, cur = user_frames(rows, cols)
        frames_mib = float(ref.memory_usage(deep=True).sum() + cur.memory_usage(deep=True).sum()) / 2**20
        load_before = os.getloadavg()[0]
        profile = fit_profile(ref)
        check(profile, cur)  # simulate the null draws once: the cached case reuses them
        times: dict[str, list[float]] = {k: [] for k in ("evidently", "scipy", "floor", "cold", "cached")}
        peaks: dict[str, list[float]] = {"evidently": [], "cold": []}
        ours: dict[str, bool] = {}
        peer: dict[str, bool] = {}
        run_peer = (rows <= EVIDENTLY_MAX_ROWS or args.evidently_1m) and not args.no_evidently
        for i in range(max(args.rounds, args.peer_rounds if run_peer else 0)):
            if run_peer and i < args.peer_rounds:
                t, m, peer = measure(lambda: evidently(ref, cur))
                times["evidently"].append(t)
                peaks["evidently"].append(m)
            if i < args.rounds:
                t, m, ours = measure(lambda: driftline_cold(ref, cur))
                times["cold"].append(t)
                peaks["cold"].append(m)
                times["cached"].append(measure(lambda: driftline_cached(profile, cur))[0])
                times["floor"].append(measure(lambda: sort_floor(profile, cur))[0])
                times["scipy"].append(measure(lambda: scipy_loop(ref, cur))[0])
        load = f"{load_before:.2f}-{os.getloadavg()[0]:.2f}"
        ev = _span(times["evidently"], ".2f") if times["evidently"] else "not run"
        vs_ev = f"{min(times['evidently']) / max(times['cold']):,.0f}-{max(times['evidently']) / min(times['cold']):,.0f}x" \
            if times["evidently"] else "-"
        ev_peak = f"{max(peaks['evidently']):,.0f}" if peaks["evidently"] else "-"
        disagree = f"{sum(ours[c] != peer[c] for c in peer)} of {len(peer)}" if peer else "-"
        cold_peak = max(peaks["cold"])
        rows_out.append(
            f"| {rows:,} x {cols} | {frames_mib:,.0f} | {load} | {ev} | {_span(times['scipy'], '.2f')} | "
            f"{_span(times['floor'], '.3f')} | {_span(times['cold'], '.3f')} | {_span(times['cached'], '.3f')} | {vs_ev} | "
            f"{min(times['scipy']) / max(times['cold']):.0f}-{max(times['scipy']) / min(times['cold']):.0f}x | "
            f"{min(times['cached']) / max(times['floor']):.1f}-{max(times['cached']) / min(times['floor']):.1f}x | {ev_peak} | "
            f"{cold_peak:,.0f} ({cold_peak / frames_mib:.2f}) | {disagree} |"
        )
        print(rows_out[-1], flush=True)
    print()
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    for line in rows_out:
        print(line)


if __name__ == "__main__":
    main()
