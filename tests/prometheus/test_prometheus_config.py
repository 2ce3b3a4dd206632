"""prometheus/: the Prometheus config, alert and recording rules, their promtool unit tests and
the Alertmanager config, checked by the real tools (Debian's promtool 2.42 and amtool 0.25), and
the committed configs run for real: Prometheus and Alertmanager on loopback, a stand-in
Driftline serving /metrics and receiving the webhook.

promtool and amtool come from scripts/install-monitoring.sh. Without them these tests skip,
except under CI=true, where a missing tool is a failure.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
PROM_DIR = REPO / "prometheus"
PROMETHEUS_YML = PROM_DIR / "prometheus.yml"
ALERTMANAGER_YML = PROM_DIR / "alertmanager.yml"
RULE_FILES = sorted((PROM_DIR / "rules").glob("*.yml"))
RULE_TEST_FILES = sorted((PROM_DIR / "tests").glob("*.yml"))
RUNBOOKS = REPO / "docs" / "runbooks.md"
METRICS_DOC = REPO / "docs" / "metrics.md"
#: runbook_url: the external label driftline_runbooks_url, or the path in the repository without it.
RUNBOOK = "{{ with $externalLabels.driftline_runbooks_url }}{{ . }}{{ else }}docs/runbooks.md{{ end }}#"
#: report_url: the base is Driftline's DRIFTLINE_PUBLIC_URL, exported as driftline_public_url_info.
REPORT = ('{{ with query "max by (url) (driftline_public_url_info)" }}{{ . | first | label "url" }}{{ end }}'
          "/v1/monitors/{{ $labels.monitor }}/report")
TOKEN_FILE = "/etc/alertmanager/driftline-token"

T = TypeVar("T")


# --- helpers -------------------------------------------------------------------------------------


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        reason = f"{name} is not installed (scripts/install-monitoring.sh installs it)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return path


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(a) for a in args], cwd=REPO, capture_output=True, text=True, timeout=120,
                          check=False)


def _ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, f"{proc.args} exited {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def _load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def _alert_rules() -> list[dict[str, Any]]:
    return [rule for path in RULE_FILES for group in _load(path)["groups"] for rule in group["rules"]
            if "alert" in rule]


def _all_rules() -> list[dict[str, Any]]:
    return [rule for path in RULE_FILES for group in _load(path)["groups"] for rule in group["rules"]]


ALERT_NAMES = sorted({rule["alert"] for rule in _alert_rules()})


def _documented_metrics() -> dict[str, tuple[str, set[str]]]:
    """docs/metrics.md's table: metric name -> (type, labels)."""
    rows = re.findall(r"^\| `(driftline_\w+)` \| ([^|]+) \| ([^|]*) \|", METRICS_DOC.read_text(encoding="utf-8"),
                      flags=re.MULTILINE)
    return {name: (kind.strip(), {label.strip() for label in labels.split(",") if label.strip()})
            for name, kind, labels in rows}


# --- promtool and amtool -------------------------------------------------------------------------


def test_the_files_exist() -> None:
    assert [p.name for p in RULE_FILES] == ["driftline-alerts.yml", "driftline-recording.yml"]
    assert RULE_TEST_FILES, "no promtool test files under prometheus/tests"


def test_promtool_check_config_loads_both_rule_files() -> None:
    out = _ok(_run(_tool("promtool"), "check", "config", PROMETHEUS_YML.relative_to(REPO)))
    # rule_files are relative to the config file: both files must be found through the glob.
    for path in RULE_FILES:
        assert f"{path.relative_to(REPO)}" in out and "SUCCESS" in out, out


def test_prometheus_config_scrapes_driftline_and_alerts_alertmanager() -> None:
    config = _load(PROMETHEUS_YML)
    (job,) = [j for j in config["scrape_configs"] if j["job_name"] == "driftline"]
    # The target label the alert rules know Driftline by (DriftlineDown), whatever the job's name.
    assert job["static_configs"] == [{"targets": ["driftline:8000"], "labels": {"app": "driftline"}}]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    assert job["scrape_interval"] == "15s"
    assert config["rule_files"] == ["rules/*.yml"]
    assert config["alerting"]["alertmanagers"][0]["static_configs"] == [{"targets": ["alertmanager:9093"]}]
    # Driftline's URL is DRIFTLINE_PUBLIC_URL alone: no copy of it here.
    assert "driftline_url" not in (config["global"].get("external_labels") or {})


def test_driftline_url_is_set_in_one_place() -> None:
    """No Prometheus file names Driftline's public URL; the rules read it from Driftline's own series."""
    for path in (PROMETHEUS_YML, ALERTMANAGER_YML, *RULE_FILES):
        assert "driftline_url" not in path.read_text(encoding="utf-8"), path
    reports = [rule["annotations"]["report_url"] for rule in _alert_rules() if "report_url" in rule["annotations"]]
    assert reports and set(reports) == {REPORT}
    assert "driftline_public_url_info" in _documented_metrics()


def test_driftline_down_knows_driftline_by_its_target_label_not_its_job() -> None:
    (rule,) = [r for r in _alert_rules() if r["alert"] == "DriftlineDown"]
    assert "job" not in rule["expr"]
    assert rule["expr"].strip() == 'up{app="driftline"} == 0 or absent(up{app="driftline"})'


def test_promtool_check_rules_lint_fatal() -> None:
    out = _ok(_run(_tool("promtool"), "check", "rules", "--lint-fatal", *RULE_FILES))
    assert out.count("SUCCESS") == len(RULE_FILES), out


def test_promtool_rule_unit_tests_pass() -> None:
    out = _ok(_run(_tool("promtool"), "test", "rules", *RULE_TEST_FILES))
    assert "SUCCESS" in out, out


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    cases: dict[str, set[bool]] = {name: set() for name in ALERT_NAMES}
    for path in RULE_TEST_FILES:
        for test in _load(path)["tests"]:
            for case in test.get("alert_rule_test", []):
                cases.setdefault(case["alertname"], set()).add(bool(case.get("exp_alerts")))
    assert {name: seen for name, seen in cases.items() if seen != {True, False}} == {}


def test_amtool_check_config() -> None:
    out = _ok(_run(_tool("amtool"), "check-config", ALERTMANAGER_YML.relative_to(REPO)))
    assert "SUCCESS" in out, out


def test_alertmanager_receiver_uses_a_token_file_and_sends_everything() -> None:
    config = _load(ALERTMANAGER_YML)
    assert set(config["route"]["group_by"]) == {"monitor", "alertname"}
    (receiver,) = [r for r in config["receivers"] if r["name"] == "driftline"]
    (hook,) = receiver["webhook_configs"]
    assert hook["url"] == "http://driftline:8000/v1/alertmanager/webhook"
    assert hook["send_resolved"] is True
    assert hook["max_alerts"] == 0
    assert "timeout" not in hook  # Alertmanager 0.25 refuses it
    assert hook["http_config"]["authorization"] == {"type": "Bearer", "credentials_file": TOKEN_FILE}
    assert "credentials" not in hook["http_config"]["authorization"]


@pytest.mark.parametrize("alertname", ALERT_NAMES)
def test_every_alert_routes_to_the_driftline_receiver(alertname: str) -> None:
    labels = [f"alertname={alertname}", "monitor=churn", "model=churn-clf", "severity=critical"]
    out = _ok(_run(_tool("amtool"), "config", "routes", "test", f"--config.file={ALERTMANAGER_YML}", *labels))
    assert out.split() == ["driftline"]


def test_an_alert_without_a_monitor_label_routes_to_the_driftline_receiver() -> None:
    out = _ok(_run(_tool("amtool"), "config", "routes", "test", f"--config.file={ALERTMANAGER_YML}",
                   "alertname=DriftlineWebhookDeliveriesFailing", "target=retrain", "severity=warning"))
    assert out.split() == ["driftline"]


# --- conventions: labels, annotations, runbooks, metric names --------------------------------------


@pytest.mark.parametrize("rule", _alert_rules(), ids=lambda r: f"{r['alert']}-{r['labels']['severity']}")
def test_alert_has_severity_annotations_and_a_runbook_section(rule: dict[str, Any]) -> None:
    name = rule["alert"]
    assert rule["labels"]["severity"] in {"warning", "critical"}
    annotations = rule["annotations"]
    assert annotations["summary"].strip() and annotations["description"].strip()
    assert annotations["runbook_url"] == f"{RUNBOOK}{name.lower()}"
    headings = re.findall(r"^## (\S+)\s*$", RUNBOOKS.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert name in headings, f"docs/runbooks.md has no '## {name}' section"
    if "report_url" in annotations:
        assert annotations["report_url"] == REPORT


def test_every_runbook_section_is_an_alert() -> None:
    headings = re.findall(r"^## (\S+)\s*$", RUNBOOKS.read_text(encoding="utf-8"), flags=re.MULTILINE)
    assert sorted(headings) == ALERT_NAMES


def test_per_monitor_alerts_link_the_report() -> None:
    for rule in _alert_rules():
        if re.search(r"by \([^)]*\bmonitor\b", rule["expr"]):
            assert "report_url" in rule["annotations"], rule["alert"]


def test_rules_use_only_documented_metrics_and_labels() -> None:
    documented = _documented_metrics()
    assert "driftline_runs_total" in documented  # the table parsed
    histogram_suffixes = ("_bucket", "_sum", "_count")
    labels = set().union(*(labels for _, labels in documented.values())) | {"job", "instance", "le"}
    for rule in _all_rules():
        text = rule["expr"] + " ".join(rule.get("annotations", {}).values())
        for name in re.findall(r"(?<![\w:.])driftline_\w+(?![\w:])", text):
            base = next((name.removesuffix(s) for s in histogram_suffixes
                         if name.endswith(s) and documented.get(name.removesuffix(s), ("",))[0] == "histogram"), name)
            assert base in documented, f"{rule.get('alert') or rule.get('record')}: {name} is not in docs/metrics.md"
        for group in re.findall(r"\b(?:by|on|without|ignoring)\s*\(([^)]*)\)", rule["expr"]):
            used = {label.strip() for label in group.split(",") if label.strip()}
            assert used <= labels, f"{rule.get('alert') or rule.get('record')}: unknown labels {used - labels}"


# --- the real thing: Prometheus -> Alertmanager -> Driftline's webhook, on loopback ----------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(check: Callable[[], T | None], what: str, timeout_seconds: float = 30.0) -> T:
    deadline = time.monotonic() + timeout_seconds
    while time.monotonic() < deadline:
        try:
            result = check()
        except OSError:
            result = None
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout_seconds} s waiting for {what}")


def _get_status(url: str) -> int:
    with urllib.request.urlopen(url, timeout=2) as response:
        return int(response.status)


def _get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


@dataclass
class _Recorder:
    """A stand-in Driftline: serves a fixed /metrics and records the webhook posts it receives."""

    metrics: str = ""
    posts: list[tuple[str, dict[str, str], Any]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


@pytest.fixture
def driftline() -> Iterator[tuple[_Recorder, int]]:
    recorder = _Recorder()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = recorder.metrics.encode()
            self.send_response(200 if self.path == "/metrics" else 404)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with recorder.lock:
                recorder.posts.append((self.path, dict(self.headers), json.loads(body)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # quiet: no line per request
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield recorder, int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class _Process:
    def __init__(self, args: list[str], log: Path) -> None:
        self.log = log
        self._out = log.open("wb")
        self.proc = subprocess.Popen(args, stdout=self._out, stderr=subprocess.STDOUT, cwd=log.parent)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._out.close()

    def tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


@pytest.fixture
def alertmanager(tmp_path: Path, driftline: tuple[_Recorder, int]) -> Iterator[tuple[str, str]]:
    """The committed alertmanager.yml with the webhook pointed at the stand-in, the token file
    in tmp_path and 1 s group waits; everything else as committed. Yields (URL, token)."""
    binary = _tool("prometheus-alertmanager")
    _, driftline_port = driftline
    token = "test-token-1234"
    (tmp_path / "driftline-token").write_text(token + "\n", encoding="utf-8")
    config = _load(ALERTMANAGER_YML)
    config["route"].update(group_wait="1s", group_interval="1s")
    (hook,) = config["receivers"][0]["webhook_configs"]
    hook["url"] = hook["url"].replace("http://driftline:8000", f"http://127.0.0.1:{driftline_port}")
    hook["http_config"]["authorization"]["credentials_file"] = str(tmp_path / "driftline-token")
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    am = _Process([binary, f"--config.file={tmp_path / 'alertmanager.yml'}", f"--storage.path={tmp_path / 'am'}",
                   f"--web.listen-address=127.0.0.1:{port}", f"--web.external-url={url}",
                   "--cluster.listen-address="], tmp_path / "alertmanager.log")
    try:
        try:
            _wait_for(lambda: _get_status(f"{url}/-/ready") == 200, "Alertmanager to be ready")
        except AssertionError:
            raise AssertionError(f"Alertmanager log:\n{am.tail()}") from None
        yield url, token
    finally:
        am.stop()


PUBLIC_URL = "https://driftline.example.org"
RUNBOOKS_URL = "https://runbooks.example.org/driftline/runbooks.md"

STALE_CHURN = f"""\
# TYPE driftline_public_url_info gauge
driftline_public_url_info{{url="{PUBLIC_URL}"}} 1
# TYPE driftline_last_successful_run_timestamp_seconds gauge
driftline_last_successful_run_timestamp_seconds{{monitor="churn",model="churn-clf"}} 1000
# TYPE driftline_monitor_schedule_period_seconds gauge
driftline_monitor_schedule_period_seconds{{monitor="churn",model="churn-clf"}} 300
"""


def test_a_firing_alert_reaches_driftline_with_the_token_and_the_report_url(
    tmp_path: Path, driftline: tuple[_Recorder, int], alertmanager: tuple[str, str]
) -> None:
    binary = _tool("prometheus")
    recorder, driftline_port = driftline
    recorder.metrics = STALE_CHURN
    am_url, token = alertmanager
    committed = _load(PROMETHEUS_YML)
    config = _load(PROMETHEUS_YML)
    config["global"].update(scrape_interval="1s", evaluation_interval="1s",
                            external_labels={"driftline_runbooks_url": RUNBOOKS_URL})
    config["rule_files"] = [str(PROM_DIR / pattern) for pattern in committed["rule_files"]]
    config["alerting"]["alertmanagers"][0]["static_configs"] = [{"targets": [am_url.removeprefix("http://")]}]
    (job,) = config["scrape_configs"]
    job.update(job_name="ml-platform", scrape_interval="1s")  # any job name will do
    job["static_configs"][0]["targets"] = [f"127.0.0.1:{driftline_port}"]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    prom = _Process([binary, f"--config.file={tmp_path / 'prometheus.yml'}",
                     f"--storage.tsdb.path={tmp_path / 'prom'}", f"--web.listen-address=127.0.0.1:{port}",
                     f"--web.external-url={url}"], tmp_path / "prometheus.log")
    try:
        def webhook_posts() -> list[Any] | None:
            with recorder.lock:
                return [p for p in recorder.posts if p[2]["status"] == "firing"] or None

        try:
            path, headers, body = _wait_for(webhook_posts, "the webhook post")[0]
        except AssertionError:
            raise AssertionError(f"Prometheus log:\n{prom.tail()}") from None
        # The committed scrape config's app label reaches `up`, so DriftlineDown is not even pending.
        up = _get_json(f"{url}/api/v1/query?query=up")["data"]["result"]
        assert [r["metric"] for r in up] == [{"__name__": "up", "app": "driftline", "job": "ml-platform",
                                              "instance": f"127.0.0.1:{driftline_port}"}]
        query = urllib.parse.quote('ALERTS{alertname="DriftlineDown"}')
        assert _get_json(f"{url}/api/v1/query?query={query}")["data"]["result"] == []
    finally:
        prom.stop()

    assert path == "/v1/alertmanager/webhook"
    assert headers["Authorization"] == f"Bearer {token}"
    assert body["receiver"] == "driftline" and body["version"] == "4"
    assert body["groupLabels"] == {"alertname": "DriftlineMonitorStale", "monitor": "churn"}
    (alert,) = body["alerts"]
    assert alert["labels"] == {"alertname": "DriftlineMonitorStale", "monitor": "churn", "model": "churn-clf",
                               "severity": "critical", "driftline_runbooks_url": RUNBOOKS_URL}
    assert alert["annotations"]["report_url"] == f"{PUBLIC_URL}/v1/monitors/churn/report"
    assert alert["annotations"]["runbook_url"] == f"{RUNBOOKS_URL}#driftlinemonitorstale"
    assert "schedule periods of 5m 0s" in alert["annotations"]["description"]


def _post_alerts(am_url: str, *label_sets: dict[str, str]) -> None:
    body = json.dumps([{"labels": labels, "annotations": {"summary": "test"}} for labels in label_sets]).encode()
    request = urllib.request.Request(f"{am_url}/api/v2/alerts", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200


def _states(am_url: str) -> dict[tuple[str, str, str], str]:
    alerts = _get_json(f"{am_url}/api/v2/alerts")
    return {(a["labels"]["alertname"], a["labels"].get("monitor", a["labels"].get("target", "")),
             a["labels"]["severity"]): a["status"]["state"] for a in alerts}


def test_alertmanager_inhibits_the_verdicts_of_a_stale_or_failing_monitor(alertmanager: tuple[str, str]) -> None:
    am_url, _ = alertmanager
    _post_alerts(
        am_url,
        {"alertname": "DriftlineMonitorStale", "monitor": "churn", "model": "churn-clf", "severity": "critical"},
        {"alertname": "DriftlineDatasetDrift", "monitor": "churn", "model": "churn-clf", "severity": "critical"},
        {"alertname": "DriftlineConceptDrift", "monitor": "churn", "model": "churn-clf", "severity": "warning"},
        {"alertname": "DriftlineMonitorRunsFailing", "monitor": "fraud", "model": "fraud-clf", "severity": "warning"},
        {"alertname": "DriftlineFeatureDrift", "monitor": "fraud", "model": "fraud-clf", "feature": "age",
         "method": "ks", "severity": "warning"},
        {"alertname": "DriftlinePerformanceDegraded", "monitor": "ads", "model": "ads-clf", "metric": "f1",
         "severity": "critical"},
        {"alertname": "DriftlineWebhookDeliveriesFailing", "target": "retrain", "severity": "critical"},
        {"alertname": "DriftlineWebhookDeliveriesFailing", "target": "retrain", "severity": "warning"},
        {"alertname": "DriftlineWebhookDeliveriesFailing", "target": "slack", "severity": "warning"},
    )
    states = _wait_for(lambda: s if len(s := _states(am_url)) == 9 else None, "the posted alerts")
    assert states == {
        ("DriftlineMonitorStale", "churn", "critical"): "active",
        ("DriftlineDatasetDrift", "churn", "critical"): "suppressed",
        ("DriftlineConceptDrift", "churn", "warning"): "suppressed",
        ("DriftlineMonitorRunsFailing", "fraud", "warning"): "active",
        ("DriftlineFeatureDrift", "fraud", "warning"): "suppressed",
        ("DriftlinePerformanceDegraded", "ads", "critical"): "active",  # another monitor: not inhibited
        ("DriftlineWebhookDeliveriesFailing", "retrain", "critical"): "active",
        ("DriftlineWebhookDeliveriesFailing", "retrain", "warning"): "suppressed",
        ("DriftlineWebhookDeliveriesFailing", "slack", "warning"): "active",
    }
