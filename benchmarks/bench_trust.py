"""False alarms and power of Driftline's calibrated rule beside Evidently's rule, in one run.

Why: a drift alert is only worth acting on if it rarely fires on noise and does fire on a real
shift. Windows are drawn from the reference's own population (seeded numpy Generator), so every
alarm in the false-alarm tables is false; the calibrated rule (``compat=calibrated``, the
default) should alarm at most at the nominal alpha = 0.05 per column, at every window size.
Evidently's rule is ``compat=evidently``, tested equal to Evidently 0.7.23's DataDriftPreset
(tests/stats/test_evidently_parity.py); ``--peer-draws N`` also runs real Evidently on a few
windows and counts verdicts that differ from ``compat=evidently``.

One profile is fitted per reference size over a frame of every stream (each stream one column),
and every window is checked under both rules, so the per-feature and the dataset-level rates
come from the same windows. Power: shifted windows of the normal stream (mean + k sigma) and of
the 5-category stream (the first category's share + p percentage points, taken evenly from the
others), checked against the same profiles.

Usage: ``python benchmarks/bench_trust.py [--quick] [--draws 200] [--draws-large 40] [--json F]``
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import version
from pathlib import Path
from typing import Any

os.environ.setdefault("DO_NOT_TRACK", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np
import pandas as pd
import scipy
from scipy import stats

from monitor.stats.check import CheckOptions, Status, check
from monitor.stats.profile import ReferenceProfile, fit_profile
from monitor.stats.types import ColumnType, Compat

ALPHA = 0.05
RULES = (Compat.CALIBRATED, Compat.EVIDENTLY)
SIZES = (30, 100, 300, 1_000, 10_000, 100_000)
REFERENCES = (5_000, 100_000)
#: Windows at or above this size get ``--draws-large`` draws (they cost ~100x a small one).
LARGE_WINDOW = 100_000

CAT2 = np.array(["yes", "no"])
CAT5 = np.array([f"k{i}" for i in range(5)])
CAT50 = np.array([f"c{i:02d}" for i in range(50)])
SHARES2 = np.array([0.7, 0.3])
SHARES5 = np.array([0.4, 0.25, 0.15, 0.12, 0.08])
SHARES50 = np.linspace(1.0, 3.0, 50) / np.linspace(1.0, 3.0, 50).sum()
CODES = np.array([3, 7, 11, 12, 20, 21, 40, 41, 50, 99])
SHARES_CODES = np.geomspace(1.0, 0.2, CODES.size) / np.geomspace(1.0, 0.2, CODES.size).sum()

Stream = Callable[[np.random.Generator, int], Any]


def _zero_inflated(rng: np.random.Generator, n: int) -> Any:
    return np.where(rng.random(n) < 0.6, 0.0, rng.lognormal(0.0, 1.0, n))


def _categorical(labels: Any, shares: Any) -> Stream:
    return lambda rng, n: pd.Categorical(labels[rng.choice(labels.size, n, p=shares)], categories=labels)


STREAMS: dict[str, Stream] = {
    "normal": lambda rng, n: rng.normal(0.0, 1.0, n),
    "lognormal": lambda rng, n: rng.lognormal(1.0, 0.7, n),
    "zero_inflated": _zero_inflated,
    "student_t2": lambda rng, n: rng.standard_t(2.0, n),
    "cat2": _categorical(CAT2, SHARES2),
    "cat5": _categorical(CAT5, SHARES5),
    "cat50": _categorical(CAT50, SHARES50),
    "int_codes": lambda rng, n: CODES[rng.choice(CODES.size, n, p=SHARES_CODES)],
    "circular": lambda rng, n: np.degrees(rng.vonmises(np.radians(200.0), 2.0, n)) % 360.0,
}
TYPES = {name: ColumnType.CATEGORICAL if name.startswith("cat") else ColumnType.NUMERICAL for name in STREAMS}
TYPES["circular"] = ColumnType.CIRCULAR
PERIODS = {"circular": 360.0}

MEAN_SHIFTS = (0.1, 0.25, 0.5)  # in reference standard deviations, on "normal"
SHARE_SHIFTS = (0.05, 0.20)  # first category's share + this, on "cat5"


def frame(rng: np.random.Generator, n: int) -> pd.DataFrame:
    """One window (or reference) with every stream as a column, all from the same population."""
    return pd.DataFrame({name: stream(rng, n) for name, stream in STREAMS.items()})


def shifted_shares(plus: float) -> Any:
    """The 5-category shares with the first one raised by ``plus``, the rest scaled down."""
    rest = SHARES5[1:] * (1.0 - SHARES5[0] - plus) / SHARES5[1:].sum()
    return np.concatenate([[SHARES5[0] + plus], rest])


@dataclass(frozen=True, slots=True)
class Rate:
    """k alarms in n draws, with the exact (Clopper-Pearson) 95% interval."""

    k: int
    n: int

    @property
    def rate(self) -> float:
        return self.k / self.n

    @property
    def interval(self) -> tuple[float, float]:
        ci = stats.binomtest(self.k, self.n).proportion_ci(confidence_level=0.95, method="exact")
        return float(ci.low), float(ci.high)

    @property
    def meets_nominal(self) -> bool:
        """Not significantly above alpha: nominal is inside or above the interval."""
        return self.interval[0] <= ALPHA

    def cell(self) -> str:
        low, high = self.interval
        return f"{100 * self.rate:5.1f}% [{100 * low:4.1f}, {100 * high:5.1f}]"

    def to_dict(self) -> dict[str, Any]:
        low, high = self.interval
        return {"alarms": self.k, "draws": self.n, "rate": self.rate, "ci95": [low, high],
                "meets_nominal": self.meets_nominal}


def false_alarms(profile: ReferenceProfile, n: int, draws: int, seed: int) -> dict[str, Any]:
    """Per-column and dataset false alarms of both rules on ``draws`` stationary windows of ``n`` rows."""
    rng = np.random.default_rng(seed)
    columns = {rule: dict.fromkeys(STREAMS, 0) for rule in RULES}
    dataset = dict.fromkeys(RULES, 0)
    for _ in range(draws):
        window = frame(rng, n)
        for rule in RULES:
            result = check(profile, window, CheckOptions(compat=rule), workers=1)
            for col in result.columns:
                if col.status is not Status.OK:
                    raise RuntimeError(f"{col.column} at {n} rows not tested: {col.reason}")
                columns[rule][col.column] += col.drifted
            dataset[rule] += result.dataset_drift
    return {"columns": {rule: {c: Rate(k, draws) for c, k in ks.items()} for rule, ks in columns.items()},
            "dataset": {rule: Rate(k, draws) for rule, k in dataset.items()}}


def power(profile: ReferenceProfile, n: int, draws: int, seed: int) -> dict[str, dict[Compat, Rate]]:
    """Detection rate of both rules on windows with an injected shift (one shifted column each)."""
    rng = np.random.default_rng(seed)
    normal_sd = 1.0
    shifts: dict[str, Stream] = {
        f"normal +{k:g} sd": (lambda k: lambda r, m: r.normal(k * normal_sd, normal_sd, m))(k) for k in MEAN_SHIFTS
    }
    for plus in SHARE_SHIFTS:
        shifts[f"cat5 +{100 * plus:g} pp"] = _categorical(CAT5, shifted_shares(plus))
    out: dict[str, dict[Compat, Rate]] = {}
    for label, stream in shifts.items():
        column = label.split()[0]
        hits = dict.fromkeys(RULES, 0)
        for _ in range(draws):
            window = pd.DataFrame({column: stream(rng, n)})
            for rule in RULES:
                (col,) = [c for c in check(profile, window, CheckOptions(compat=rule), workers=1).columns
                          if c.column == column]
                hits[rule] += col.drifted
        out[label] = {rule: Rate(k, draws) for rule, k in hits.items()}
    return out


def peer_agreement(reference: pd.DataFrame, profile: ReferenceProfile, n: int, draws: int, seed: int) -> tuple[int, int]:
    """Column verdicts of real Evidently 0.7.23 that differ from ``compat=evidently`` (circular excluded)."""
    from tests.oracles.evidently import evidently_drift

    rng = np.random.default_rng(seed)
    differ = total = 0
    ref = reference.drop(columns=["circular"])
    for _ in range(draws):
        window = frame(rng, n).drop(columns=["circular"])
        ours = {c.column: c.drifted for c in check(profile, window, CheckOptions(compat=Compat.EVIDENTLY)).columns
                if c.status is Status.OK}
        peer = evidently_drift(ref, window)
        for name, col in peer.columns.items():
            if name in ours:
                total += 1
                differ += ours[name] != col.drifted
    return differ, total


def run(sizes: tuple[int, ...], references: tuple[int, ...], draws: int, draws_large: int, power_draws: int,
        peer_draws: int, seed: int, progress: Callable[[str], None]) -> dict[str, Any]:
    """Every table's figures, keyed by reference size then window size (the JSON form)."""
    out: dict[str, Any] = {"alpha": ALPHA, "streams": list(STREAMS), "references": {}}
    for r_index, n_ref in enumerate(references):
        rng = np.random.default_rng([seed, n_ref])
        reference = frame(rng, n_ref)
        profile = fit_profile(reference, types=TYPES, periods=PERIODS)
        per_size: dict[str, Any] = {}
        for s_index, n in enumerate(sizes):
            d = draws_large if n >= LARGE_WINDOW else draws
            start = time.perf_counter()
            fa = false_alarms(profile, n, d, seed=1000 * r_index + s_index + seed)
            pw = power(profile, n, min(power_draws, d), seed=5000 + 1000 * r_index + s_index + seed)
            per_size[str(n)] = {
                "draws": d,
                "columns": {str(rule): {c: r.to_dict() for c, r in cols.items()} for rule, cols in fa["columns"].items()},
                "dataset": {str(rule): r.to_dict() for rule, r in fa["dataset"].items()},
                "power": {label: {str(rule): r.to_dict() for rule, r in rates.items()} for label, rates in pw.items()},
            }
            progress(f"reference {n_ref:,}, window {n:,}: {d} draws in {time.perf_counter() - start:.1f} s")
        peer: dict[str, Any] = {}
        if peer_draws > 0 and n_ref == references[0]:
            for n in (30, 1_000):
                differ, total = peer_agreement(reference, profile, n, peer_draws, seed=9000 + n)
                peer[str(n)] = {"differ": differ, "verdicts": total, "draws": peer_draws}
        out["references"][str(n_ref)] = {"sizes": per_size, "evidently_peer": peer}
    return out


def _pct(d: dict[str, Any]) -> str:
    low, high = d["ci95"]
    return f"{100 * d['rate']:.1f}% [{100 * low:.1f}, {100 * high:.1f}]"


def render(figures: dict[str, Any]) -> str:
    """The plain-text (Markdown) tables of :func:`run`'s figures."""
    lines: list[str] = []
    cal, evi = str(Compat.CALIBRATED), str(Compat.EVIDENTLY)
    for n_ref, ref in figures["references"].items():
        sizes = ref["sizes"]
        lines += [f"### Per-feature false alarms, {int(n_ref):,}-row reference (alpha {ALPHA}, exact 95% CI)", "",
                  "| feature | window | draws | calibrated | PASS/FAIL | evidently rule |",
                  "|---|---:|---:|---|---|---|"]
        for column in figures["streams"]:
            for n, cell in sizes.items():
                c, e = cell["columns"][cal][column], cell["columns"][evi][column]
                verdict = "PASS" if c["meets_nominal"] else "FAIL"
                lines.append(f"| {column} | {int(n):,} | {cell['draws']} | {_pct(c)} | {verdict} | {_pct(e)} |")
        lines += ["", f"### Dataset false alarms (drift_share 0.5, {len(figures['streams'])} features), "
                  f"{int(n_ref):,}-row reference", "",
                  "| window | draws | calibrated | evidently rule |", "|---:|---:|---|---|"]
        for n, cell in sizes.items():
            lines.append(f"| {int(n):,} | {cell['draws']} | {_pct(cell['dataset'][cal])} | {_pct(cell['dataset'][evi])} |")
        labels = list(next(iter(sizes.values()))["power"])
        lines += ["", f"### Power (detection rate, calibrated / evidently rule), {int(n_ref):,}-row reference", "",
                  "| window | draws | " + " | ".join(labels) + " |", "|---:|---:|" + "---|" * len(labels)]
        for n, cell in sizes.items():
            p = cell["power"]
            d = next(iter(p.values()))[cal]["draws"]
            row = " | ".join(f"{100 * p[label][cal]['rate']:.0f}% / {100 * p[label][evi]['rate']:.0f}%" for label in labels)
            lines.append(f"| {int(n):,} | {d} | {row} |")
        for n, peer in ref["evidently_peer"].items():
            lines.append(f"\nReal Evidently 0.7.23 vs compat=evidently, {int(n):,}-row windows: "
                         f"{peer['differ']} of {peer['verdicts']} column verdicts differ ({peer['draws']} windows).")
        lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--quick", action="store_true", help="< 1 minute: the 5k reference only, few draws")
    ap.add_argument("--draws", type=int, default=200, help="windows per cell below 100k rows")
    ap.add_argument("--draws-large", type=int, default=40, help="windows per cell at 100k rows")
    ap.add_argument("--power-draws", type=int, default=100, help="shifted windows per power cell (at most --draws)")
    ap.add_argument("--peer-draws", type=int, default=0, help="windows checked by real Evidently too (slow)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", type=Path, help="also write the figures as JSON to this file")
    args = ap.parse_args()
    sizes: tuple[int, ...] = SIZES
    references: tuple[int, ...] = REFERENCES
    draws, draws_large, power_draws = args.draws, args.draws_large, args.power_draws
    if args.quick:
        references = (5_000,)
        draws, draws_large, power_draws = min(draws, 60), min(draws_large, 10), min(power_draws, 30)
    load = os.getloadavg()
    header = (f"# bench_trust: {os.cpu_count()} CPUs, load {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}; "
              f"Python {sys.version.split()[0]}, numpy {np.__version__}, scipy {scipy.__version__}, "
              f"pandas {pd.__version__}, evidently {version('evidently')}; draws {draws} "
              f"(100k windows: {draws_large}), power draws {power_draws}, seed {args.seed}")
    print(header, flush=True)
    start = time.perf_counter()
    figures = run(sizes, references, draws, draws_large, power_draws, args.peer_draws, args.seed,
                  lambda msg: print(f"#   {msg}", file=sys.stderr, flush=True))
    elapsed = time.perf_counter() - start
    load = os.getloadavg()
    figures |= {"header": header, "seconds": elapsed, "load_after": list(load)}
    print(f"# {elapsed:.0f} s, load after {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}\n")
    print(render(figures))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2))


if __name__ == "__main__":
    main()
