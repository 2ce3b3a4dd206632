"""Small ingest requests under load: req/s, p50/p99 latency and rows acknowledged vs stored.

A real ``driftline serve`` (a subprocess, PostgreSQL in a schema of its own, dropped after) takes
JSON batches of ``--rows`` rows with fresh prediction ids from a load generator over loopback for
``--seconds``: ``wrk`` (Debian's package; closed loop, ``--connections`` at once) when installed,
else an httpx async client (open loop at ``--rate`` requests/s). At the end the rows stored are
counted in SQL and compared with the rows acknowledged (HTTP 200 x rows): lost must be 0, and a
primary key makes doubled impossible, so ``stored - acked`` counts rows stored whose answer the
client never saw (a request cut off by the end of the run). CPU seconds per request of the
server (its processes, from /proc) and of the client are printed too: on a shared machine they
say what the figures would be on an idle one (2 cores / CPU per request).

Each configuration runs in the same invocation, the peers first: the single-request path
(``--workers 1``, every request its own transaction), group commit with the small-batch fast path
of :mod:`monitor._fast_ingest` switched off (every batch through Arrow and pandas, as before it),
then group commit with 1 worker and with ``--workers N``. The machine's load average is printed
before and after each run (2 shared cores: other work on the machine moves the figures).

Usage: ``python benchmarks/bench_ingest_load.py [--seconds 20] [--rows 10] [--connections 64] [--workers 2]``
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import httpx
import sqlalchemy as sa

from tests.e2e._procs import free_port

KEY = "bench-load-key-0123456789"
MODEL = "load-model"
PG = os.environ.get("DRIFTLINE_BENCH_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432/test")

#: Run as ``python -c``: the server with group commit switched off, every request writing alone (the peer).
_NO_GROUP = ("import monitor.storage._group_commit as g\n"
             "g.GroupCommit.submit = lambda self, model, batch, rows: self._write(model, [batch])[0]\n"
             "from monitor.cli import run\nrun()\n")
#: The same with group commit on and the small-batch fast path off (every batch through Arrow and pandas).
_NO_FAST = ("import monitor.ingest as i\n"
            "i.fast_batch = lambda *args, **kwargs: None\n"
            "from monitor.cli import run\nrun()\n")

_WRK_LUA = """
local counter = 0
local ok, other = 0, 0
local rows = tonumber(os.getenv("BENCH_ROWS"))
local key = os.getenv("BENCH_KEY")
function setup(thread) thread:set("tid", tostring(math.random(1, 1e9))) end
function request()
  counter = counter + 1
  local parts = {}
  for j = 1, rows do
    parts[j] = string.format('{"prediction_id":"%s-%d-%d","x1":%.3f,"x2":%.3f,"x3":1.5,"plan":"basic",' ..
      '"region":"eu","prediction":"1"}', tid, counter, j, math.random(), math.random())
  end
  return wrk.format("POST", nil, {["Content-Type"]="application/json", ["Authorization"]="Bearer " .. key},
                    "[" .. table.concat(parts, ",") .. "]")
end
function response(status, headers, body) if status == 200 then ok = ok + 1 else other = other + 1 end end
function done(summary, latency, requests)
  io.write(string.format("WRK %d %d %d %d %d %d\\n", summary.requests, summary.duration,
    latency:percentile(50), latency:percentile(99), summary.errors.connect + summary.errors.read +
    summary.errors.write + summary.errors.timeout, summary.errors.status))
end
"""


def _config(tmp: Path) -> Path:
    (tmp / "reference.csv").write_text("x1,x2,x3,plan,region,prediction\n" + "".join(
        f"{i / 100},{i / 50},1.5,{'basic' if i % 2 else 'pro'},eu,{i % 2}\n" for i in range(200)))
    path = tmp / "driftline.yaml"
    path.write_text(f"""monitors:
  - name: load
    model: {MODEL}
    every: 1h
    window: {{last: 1h}}
    reference: {{type: file, path: {tmp / 'reference.csv'}}}
    schema:
      target: null
      numerical: [x1, x2, x3]
      categorical: [plan, region]
""")
    return path


def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def _serve(tmp: Path, url: str, workers: int, group: bool, port: int, fast: bool = True) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DRIFTLINE_")}
    env.update(DRIFTLINE_DATABASE_URL=url, DRIFTLINE_API_KEYS=KEY, DRIFTLINE_CONFIG=str(_config(tmp)),
               DRIFTLINE_LOG_LEVEL="warning", NO_COLOR="1")
    args = ["serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]
    command = [sys.executable, "-m", "monitor", *args] if group else [sys.executable, "-c", _NO_GROUP, *args]
    if not fast:
        command = [sys.executable, "-c", _NO_FAST, *args]
    log = (tmp / f"serve-{workers}-{group}.log").open("wb")
    proc = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=tmp)
    deadline = time.monotonic() + 180
    while True:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"serve did not start: {(tmp / f'serve-{workers}-{group}.log').read_text()[-2000:]}")
        time.sleep(0.2)


def _wrk(port: int, args: argparse.Namespace, tmp: Path) -> tuple[int, float, float, float, int]:
    """(requests answered 200, seconds, p50 ms, p99 ms, others) with wrk."""
    script = tmp / "ingest.lua"
    script.write_text(_WRK_LUA)
    env = {**os.environ, "BENCH_ROWS": str(args.rows), "BENCH_KEY": KEY}
    out = subprocess.run(["wrk", "-t", "1", "-c", str(args.connections), "-d", f"{args.seconds}s", "--timeout", "10s",
                          "-s", str(script), f"http://127.0.0.1:{port}/v1/models/{MODEL}/predictions"],
                         env=env, capture_output=True, text=True, timeout=args.seconds + 60).stdout
    match = re.search(r"^WRK (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)$", out, flags=re.MULTILINE)
    if match is None:
        raise SystemExit(f"wrk said:\n{out}")
    requests, micros, p50, p99, errors, status = map(int, match.groups())
    return requests - status - errors, micros / 1e6, p50 / 1e3, p99 / 1e3, status + errors


async def _httpx(port: int, args: argparse.Namespace) -> tuple[int, float, float, float, int]:
    """The same with an httpx async client, open loop at ``args.rate`` requests/s."""
    latencies: list[float] = []
    others = 0
    url = f"http://127.0.0.1:{port}/v1/models/{MODEL}/predictions"
    tag = secrets.token_hex(4)
    limits = httpx.Limits(max_connections=args.connections)
    async with httpx.AsyncClient(timeout=10, limits=limits, headers={"Authorization": f"Bearer {KEY}"}) as client:
        async def one(i: int) -> None:
            nonlocal others
            body = [{"prediction_id": f"{tag}-{i}-{j}", "x1": 0.5, "x2": 0.25, "x3": 1.5, "plan": "basic",
                     "region": "eu", "prediction": "1"} for j in range(args.rows)]
            began = time.perf_counter()
            try:
                response = await client.post(url, content=json.dumps(body), headers={"Content-Type": "application/json"})
                ok = response.status_code == 200
            except httpx.HTTPError:
                ok = False
            if ok:
                latencies.append(time.perf_counter() - began)
            else:
                others += 1

        began = time.perf_counter()
        tasks, i = [], 0
        while (elapsed := time.perf_counter() - began) < args.seconds:
            while i < elapsed * args.rate:
                tasks.append(asyncio.create_task(one(i)))
                i += 1
            await asyncio.sleep(0.001)
        await asyncio.gather(*tasks)
        seconds = time.perf_counter() - began
    latencies.sort()
    pick = (lambda q: latencies[min(len(latencies) - 1, int(q * len(latencies)))] * 1e3) if latencies else (lambda q: 0.0)
    return len(latencies), seconds, pick(0.50), pick(0.99), others


def _cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) of ``pid`` and its live children (the workers), from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(stat.parent.name) == pid or int(fields[1]) == pid:  # fields[1]: the parent's pid
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def _stored(url: str) -> int:
    engine = sa.create_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.scalar(sa.text("SELECT count(*) FROM predictions_load_model")) or 0)
    finally:
        engine.dispose()


def bench(workers: int, group: bool, args: argparse.Namespace, fast: bool = True) -> str:
    schema = f"bench_load_{secrets.token_hex(4)}"
    admin = sa.create_engine(PG, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    url = sa.make_url(PG).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    tmp = Path(tempfile.mkdtemp(prefix="bench-load-"))
    port = free_port()
    proc = _serve(tmp, url, workers, group, port, fast)
    try:
        before = _load()
        use_wrk = shutil.which("wrk") is not None and not args.httpx
        cpu, client_cpu = _cpu_seconds(proc.pid), time.process_time() + _children_cpu()
        ok, seconds, p50, p99, others = _wrk(port, args, tmp) if use_wrk else asyncio.run(_httpx(port, args))
        cpu, client_cpu = _cpu_seconds(proc.pid) - cpu, time.process_time() + _children_cpu() - client_cpu
        after = _load()
        time.sleep(1)  # requests cut off at the end finish
        stored = _stored(url)
    finally:
        proc.terminate()
        try:
            proc.wait(120)  # a worker still starting finishes its start before it stops
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(30)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()
        shutil.rmtree(tmp, ignore_errors=True)
    acked = ok * args.rows
    name = f"{'group commit' if group else 'one transaction per request (peer)'}, {workers} worker(s)"
    if not fast:
        name = f"group commit, fast path off (Arrow + pandas for every batch), {workers} worker(s)"
    client = f"wrk -c {args.connections}" if use_wrk else f"httpx {args.rate}/s"
    answered = max(1, ok + others)
    return (f"| {name} | {client} | {ok / seconds:.0f} | {p50:.1f} | {p99:.1f} | {others} | {acked} | {stored} | "
            f"{max(0, acked - stored)} | {cpu / answered * 1e3:.2f} | {client_cpu / answered * 1e3:.2f} | "
            f"{before} -> {after} |")


def _children_cpu() -> float:
    import resource

    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # wrk, once it has exited
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20)
    parser.add_argument("--rows", type=int, default=10)
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--rate", type=int, default=1000, help="httpx client: requests/s")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--httpx", action="store_true", help="use the httpx client even if wrk is installed")
    parser.add_argument("--only", choices=["peer", "nofast", "group", "workers"], action="append")
    args = parser.parse_args()
    print(f"{args.rows}-row JSON batches, {args.seconds} s each, PostgreSQL {sa.make_url(PG).host}, "
          f"{os.cpu_count()} cores")
    print("| server | client | req/s (200) | p50 ms | p99 ms | non-200 | rows acked | rows stored | lost "
          "| server CPU ms/req | client CPU ms/req | load avg |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    runs = {"peer": (1, False, True), "nofast": (1, True, False), "group": (1, True, True),
            "workers": (args.workers, True, True)}
    for name in args.only or list(runs):
        workers, group, fast = runs[name]
        print(bench(workers, group, args, fast), flush=True)


if __name__ == "__main__":
    main()
