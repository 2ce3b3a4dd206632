"""Driftline's automatic check against Evidently's DataDriftPreset on the same in-memory frames.

Both peers get the same pandas frames (mixed types, missing values, a third of the columns
drifted), alternating in one process. Driftline's time includes fitting the reference profile
(sorting every numerical column), so it is the full cost of a one-off comparison. Peak memory is
the resident-set high-water mark above the resident size just before the call (Linux
``/proc/self/clear_refs`` resets the mark), reported as a ratio to the two frames' size.

Usage: ``python benchmarks/bench_check.py [--sizes 10000x20,100000x50,1000000x50] [--rounds 3]``
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

from monitor.stats.check import check
from monitor.stats.profile import fit_profile
from tests.oracles.evidently import evidently_drift
from tests.oracles.frames import mixed_frames


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


def driftline(ref: Any, cur: Any) -> dict[str, bool]:
    return {c.column: c.drifted for c in check(fit_profile(ref), cur).columns}


def evidently(ref: Any, cur: Any) -> dict[str, bool]:
    peer = evidently_drift(ref, cur)
    return {name: c.drifted for name, c in peer.columns.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="10000x20,100000x50,1000000x50")
    ap.add_argument("--rounds", type=int, default=3, help="Driftline runs per size (Evidently: --peer-rounds)")
    ap.add_argument("--peer-rounds", type=int, default=1)
    args = ap.parse_args()
    print(f"# {os.cpu_count()} CPUs, Python {sys.version.split()[0]}\n")
    print("| rows x cols per side | frames MiB | Evidently s | Driftline s | speed-up | Evidently peak MiB "
          "| Driftline peak MiB | Driftline peak / frames | verdict disagreements |")
    print("|---|---|---|---|---|---|---|---|---|")
    for size in args.sizes.split(","):
        rows, cols = (int(v) for v in size.split("x"))
        ref, cur = mixed_frames(rows, rows, cols, seed=42)
        frames_mib = (ref.memory_usage(deep=True).sum() + cur.memory_usage(deep=True).sum()) / 2**20
        ours_t: list[float] = []
        ours_m: list[float] = []
        peer_t: list[float] = []
        peer_m: list[float] = []
        ours_v: dict[str, bool] = {}
        peer_v: dict[str, bool] = {}
        for i in range(max(args.rounds, args.peer_rounds)):  # alternate the two peers
            if i < args.peer_rounds:
                t, m, peer_v = measure(lambda: evidently(ref, cur))
                peer_t.append(t)
                peer_m.append(m)
            if i < args.rounds:
                t, m, ours_v = measure(lambda: driftline(ref, cur))
                ours_t.append(t)
                ours_m.append(m)
        disagree = sum(ours_v[c] != peer_v[c] for c in peer_v)
        ours_best, peer_best = min(ours_t), min(peer_t)
        print(f"| {rows:,} x {cols} | {frames_mib:,.0f} | {peer_best:.2f} | {ours_best:.3f} | "
              f"{peer_best / ours_best:,.0f}x | {max(peer_m):,.0f} | {max(ours_m):,.0f} | "
              f"{max(ours_m) / frames_mib:.2f} | {disagree} of {len(peer_v)} |", flush=True)


if __name__ == "__main__":
    main()
