"""Estimated performance: fit time and per-window estimate time of CBPE (binary, 3-class) and DLE.

The reference has N rows (100k and 1M by default); a window has ``--window`` rows (default 10k).
Driftline's ``fit_cbpe`` / ``estimate`` and ``fit_dle`` / ``estimate_dle`` run in this process. The
peer is NannyML 0.13 (``nannyml.CBPE``, ``nannyml.DLE``) when ``--nannyml PYTHON`` names an interpreter
that has it (NannyML pins an older stack, so it lives in a venv of its own, e.g. ``/tmp/nml/bin/python``);
the same data are written to Parquet and timed there in the same run. Without it the peer is reported
absent. Every figure is the best of ``--rounds``; the load average is printed first, because the
2 cores are shared.

Usage: ``python benchmarks/bench_estimate.py [--sizes 100000,1000000] [--window 10000] [--rounds 3]
[--nannyml /tmp/nml/bin/python] [--no-dle]``
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.stats.estimation.cbpe import estimate, fit_cbpe
from monitor.stats.estimation.dle import estimate_dle, fit_dle


def _frames(rng: np.random.Generator, n: int) -> dict[str, pd.DataFrame]:
    x = rng.normal(size=(n, 2))
    logit = 1.5 * x[:, 0] - x[:, 1]
    p = 1 / (1 + np.exp(-1.2 * logit))
    binary = pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "y": (rng.uniform(size=n) < 1 / (1 + np.exp(-logit))).astype(int),
                           "pred": (p > 0.5).astype(int), "p": p})
    logits = np.column_stack([x[:, 0], x[:, 1], -x[:, 0] - x[:, 1]])
    q = np.exp(logits)
    q /= q.sum(axis=1, keepdims=True)
    labels = np.array(["a", "b", "c"])
    multi = pd.DataFrame({"y": labels[(rng.uniform(size=(n, 1)) > q.cumsum(axis=1)).sum(axis=1)],
                          "pred": labels[q.argmax(axis=1)], "pa": q[:, 0], "pb": q[:, 1], "pc": q[:, 2]})
    reg = pd.DataFrame({"x0": x[:, 0], "x1": x[:, 1], "y": 2 * x[:, 0] + rng.normal(size=n) * (0.2 + np.abs(x[:, 0])),
                        "yhat": 2 * x[:, 0]})
    return {"binary": binary, "multiclass": multi, "regression": reg}


def _best(fn: Callable[[], Any], rounds: int) -> tuple[float, Any]:
    best, out = float("inf"), None
    for _ in range(rounds):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def _ours(ref: dict[str, pd.DataFrame], cur: dict[str, pd.DataFrame], rounds: int, dle: bool) -> dict[str, tuple[float, float]]:
    out = {}
    b, bc = ref["binary"], cur["binary"]
    fit, model = _best(lambda: fit_cbpe(b["y"].to_numpy(), b["pred"].to_numpy(), b["p"].to_numpy()), rounds)
    est, _ = _best(lambda: estimate(model, bc["pred"].to_numpy(), bc["p"].to_numpy()), rounds)
    out["CBPE binary"] = (fit, est)
    m, mc = ref["multiclass"], cur["multiclass"]
    cols = ["pa", "pb", "pc"]
    fit, model = _best(lambda: fit_cbpe(m["y"].to_numpy(), m["pred"].to_numpy(), m[cols].to_numpy(),
                                        classes=["a", "b", "c"]), rounds)
    est, _ = _best(lambda: estimate(model, mc["pred"].to_numpy(), mc[cols].to_numpy()), rounds)
    out["CBPE 3-class"] = (fit, est)
    if dle:
        r, rc = ref["regression"], cur["regression"]
        fit, dmodel = _best(lambda: fit_dle(r[["x0", "x1"]], r["y"].to_numpy(), r["yhat"].to_numpy()), 1)
        est, _ = _best(lambda: estimate_dle(dmodel, rc[["x0", "x1"]], rc["yhat"].to_numpy()), rounds)
        out["DLE"] = (fit, est)
    return out


_PEER = r'''
import json, os, sys, time, warnings
os.environ["NML_DISABLE_USAGE_LOGGING"] = "1"
warnings.filterwarnings("ignore")
import pandas as pd, nannyml as nml
folder, rounds, dle = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
def best(fn):
    b = float("inf")
    for _ in range(rounds):
        t = time.perf_counter(); fn(); b = min(b, time.perf_counter() - t)
    return b
out = {}
metrics = ["roc_auc", "f1", "precision", "recall", "specificity", "accuracy"]
ref, cur = pd.read_parquet(f"{folder}/ref_binary.parquet"), pd.read_parquet(f"{folder}/cur_binary.parquet")
make = lambda: nml.CBPE(y_pred_proba="p", y_pred="pred", y_true="y", metrics=metrics, chunk_size=len(cur),
                        problem_type="classification_binary")
est = make(); fit = best(lambda: make().fit(ref)); est.fit(ref)
out["CBPE binary"] = (fit, best(lambda: est.estimate(cur.drop(columns="y"))))
ref, cur = pd.read_parquet(f"{folder}/ref_multiclass.parquet"), pd.read_parquet(f"{folder}/cur_multiclass.parquet")
make = lambda: nml.CBPE(y_pred_proba={"a": "pa", "b": "pb", "c": "pc"}, y_pred="pred", y_true="y", metrics=metrics,
                        chunk_size=len(cur), problem_type="classification_multiclass")
est = make(); fit = best(lambda: make().fit(ref)); est.fit(ref)
out["CBPE 3-class"] = (fit, best(lambda: est.estimate(cur.drop(columns="y"))))
if dle:
    ref, cur = pd.read_parquet(f"{folder}/ref_regression.parquet"), pd.read_parquet(f"{folder}/cur_regression.parquet")
    est = nml.DLE(feature_column_names=["x0", "x1"], y_pred="yhat", y_true="y", metrics=["mae", "rmse"],
                  chunk_size=len(cur))
    t = time.perf_counter(); est.fit(ref); fit = time.perf_counter() - t
    out["DLE"] = (fit, best(lambda: est.estimate(cur.drop(columns="y"))))
print(json.dumps(out))
'''


def _peer(python: str, ref: dict[str, pd.DataFrame], cur: dict[str, pd.DataFrame], rounds: int,
          dle: bool) -> dict[str, tuple[float, float]] | str:
    with tempfile.TemporaryDirectory() as folder:
        for name in ref:
            ref[name].to_parquet(f"{folder}/ref_{name}.parquet")
            cur[name].to_parquet(f"{folder}/cur_{name}.parquet")
        done = subprocess.run([python, "-c", _PEER, folder, str(rounds), "1" if dle else "0"], capture_output=True,
                              text=True, env={**os.environ, "NML_DISABLE_USAGE_LOGGING": "1"})
    if done.returncode != 0:
        return f"failed: {done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}"
    return {k: (v[0], v[1]) for k, v in json.loads(done.stdout.strip().splitlines()[-1]).items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--window", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--nannyml", metavar="PYTHON", help="an interpreter with nannyml 0.13 installed")
    parser.add_argument("--no-dle", action="store_true", help="skip DLE (its fit dominates on a loaded machine)")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores; window {args.window} rows; "
          f"best of {args.rounds}")
    print(f"{'rows':>9}  {'estimator':<13} {'driftline fit s':>15} {'estimate s':>10} {'nannyml fit s':>13} {'estimate s':>10}")
    for n in (int(s) for s in args.sizes.split(",")):
        ref, cur = _frames(rng, n), _frames(rng, args.window)
        ours = _ours(ref, cur, args.rounds, not args.no_dle)
        peer: dict[str, tuple[float, float]] | str = "absent (pass --nannyml PYTHON)"
        if args.nannyml:
            peer = _peer(args.nannyml, ref, cur, args.rounds, not args.no_dle)
        for name, (fit, est) in ours.items():
            theirs = (f"{peer[name][0]:>13.3f} {peer[name][1]:>10.3f}" if isinstance(peer, dict) and name in peer
                      else f"{'-':>13} {'-':>10}")
            print(f"{n:>9}  {name:<13} {fit:>15.3f} {est:>10.4f} {theirs}")
        if isinstance(peer, str):
            print(f"           nannyml: {peer}")


if __name__ == "__main__":
    main()
