"""Alerting end to end, with real processes on loopback: drift reaches a retraining job exactly once.

* The Alertmanager path: ``driftline serve`` (SQLite in ``tmp_path``) scraped by Debian's
  Prometheus running the committed rules (only ``for:`` shortened to 2 s), which alerts Debian's
  Alertmanager running the committed routing (1 s group wait/interval, a 2 s repeat interval so it
  keeps re-sending), which posts to Driftline's receiver; Driftline starts one retraining job and
  POSTs it, signed, to a test endpoint, however often Alertmanager repeats. The job reports back
  with a new reference, the drift stops, the alert resolves everywhere. On the way, every Grafana
  panel query runs against this Prometheus, and ``promtool check metrics`` reads a real scrape.
* The direct path: an in-service rule, the endpoint down while drift starts, every event
  delivered exactly once when it is back.

Measured latencies are printed (run with ``-s``) and attached with ``record_property``. The
binaries come from scripts/install-monitoring.sh; without them the tests skip, under CI=true
they fail.
"""

from __future__ import annotations

import itertools
import re
import secrets
import subprocess
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest

from alerts.signing import SIGNATURE_HEADER, verify
from dashboards.build import panel_queries, substitute_variables, variable_queries
from tests.e2e._procs import (
    CATEGORICAL,
    NUMERICAL,
    Feeder,
    Proc,
    Received,
    RetrainEndpoint,
    alertmanager_config,
    binary,
    driftline_env,
    fast_rules,
    free_port,
    prometheus_config,
    rows,
    wait_for,
)

API_KEY = "k-e2e-alerting-3f9b1c7d2e"
AUTH = {"Authorization": f"Bearer {API_KEY}"}
SECRET_ENV = "DRIFTLINE_E2E_RETRAIN_SECRET"
#: Alertmanager's repeat interval in the rewritten config.
REPEAT_SECONDS = 2.0


def _config(path: Path, *, endpoint: str, monitors: str) -> Path:
    path.write_text(f"""\
webhooks:
  - name: retrain
    url: {endpoint}/retrain
    secret_env: {SECRET_ENV}
    timeout: 2s
    max_attempts: 30
    backoff: 1s
    backoff_max: 2s
monitors:
{monitors}""", encoding="utf-8")
    return path


def _monitor(name: str, *, window: str, extra: str) -> str:
    return f"""\
  - name: {name}
    model: {name}-model
    every: 1s
    window: {{last: {window}}}
    min_rows: 50
    schema:
      target: label
      task: classification
      numerical: [{", ".join(NUMERICAL)}]
      categorical: [{", ".join(CATEGORICAL)}]
    features:  # alpha 0.01: a false dataset drift on undrifted data needs 3 of 4 tests at 1% at once
      x1: {{method: ks, alpha: 0.01}}
      x2: {{method: ks, alpha: 0.01}}
      x3: {{method: psi, threshold: 0.2}}
      plan: {{method: chi_square, alpha: 0.01}}
      region: {{method: chi_square, alpha: 0.01}}
    performance:  # labels come with the predictions; alpha 0.001: no false degradation on undrifted data
      bucket: 1s
      min_labels: 20
      alpha: 0.001
{extra}"""


@dataclass
class Driftline:
    """A running ``driftline serve`` and a client for its API."""

    proc: Proc
    url: str
    client: httpx.Client = field(default_factory=lambda: httpx.Client(timeout=15))

    def get(self, path: str, **params: Any) -> Any:
        response = self.client.get(f"{self.url}{path}", params=params)
        assert response.status_code == 200, f"GET {path}: {response.status_code} {response.text}"
        return response.json()

    def post(self, path: str, body: Any, expect: int = 200) -> Any:
        response = self.client.post(f"{self.url}{path}", json=body, headers=AUTH)
        assert response.status_code == expect, f"POST {path}: {response.status_code} {response.text}"
        return response.json()

    def runs(self, monitor: str) -> list[dict[str, Any]]:
        return list(self.get(f"/v1/monitors/{monitor}/runs", limit=1000))

    def metrics(self) -> str:
        response = self.client.get(f"{self.url}/metrics")
        assert response.status_code == 200, response.text
        return response.text

    def wait_ready(self) -> None:
        def ready() -> bool:
            self.proc.check_alive()
            return self.client.get(f"{self.url}/readyz", timeout=2).status_code == 200

        wait_for(ready, "driftline /readyz", 60, every=0.05, diagnose=self.proc.tail)


@dataclass
class Stack:
    """Everything one test started; :meth:`close` stops it all and checks nothing is left running."""

    tmp: Path
    endpoint: RetrainEndpoint = field(default_factory=RetrainEndpoint)
    procs: list[Proc] = field(default_factory=list)
    feeders: list[Feeder] = field(default_factory=list)
    clients: list[httpx.Client] = field(default_factory=list)
    #: The webhook target's HMAC secret (``secret_env`` in driftline.yaml).
    secret: str = field(default_factory=lambda: secrets.token_hex(16))

    def start(self, name: str, args: list[str], env: dict[str, str] | None = None) -> Proc:
        proc = Proc(name, args, self.tmp / f"{name}.log", env)
        self.procs.append(proc)
        return proc

    def driftline(self, config: Path, *, database_url: str, token: str) -> Driftline:
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = driftline_env(DRIFTLINE_DATABASE_URL=database_url, DRIFTLINE_API_KEYS=API_KEY,
                            DRIFTLINE_CONFIG=str(config), DRIFTLINE_ALERTMANAGER_TOKEN=token,
                            DRIFTLINE_PUBLIC_URL=url, **{SECRET_ENV: self.secret})
        proc = self.start("driftline", [binary("driftline"), "serve", "--host", "127.0.0.1", "--port", str(port)], env)
        driftline = Driftline(proc, url)
        self.clients.append(driftline.client)
        return driftline

    def feed(self, driftline: Driftline, model: str, seed: int) -> Feeder:
        feeder = Feeder(driftline.url, model, API_KEY, seed=seed)
        self.feeders.append(feeder)
        feeder.start()
        return feeder

    def close(self) -> None:
        for feeder in self.feeders:
            feeder.stop()
        for proc in reversed(self.procs):
            proc.stop()
        self.endpoint.stop()
        for client in self.clients:
            client.close()
        pids = {str(p.pid) for p in self.procs}
        listing = subprocess.run(["ps", "-eo", "pid=,args="], capture_output=True, text=True, check=True).stdout
        left = [line for line in listing.splitlines()
                if line.split(None, 1)[0] in pids or str(self.tmp) in line]
        assert not left, f"processes left running: {left}"


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Driftline's database: SQLite in tmp_path, or a schema of its own in the session's PostgreSQL.

    Tests list it before ``stack``, so the processes are stopped before the schema is dropped.
    """
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'driftline.db'}"
    return str(request.getfixturevalue("pg_url"))  # skips (fails under CI=true) without PostgreSQL


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    s = Stack(tmp_path)
    s.endpoint.start()
    try:
        yield s
    finally:
        s.close()


def _upload_reference(driftline: Driftline, monitor: str, *, drifted: bool, seed: int, n: int = 1000) -> int:
    body = rows(n, drifted=drifted, rng=np.random.default_rng(seed))
    return int(driftline.post(f"/v1/monitors/{monitor}/reference", body, expect=201)["version"])


def _utc_seconds(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def _signed(received: Received, secret: str) -> bool:
    header = received.headers.get(SIGNATURE_HEADER, "")
    return verify(secret.encode(), header, received.body, now=int(time.time()))


class Latencies:
    """Named instants (unix seconds) and the gaps between them."""

    def __init__(self) -> None:
        self.at: dict[str, float] = {}

    def mark(self, name: str, when: float | None = None) -> float:
        self.at[name] = time.time() if when is None else when
        return self.at[name]

    def report(self, steps: list[tuple[str, str]], record: Callable[[str, object], None]) -> str:
        lines = []
        for a, b in steps:
            gap = self.at[b] - self.at[a]
            lines.append(f"  {a} -> {b}: {gap:.2f} s")
            record(f"latency {a} -> {b}", round(gap, 3))
        return "\n".join(lines)


# --- Prometheus and Alertmanager --------------------------------------------------------------------


@dataclass
class Prometheus:
    url: str
    proc: Proc

    def query(self, expr: str) -> list[dict[str, Any]]:
        response = httpx.get(f"{self.url}/api/v1/query", params={"query": expr}, timeout=10)
        body = response.json()
        assert response.status_code == 200, f"{expr!r}: {response.text}"
        assert body["status"] == "success", f"{expr!r}: {response.text}"
        return list(body["data"]["result"])

    def alerts(self, name: str, state: str, monitor: str) -> list[dict[str, Any]]:
        return self.query(self.alerts_selector(name, state, monitor))

    @staticmethod
    def alerts_selector(name: str, state: str, monitor: str) -> str:
        return f'ALERTS{{alertname="{name}", alertstate="{state}", monitor="{monitor}"}}'

    def samples(self, selector: str, seconds: int = 300) -> list[tuple[float, float]]:
        """The raw samples of one series over the last ``seconds``, with Prometheus' own timestamps."""
        result = self.query(f"{selector}[{seconds}s]")
        assert len(result) == 1, result
        return [(float(ts), float(v)) for ts, v in result[0]["values"]]


def _start_monitoring(stack: Stack, driftline: Driftline, token: str) -> tuple[Prometheus, str, Proc]:
    """Alertmanager and Prometheus on the committed configs, rewritten for this test."""
    tmp = stack.tmp
    token_file = tmp / "driftline-token"
    token_file.write_text(token + "\n", encoding="utf-8")
    am_port, prom_port = free_port(), free_port()
    am_url, prom_url = f"http://127.0.0.1:{am_port}", f"http://127.0.0.1:{prom_port}"
    am_config = alertmanager_config(tmp / "alertmanager.yml", driftline_url=driftline.url, token_file=token_file)
    rules = fast_rules(tmp / "rules")
    prom_config = prometheus_config(tmp / "prometheus.yml", rules=rules, driftline=driftline.url.removeprefix("http://"),
                                    alertmanager=f"127.0.0.1:{am_port}")
    check = subprocess.run([binary("promtool"), "check", "config", str(prom_config)], capture_output=True, text=True,
                           timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    am = stack.start("alertmanager", [
        binary("prometheus-alertmanager"), f"--config.file={am_config}", f"--storage.path={tmp / 'am'}",
        f"--web.listen-address=127.0.0.1:{am_port}", f"--web.external-url={am_url}", "--cluster.listen-address="])
    prom = stack.start("prometheus", [
        binary("prometheus"), f"--config.file={prom_config}", f"--storage.tsdb.path={tmp / 'prom'}",
        f"--web.listen-address=127.0.0.1:{prom_port}", f"--web.external-url={prom_url}"])
    return Prometheus(prom_url, prom), am_url, am


def _am_webhook_notifications(am_url: str) -> float:
    """Notifications Alertmanager has sent through its webhook integration (its own counter)."""
    text = httpx.get(f"{am_url}/metrics", timeout=5).text
    match = re.search(r'^alertmanager_notifications_total\{integration="webhook"\} (\S+)$', text, flags=re.MULTILINE)
    return float(match.group(1)) if match else 0.0


def _am_active(am_url: str, name: str, monitor: str) -> list[dict[str, Any]]:
    alerts = httpx.get(f"{am_url}/api/v2/alerts", timeout=5).json()
    return [a for a in alerts if a["labels"].get("alertname") == name and a["labels"].get("monitor") == monitor]


def _check_dashboards(prom: Prometheus, *, monitor: str, model: str,
                      seconds_range: int) -> list[tuple[str, str, str]]:
    """Run every panel and variable query; return (dashboard uid, title, expr) of each that had no data.

    Variable queries are returned with the title ``variable: <name>`` and their selector as expr.
    """
    monitors = {s["metric"]["monitor"] for s in prom.query(variable_selector("monitor", monitor="", model=""))}
    assert monitor in monitors, monitors
    features = {s["metric"]["feature"] for s in prom.query(variable_selector("feature", monitor=monitor, model=model))}
    assert features >= set(NUMERICAL) | set(CATEGORICAL), features
    values = {"monitor": monitor, "model": model, "feature": "|".join(sorted(features)),
              "__range": f"{seconds_range}s", "__rate_interval": "10s", "__interval": "1s"}
    empty = []
    for uid, name, selector in variable_queries():
        if not prom.query(substitute_variables(selector, values)):  # fails on an error
            empty.append((uid, f"variable: {name}", selector))
    for uid, title, expr in panel_queries():
        result = prom.query(substitute_variables(expr, values))  # fails on an error
        if not result:
            empty.append((uid, title, expr))
    return empty


def variable_selector(name: str, **values: str) -> str:
    (selector,) = [q for _, var, q in variable_queries() if var == name]
    return substitute_variables(selector, values)


#: The only panel or variable queries that may return no data here, each with the reason. The
#: monitor has labels (performance, label coverage, target and concept drift are all computed),
#: so everything else must have data.
NO_DATA_HERE = {
    # An annotation only when a change detector fires: the feed's error rate never changes
    # (labels flip 10 % of predictions, drifted or not), so no concept drift is detected.
    'max(driftline_concept_drift_detected{monitor="$monitor", model="$model"}) == 1':
        "no concept drift: the error rate of the feed is constant",
    'max by (metric) (driftline_model_performance{monitor="$monitor", model="$model", kind="estimated"})':
        "no estimate: the monitor logs no prediction_score, so CBPE (the default estimator) is off",
    'max by (metric) (driftline_model_performance_lower{monitor="$monitor", model="$model", kind="estimated"})':
        "no estimate: the monitor logs no prediction_score, so CBPE (the default estimator) is off",
    'max by (metric) (driftline_model_performance_upper{monitor="$monitor", model="$model", kind="estimated"})':
        "no estimate: the monitor logs no prediction_score, so CBPE (the default estimator) is off",
}


def test_drift_reaches_the_retraining_job_once_through_prometheus_and_alertmanager(
    store_url: str, stack: Stack, record_property: Callable[[str, object], None]
) -> None:
    token = secrets.token_hex(16)
    config = _config(stack.tmp / "driftline.yaml", endpoint=stack.endpoint.url, monitors=_monitor(
        "alpha", window="20s", extra="""\
    retrain:
      on: [DriftlineDatasetDrift, dataset-drift]
      cooldown: 1h
      action: {type: http, webhook: retrain}
"""))
    driftline = stack.driftline(config, database_url=store_url, token=token)
    prom, am_url, am = _start_monitoring(stack, driftline, token)
    t = Latencies()
    t0 = t.mark("start")

    driftline.wait_ready()
    assert _upload_reference(driftline, "alpha", drifted=False, seed=1) == 1
    feeder = stack.feed(driftline, "alpha-model", seed=2)

    # Prometheus scrapes driftline, and the monitor runs on undrifted data: no drift alert.
    wait_for(lambda: httpx.get(f"{am_url}/-/ready", timeout=2).status_code == 200, "Alertmanager ready", 30,
             diagnose=am.tail)
    wait_for(lambda: prom.query('up{job="driftline"} == 1'), 'up{job="driftline"} == 1', 30, diagnose=prom.proc.tail)
    t.mark("scraped")
    wait_for(lambda: len([r for r in driftline.runs("alpha") if r["status"] == "ok"]) >= 3, "three ok runs", 30,
             diagnose=driftline.proc.tail)
    wait_for(lambda: prom.query('driftline_dataset_drift_detected{monitor="alpha"} == 0'),
             "the undrifted verdict in Prometheus", 15)
    quiet_until = time.monotonic() + 4
    while time.monotonic() < quiet_until:
        for state in ("pending", "firing"):
            assert not prom.alerts("DriftlineDatasetDrift", state, "alpha"), f"{state} on undrifted data"
        time.sleep(0.25)
    assert not [r for r in driftline.runs("alpha") if r["status"] == "drift"], "drift on undrifted data"
    assert not stack.endpoint.received()

    # Drift: the alert fires, Alertmanager posts to driftline, one job, one retraining request.
    feeder.drifted = True
    t.mark("feed drifted")
    first_drift = wait_for(lambda: [r for r in driftline.runs("alpha") if r["status"] == "drift"],
                           "a drift run", 30, diagnose=driftline.proc.tail)[-1]
    t.mark("drift run stored", _utc_seconds(first_drift["finished_at"]))
    wait_for(lambda: prom.query('driftline_dataset_drift_detected{monitor="alpha"} == 1'),
             "the drift verdict in Prometheus", 15)
    t.mark("drift scraped", min(ts for ts, v in prom.samples('driftline_dataset_drift_detected{monitor="alpha"}')
                                if v == 1))
    firing = prom.alerts_selector("DriftlineDatasetDrift", "firing", "alpha")
    wait_for(lambda: prom.query(firing), "DriftlineDatasetDrift firing", 30,
             diagnose=lambda: prom.proc.tail() + am.tail())
    t.mark("alert firing in Prometheus", prom.samples(firing)[0][0])  # its first evaluation as firing
    jobs = wait_for(lambda: driftline.get("/v1/retrain-jobs", monitor="alpha"), "a retrain job", 30,
                    diagnose=lambda: driftline.proc.tail() + am.tail())
    (job,) = jobs
    assert (job["reason"], job["outcome"], job["dry_run"]) == ("DriftlineDatasetDrift", "triggered", False), job
    (episode,) = [n for n in driftline.get("/v1/alertmanager/notifications")
                  if n["alertname"] == "DriftlineDatasetDrift" and n["monitor"] == "alpha"]
    t.mark("webhook at driftline", _utc_seconds(episode["received_at"]))
    (request,) = wait_for(lambda: stack.endpoint.received(), "the retraining request", 30,
                          diagnose=driftline.proc.tail)
    t.mark("retraining request at the endpoint", request.at)

    assert (request.path, request.status) == ("/retrain", 200)
    assert _signed(request, stack.secret), request.headers
    assert request.headers["Idempotency-Key"] == f"retrain:{job['id']}"
    body = request.json()
    assert (body["type"], body["job_id"]) == ("driftline.retrain", job["id"])
    assert (body["monitor"], body["model"], body["reason"]) == ("alpha", "alpha-model", "DriftlineDatasetDrift")
    assert body["trigger"]["fingerprint"] == episode["fingerprint"]
    assert body["callback_url"] == f"{driftline.url}/v1/retrain-jobs/{job['id']}/complete"
    assert body["trigger"]["annotations"]["report_url"] == f"{driftline.url}/v1/monitors/alpha/report"

    # Alertmanager keeps repeating the firing alert; driftline absorbs every repeat. Meanwhile, with
    # the alert firing, every Grafana panel query runs against this Prometheus.
    sent_before = _am_webhook_notifications(am_url)
    repeats_from = time.monotonic()
    empty = _check_dashboards(prom, monitor="alpha", model="alpha-model", seconds_range=int(time.time() - t0) + 1)

    def duplicates() -> int:
        return driftline.proc.text().count("alertmanager alert DriftlineDatasetDrift of monitor alpha: duplicate")

    # Alertmanager re-checks on its 1 s group interval, so a 2 s repeat comes every 2-3 s.
    wait_for(lambda: duplicates() >= 3, "three repeats of the firing alert", 6 * REPEAT_SECONDS + 5, every=0.2,
             diagnose=am.tail)
    time.sleep(max(0.0, repeats_from + 3 * REPEAT_SECONDS - time.monotonic()))
    assert prom.alerts("DriftlineDatasetDrift", "firing", "alpha"), "the alert stopped firing too early"
    assert _am_webhook_notifications(am_url) - sent_before >= 3, "Alertmanager did not repeat"
    assert len(stack.endpoint.received()) == 1, [r.json() for r in stack.endpoint.received()]
    assert [j["id"] for j in driftline.get("/v1/retrain-jobs")] == [job["id"]]
    (delivery,) = driftline.get("/v1/deliveries")
    assert (delivery["kind"], delivery["status"], delivery["attempts"]) == ("retrain", "delivered", 1), delivery

    unexpected = [f"{uid} / {title}: {expr}" for uid, title, expr in empty if expr not in NO_DATA_HERE]
    assert not unexpected, "panel or variable queries without data:\n" + "\n".join(unexpected)

    # The job reports back with the drifted data as its new reference: the drift stops, the alert resolves.
    done = driftline.post(f"/v1/retrain-jobs/{job['id']}/complete", {
        "status": "succeeded", "detail": "retrained on the last day",
        "reference": rows(1000, drifted=True, rng=np.random.default_rng(3))})
    assert (done["status"], done["reference_version"]) == ("succeeded", 2), done
    t.mark("job completed")
    references = driftline.get("/v1/monitors/alpha/references")
    assert {(r["version"], r["active"], r["source"]) for r in references} == {
        (1, False, "upload"), (2, True, f"retrain:{job['id']}")}
    ok = wait_for(lambda: [r for r in driftline.runs("alpha") if r["reference_version"] == 2 and r["status"] == "ok"],
                  "an ok run on the new reference", 40, diagnose=driftline.proc.tail)[-1]
    t.mark("drift stopped (ok run stored)", _utc_seconds(ok["finished_at"]))
    wait_for(lambda: not prom.query(firing), "the alert to resolve", 30)
    # Resolved at the evaluation after its last firing sample (evaluation_interval: 1s).
    t.mark("alert resolved in Prometheus", prom.samples(firing)[-1][0] + 1.0)
    wait_for(lambda: [n for n in driftline.get("/v1/alertmanager/notifications")
                      if n["fingerprint"] == episode["fingerprint"] and n["status"] == "resolved"],
             "driftline to record the resolution", 30, diagnose=am.tail)
    (resolved,) = [n for n in driftline.get("/v1/alertmanager/notifications")
                   if n["fingerprint"] == episode["fingerprint"]]
    assert resolved["starts_at"] == episode["starts_at"]
    t.mark("resolution at driftline", _utc_seconds(resolved["resolved_at"]))
    wait_for(lambda: not [a for a in _am_active(am_url, "DriftlineDatasetDrift", "alpha")
                          if a["status"]["state"] == "active"], "Alertmanager to resolve the alert", 15)
    later = wait_for(lambda: [r for r in driftline.runs("alpha")
                              if _utc_seconds(r["started_at"]) >= _utc_seconds(ok["finished_at"])],
                     "runs after the first ok one", 10)
    assert all((r["status"], r["reference_version"]) == ("ok", 2) for r in later), later

    # Still exactly one retraining request and one job; the deliveries metric and a real scrape check out.
    assert len(stack.endpoint.received()) == 1
    assert [j["status"] for j in driftline.get("/v1/retrain-jobs")] == ["succeeded"]
    metrics = driftline.metrics()
    assert 'driftline_webhook_deliveries_total{outcome="delivered",target="retrain"} 1.0' in metrics, metrics
    assert re.search(r'driftline_retrain_triggers_total\{[^}]*outcome="triggered"[^}]*\} 1\.0', metrics)
    check = subprocess.run([binary("promtool"), "check", "metrics"], input=metrics, capture_output=True, text=True,
                           timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    assert not feeder.errors, feeder.errors[:5]

    backend = store_url.split(":", 1)[0].split("+", 1)[0]
    print(f"\nAlertmanager path latencies ({backend}):\n" + t.report([
        ("feed drifted", "drift run stored"),
        ("drift run stored", "drift scraped"),
        ("drift run stored", "alert firing in Prometheus"),
        ("alert firing in Prometheus", "webhook at driftline"),
        ("webhook at driftline", "retraining request at the endpoint"),
        ("drift run stored", "retraining request at the endpoint"),
        ("drift stopped (ok run stored)", "alert resolved in Prometheus"),
        ("alert resolved in Prometheus", "resolution at driftline"),
        ("drift stopped (ok run stored)", "resolution at driftline"),
    ], record_property))
    print(f"Alertmanager repeats of DriftlineDatasetDrift absorbed as duplicates: {duplicates()}, "
          f"webhook notifications sent by Alertmanager: {_am_webhook_notifications(am_url):.0f}")
    print("Queries without data here (executed without error):\n  "
          + "\n  ".join(f"{uid} / {title}: {expr} ({NO_DATA_HERE.get(expr, '?')})" for uid, title, expr in empty))


def test_an_in_service_rule_delivers_every_event_once_across_an_endpoint_outage(
    store_url: str, stack: Stack, record_property: Callable[[str, object], None]
) -> None:
    config = _config(stack.tmp / "driftline.yaml", endpoint=stack.endpoint.url, monitors=_monitor(
        "beta", window="5s", extra="""\
    alerts:
      - name: dataset-drift
        when: dataset_drift
        webhooks: [retrain]
"""))
    driftline = stack.driftline(config, database_url=store_url, token="")
    driftline.wait_ready()
    _upload_reference(driftline, "beta", drifted=False, seed=11)
    feeder = stack.feed(driftline, "beta-model", seed=12)
    wait_for(lambda: len([r for r in driftline.runs("beta") if r["status"] == "ok"]) >= 2, "two ok runs", 30,
             diagnose=driftline.proc.tail)
    t = Latencies()

    # The endpoint answers 503, then is gone altogether, while the drift starts.
    stack.endpoint.status = 503
    feeder.drifted = True
    t.mark("feed drifted")
    wait_for(lambda: [d for d in driftline.get("/v1/deliveries") if d["attempts"] >= 2 and d["last_error"]],
             "failed attempts", 30, diagnose=driftline.proc.tail)
    stack.endpoint.stop()
    failing = wait_for(lambda: [d for d in driftline.get("/v1/deliveries")
                                if d["last_error"] and "HTTP" not in d["last_error"]], "a refused connection", 15)
    assert all(d["status"] == "pending" for d in failing), failing
    assert {d["last_error"] for d in driftline.get("/v1/deliveries")} <= {"HTTP 503", "ConnectError"}

    # Back: each event arrives once; then the drift stops and starts again: a second event, at once.
    stack.endpoint.status = 200
    stack.endpoint.start()
    t.mark("endpoint back")
    def delivered_keys() -> list[str]:
        return [r.headers["Idempotency-Key"] for r in stack.endpoint.received() if r.status == 200]

    wait_for(delivered_keys, "the delivery", 30, diagnose=driftline.proc.tail)
    t.mark("first event delivered", next(r.at for r in stack.endpoint.received() if r.status == 200))
    feeder.drifted = False
    wait_for(lambda: driftline.runs("beta")[0]["status"] == "ok", "an ok run", 30)
    before = len(delivered_keys())
    feeder.drifted = True
    t.mark("drift again")
    wait_for(lambda: len(delivered_keys()) > before, "the next event", 30, diagnose=driftline.proc.tail)
    t.mark("next event delivered", [r for r in stack.endpoint.received() if r.status == 200][before].at)
    time.sleep(3)  # time for a duplicate to show up, were there one
    feeder.stop()

    # Expected events: a run whose verdict is dataset drift right after one whose is not.
    runs = list(reversed(driftline.runs("beta")))
    expected = {f"beta:dataset-drift:{r['id']}" for prev, r in itertools.pairwise(runs)
                if r["status"] == "drift" and prev["status"] != "drift"}
    delivered = Counter(delivered_keys())
    assert set(delivered) == expected, (delivered, expected)
    assert set(delivered.values()) == {1}, delivered  # exactly once each
    for received in stack.endpoint.received():
        assert _signed(received, stack.secret), received.headers
        body = received.json()
        assert body["idempotency_key"] == received.headers["Idempotency-Key"]
        assert (body["type"], body["monitor"], body["rule"], body["status"]) == (
            "driftline.alert", "beta", "dataset-drift", "drift")
    deliveries = driftline.get("/v1/deliveries")
    assert {d["idempotency_key"] for d in deliveries} == expected
    assert {(d["status"], d["last_error"]) for d in deliveries} == {("delivered", None)}, deliveries
    # Every attempt that reached the endpoint is one driftline counted (refused connections did not reach it).
    attempts = Counter(r.headers["Idempotency-Key"] for r in stack.endpoint.received())
    assert all(attempts[d["idempotency_key"]] <= d["attempts"] for d in deliveries), (attempts, deliveries)
    assert max(d["attempts"] for d in deliveries) >= 3, deliveries  # 503s, refusals, then the delivery
    metrics = driftline.metrics()
    assert f'driftline_webhook_deliveries_total{{outcome="delivered",target="retrain"}} {len(expected)}.0' in metrics
    failed = re.search(r'driftline_webhook_deliveries_total\{outcome="failed",target="retrain"\} (\S+)', metrics)
    assert failed is not None, metrics
    assert float(failed.group(1)) >= 2, metrics
    assert driftline.get("/v1/retrain-jobs") == []  # no retraining policy on this monitor
    assert not feeder.errors, feeder.errors[:5]

    backend = store_url.split(":", 1)[0].split("+", 1)[0]
    print(f"\nDirect path latencies ({backend}):\n" + t.report([
        ("endpoint back", "first event delivered"),
        ("drift again", "next event delivered"),
    ], record_property))
    print(f"events: {len(expected)}, attempts at the endpoint: {dict(attempts)}")
