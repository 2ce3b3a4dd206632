"""``driftline serve``'s resident memory with 20 monitors on 1M-row file references: bounded by the cache.

One seeded 1M-row labelled reference (10 numerical and 3 categorical features, a binary
prediction, its score and the label) is written as Parquet to a temporary folder, with a
driftline.yaml of ``--monitors`` monitors on as many models, each ``reference: {type: file}``
pointing at it, on a SQLite database in the same folder; ``every: 1d``, so nothing runs on its
own. A real ``driftline serve`` process is started; its resident set (``VmRSS`` from
``/proc/<pid>/status``, the process and its children) is read once ``/readyz`` answers (every
reference fitted and stored), after ingesting a small window per model through the API, after
each run triggered with ``POST /v1/monitors/{name}/runs`` (``--passes`` passes over the
monitors), and at the end. The fitted-reference cache holds
:data:`~monitor.run.registry.DEFAULT_CACHE_SIZE` entries, so once more monitors than that have
run, a run of an evicted monitor reads its fit back from the database and another is dropped:
the resident set should stop growing. The process is then restarted on the same database and
file: it must not refit (the input hash), so its start-up takes seconds.

For contrast, the same process measures one fitted :class:`~monitor.run.bundle.ReferenceBundle`
of that reference in this process: the fit's wall time and tracemalloc peak, the size of the
bundle's serialized bytes, and the resident growth of holding the fit.

The load average is printed, because the 2 cores are shared.

Usage: ``python benchmarks/bench_serve_memory.py [--rows 1000000] [--monitors 20] [--window 2000] [--passes 2]``
"""

from __future__ import annotations

import argparse
import gc
import io
import os
import signal
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path

os.environ.setdefault("DO_NOT_TRACK", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import numpy as np
import pandas as pd
import yaml

from monitor.config import DriftlineConfig
from monitor.run.evaluate import fit_reference
from monitor.run.registry import DEFAULT_CACHE_SIZE
from tests.e2e._procs import free_port

KEY = "bench-key-0123456789"
NUMERICAL = [f"n{j}" for j in range(10)]
CATEGORICAL = [f"c{j}" for j in range(3)]
PARQUET = "application/vnd.apache.parquet"
MIB = 1024 * 1024


def labelled(rows: int, *, seed: int, start: datetime | None = None) -> pd.DataFrame:
    """A classifier's log: mixed numerical features, categoricals, prediction, score and label."""
    rng = np.random.default_rng(seed)
    data: dict[str, object] = {}
    for j, name in enumerate(NUMERICAL):
        match j % 3:
            case 0:
                data[name] = rng.normal(0.0, 1.0, rows)
            case 1:
                data[name] = rng.lognormal(0.0, 1.0, rows)
            case _:
                data[name] = rng.integers(0, 20, rows).astype(float)
    for j, name in enumerate(CATEGORICAL):
        data[name] = rng.choice([f"v{k}" for k in range(4 + 4 * j)], rows)
    score = 1.0 / (1.0 + np.exp(-(np.asarray(data["n0"]) + rng.normal(0.0, 1.0, rows))))
    data["score"] = score
    data["prediction"] = np.where(score > 0.5, "1", "0")
    data["label"] = np.where(rng.random(rows) < score, "1", "0")
    frame = pd.DataFrame(data)
    if start is not None:
        frame.insert(0, "timestamp", pd.date_range(start, periods=rows, freq="100ms", tz="UTC"))
        frame.insert(0, "prediction_id", [f"p{seed}-{i}" for i in range(rows)])
    return frame


def monitor_yaml(i: int, reference: Path) -> str:
    return f"""\
  - name: m{i:02d}
    model: model-{i:02d}
    every: 1d
    window: {{last: 1h}}
    min_rows: 100
    reference: {{type: file, path: {reference}}}
    schema:
      prediction_score: score
      target: label
      task: classification
      numerical: [{", ".join(NUMERICAL)}]
      categorical: [{", ".join(CATEGORICAL)}]
"""


def rss_kib(pid: int, field: str = "VmRSS") -> int:
    """``field`` of ``/proc/<pid>/status`` of the process and its descendants (0 for a gone one)."""
    total = 0
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                total += int(line.split()[1])
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += rss_kib(int(child), field)
    except (FileNotFoundError, ProcessLookupError):
        pass
    return total


def driftline_script() -> str:
    beside = Path(sys.executable).with_name("driftline")
    return str(beside) if beside.exists() else "driftline"


class Serve:
    """A ``driftline serve`` process with its log; :meth:`wait_ready` returns the seconds since start."""

    def __init__(self, env: dict[str, str], log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log
        self.started = time.perf_counter()
        with log.open("wb") as out:
            self.proc = subprocess.Popen([driftline_script(), "serve", "--host", "127.0.0.1", "--port", str(self.port)],
                                         stdout=out, stderr=subprocess.STDOUT, env=env, cwd=log.parent)

    def wait_ready(self, timeout_seconds: float) -> float:
        deadline = time.monotonic() + timeout_seconds
        while True:
            if self.proc.poll() is not None:
                raise SystemExit(f"driftline serve exited with {self.proc.returncode}:\n{self.tail()}")
            try:
                if httpx.get(f"{self.url}/readyz", timeout=5).status_code == 200:
                    return time.perf_counter() - self.started
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise SystemExit(f"not ready after {timeout_seconds} s:\n{self.tail()}")
            time.sleep(0.1)

    def rss_mib(self) -> float:
        return rss_kib(self.proc.pid) / 1024

    def hwm_mib(self) -> float:
        return rss_kib(self.proc.pid, "VmHWM") / 1024

    def tail(self, chars: int = 3000) -> str:
        return self.log.read_text(errors="replace")[-chars:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def own_rss_mib() -> float:
    return rss_kib(os.getpid()) / 1024


def bundle_figures(reference: pd.DataFrame, config: DriftlineConfig) -> list[str]:
    """One fit of the reference in this process: time, tracemalloc peak, blob size, resident growth."""
    monitor = config.monitors[0].to_domain()
    gc.collect()
    before = own_rss_mib()
    t = time.perf_counter()
    bundle = fit_reference(monitor, reference)
    fit_seconds = time.perf_counter() - t
    gc.collect()
    held = own_rss_mib() - before
    blob = bundle.to_bytes()
    del bundle
    gc.collect()
    tracemalloc.start()
    again = fit_reference(monitor, reference)
    _, peak = tracemalloc.get_traced_memory()
    current, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    del again
    return [f"| fit_reference, wall s | {fit_seconds:.1f} |",
            f"| fit_reference, tracemalloc peak MiB | {peak / MIB:.0f} |",
            f"| fitted bundle still allocated (tracemalloc) MiB | {current / MIB:.0f} |",
            f"| resident growth of holding one fit (first fit) MiB | {held:.0f} |",
            f"| len(bundle.to_bytes()) MiB | {len(blob) / MIB:.1f} |"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000, help="rows of the reference file")
    ap.add_argument("--monitors", type=int, default=20)
    ap.add_argument("--window", type=int, default=2000, help="rows ingested per model before the runs")
    ap.add_argument("--passes", type=int, default=2, help="passes of one run per monitor")
    ap.add_argument("--every", type=int, default=1, help="print the resident set after every N-th run")
    ap.add_argument("--no-bundle", action="store_true", help="skip the in-process fit of one bundle")
    args = ap.parse_args()
    print(f"# {os.cpu_count()} CPUs; load average {load()} (1, 5, 15 min) at the start\n")

    with tempfile.TemporaryDirectory(prefix="bench-serve-memory-") as tmp_name:
        tmp = Path(tmp_name)
        reference = labelled(args.rows, seed=1)
        ref_path = tmp / "reference.parquet"
        reference.to_parquet(ref_path, index=False)
        config_text = "monitors:\n" + "".join(monitor_yaml(i, ref_path) for i in range(args.monitors))
        config_path = tmp / "driftline.yaml"
        config_path.write_text(config_text)
        config = DriftlineConfig.model_validate(yaml.safe_load(config_text))
        print(f"reference: {args.rows:,} rows x {len(reference.columns)} columns, Parquet "
              f"{ref_path.stat().st_size / MIB:.1f} MiB, in memory {reference.memory_usage(deep=True).sum() / MIB:.0f} MiB\n")

        bundle_rows = [] if args.no_bundle else bundle_figures(reference, config)
        del reference
        gc.collect()

        env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLINE_")}
        env.update(DRIFTLINE_DATABASE_URL=f"sqlite:///{tmp / 'driftline.db'}", DRIFTLINE_API_KEYS=KEY,
                   DRIFTLINE_CONFIG=str(config_path), NO_COLOR="1")
        auth = {"Authorization": f"Bearer {KEY}"}

        print(f"load average {load()} before the first start")
        first = Serve(env, tmp / "serve-1.log")
        points: list[tuple[str, float, float]] = []
        try:
            startup = first.wait_ready(timeout_seconds=3600)
            points.append(("after start-up (every reference fitted)", first.rss_mib(), first.hwm_mib()))
            now = datetime.now(UTC)
            with httpx.Client(base_url=first.url, timeout=600, headers=auth) as client:
                for i in range(args.monitors):
                    window = labelled(args.window, seed=100 + i, start=now - timedelta(minutes=30))
                    buf = io.BytesIO()
                    window.to_parquet(buf, index=False)
                    r = client.post(f"/v1/models/model-{i:02d}/predictions", content=buf.getvalue(),
                                    headers={"Content-Type": PARQUET})
                    r.raise_for_status()
                points.append((f"after ingesting {args.window:,} rows per model", first.rss_mib(), first.hwm_mib()))
                run_seconds: list[float] = []
                n = 0
                for p in range(args.passes):
                    for i in range(args.monitors):
                        t = time.perf_counter()
                        r = client.post(f"/v1/monitors/m{i:02d}/runs")
                        run_seconds.append(time.perf_counter() - t)
                        if r.status_code != 201 or r.json()["status"] in ("error", "insufficient_data"):
                            raise SystemExit(f"run of m{i:02d} failed: {r.status_code} {r.text[:500]}")
                        n += 1
                        if n % args.every == 0 or i == args.monitors - 1:
                            points.append((f"pass {p + 1}, after the run of monitor {i + 1}", first.rss_mib(),
                                           first.hwm_mib()))
            time.sleep(1.0)
            points.append(("final (1 s after the last run)", first.rss_mib(), first.hwm_mib()))
        finally:
            first.stop()
        first_log = first.log.read_text(errors="replace")

        print(f"load average {load()} before the restart")
        second = Serve(env, tmp / "serve-2.log")
        try:
            restart = second.wait_ready(timeout_seconds=3600)
            restart_rss = second.rss_mib()
            second_log = second.log.read_text(errors="replace")
            versions = [len(httpx.get(f"{second.url}/v1/monitors/m{i:02d}/references", timeout=30).json())
                        for i in range(args.monitors)]
        finally:
            second.stop()
        print(f"load average {load()} at the end\n")

    start_rss = points[0][1]
    rows = [f"| {what} | {rss:,.0f} | {hwm:,.0f} |" for what, rss, hwm in points]
    print(f"## serve, {args.monitors} monitors x {args.rows:,}-row file references, SQLite, "
          f"cache of {DEFAULT_CACHE_SIZE} fitted references\n")
    print("| point | RSS MiB | high-water MiB |")
    print("|---|---|---|")
    print("\n".join(rows))
    print(f"| restarted, after start-up (no refit) | {restart_rss:,.0f} | |")
    print()
    final_rss = points[-1][1]
    runs = [(what, rss) for what, rss, _ in points if what.startswith("pass")]
    print(f"start-up wall time (fit {args.monitors} references): {startup:.1f} s; restart: {restart:.1f} s")
    print(f"reference versions per monitor after the restart: {sorted(set(versions))} (1: not refitted)")
    print(f"tracebacks in the two logs: {first_log.count('Traceback')}, {second_log.count('Traceback')}")
    print(f"run request wall time: median {sorted(run_seconds)[len(run_seconds) // 2]:.2f} s, "
          f"max {max(run_seconds):.2f} s")
    print(f"RSS / monitors: {start_rss / args.monitors:.0f} MiB at start-up, {final_rss / args.monitors:.0f} MiB "
          f"at the end; above the restarted process (no fit loaded yet, {restart_rss:,.0f} MiB): "
          f"{(final_rss - restart_rss) / args.monitors:.0f} MiB per monitor, "
          f"{(final_rss - restart_rss) / min(args.monitors, DEFAULT_CACHE_SIZE):.0f} MiB per cached fit")
    full = [rss for what, rss in runs if not what.startswith("pass 1,")
            or int(what.rsplit(" ", 1)[1]) >= DEFAULT_CACHE_SIZE]
    if full and args.monitors > DEFAULT_CACHE_SIZE:
        print(f"RSS once {DEFAULT_CACHE_SIZE} monitors have run (the cache full): min {min(full):,.0f}, "
              f"max {max(full):,.0f}, last {full[-1]:,.0f} MiB ({full[-1] - full[0]:+,.0f} MiB after "
              f"{len(full) - 1} more runs)")
    if bundle_rows:
        print("\n## one fitted ReferenceBundle of the reference, in this process\n")
        print("| figure | value |")
        print("|---|---|")
        print("\n".join(bundle_rows))


if __name__ == "__main__":
    main()
