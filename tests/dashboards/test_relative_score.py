"""The monitor dashboard's per-feature query on a real Prometheus, over a seeded metric set.

A loopback HTTP server serves a hand-written ``/metrics`` page; Debian's Prometheus scrapes it
every second as two jobs (two replicas serving the same values, as every Driftline replica
does), and the tests query Prometheus's HTTP API. The expected ratios are computed here from
the seeded numbers with ``math.log10`` and division, not from the dashboard code. Without the
``prometheus`` binary (scripts/install-monitoring.sh) the tests skip; under CI=true they fail.
"""

from __future__ import annotations

import math
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from dashboards import build, monitor_page
from tests.conftest import service_unavailable

Row = tuple[str, str, str, str, float, float | None, float]
"""(monitor, model, feature, method, score, p-value or None, threshold) of one exported feature."""

SELECTED = ["age", "plan", "income", "tenure", "region", "seats"]
VALUES = {
    "monitor": "churn",
    "model": "churn_v3",
    "feature": "|".join(SELECTED),
    "__rate_interval": "5s",
    "__interval": "1s",
    "__range": "1m",
}
SEEDED: list[Row] = [
    ("churn", "churn_v3", "age", "ks", 0.9, 1e-3, 0.05),
    ("churn", "churn_v3", "plan", "chi_square", 40.0, 1e-9, 0.01),
    # Under the calibrated rule a distance carries a p-value too; its line is still the threshold.
    ("churn", "churn_v3", "income", "psi", 0.3, 0.004, 0.12),
    ("churn", "churn_v3", "tenure", "wasserstein", 0.05, None, 0.1),
    ("churn", "churn_v3", "region", "chi_square", 300.0, 0.0, 0.05),  # p underflowed to 0
    ("churn", "churn_v3", "seats", "jensen_shannon", 0.0, None, 0.1),
    # None of these may appear: another model, another monitor, a feature not selected.
    ("churn", "churn_v2", "age", "ks", 0.1, 0.5, 0.05),
    ("fraud", "churn_v3", "age", "psi", 9.0, None, 0.1),
    ("churn", "churn_v3", "unselected", "psi", 1.0, None, 0.1),
]
EXPECTED = {
    ("age", "ks"): math.log10(1e-3) / math.log10(0.05),
    ("plan", "chi_square"): 9 / 2,
    ("income", "psi"): 0.3 / 0.12,
    ("tenure", "wasserstein"): 0.05 / 0.1,
    ("region", "chi_square"): -16 / math.log10(0.05),  # drawn at the floor, p = 1e-16
    ("seats", "jensen_shannon"): 0.0,
}


def exposition(rows: list[Row], generation: str) -> str:
    """The /metrics text of ``rows``; ``driftline_build_info{version=generation}`` marks the state."""
    lines = [
        "# TYPE driftline_build_info gauge",
        f'driftline_build_info{{version="{generation}"}} 1',
        "# TYPE driftline_feature_drift_score gauge",
        "# TYPE driftline_feature_drift_p_value gauge",
        "# TYPE driftline_feature_drift_threshold gauge",
    ]
    for monitor, model, feature, method, score, p_value, threshold in rows:
        labels = f'{{monitor="{monitor}",model="{model}",feature="{feature}",method="{method}"}}'
        lines.append(f"driftline_feature_drift_score{labels} {score!r}")
        if p_value is not None:
            lines.append(f"driftline_feature_drift_p_value{labels} {p_value!r}")
        lines.append(f"driftline_feature_drift_threshold{labels} {threshold!r}")
    return "\n".join(lines) + "\n"


class _Page:
    """The text the exporter stub serves; swapped by the tests."""

    def __init__(self) -> None:
        self.text = exposition([], "empty")


def _serve(page: _Page) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = page.text.encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Prometheus:
    url: str
    page: _Page
    log: Path

    def query(self, expr: str, at: float | None = None) -> list[dict[str, Any]]:
        """An instant query's result vector; an error answer fails the test with Prometheus's message."""
        params = {"query": expr} | ({"time": f"{at:.3f}"} if at is not None else {})
        body = httpx.get(f"{self.url}/api/v1/query", params=params, timeout=10).json()
        assert body["status"] == "success", f"{body.get('errorType')}: {body.get('error')}\n{expr}"
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def query_range(self, expr: str, start: float, end: float) -> list[dict[str, Any]]:
        params = {"query": expr, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": "0.5"}
        body = httpx.get(f"{self.url}/api/v1/query_range", params=params, timeout=10).json()
        assert body["status"] == "success", f"{body.get('errorType')}: {body.get('error')}\n{expr}"
        result: list[dict[str, Any]] = body["data"]["result"]
        return result

    def publish(self, rows: list[Row], generation: str, timeout_seconds: float = 30.0) -> float:
        """Serve ``rows`` and wait until both jobs scraped them; return that time (Unix seconds).

        Series missing from the new page are marked stale by the same scrapes, so from then on
        an instant query sees exactly ``rows``.
        """
        self.page.text = exposition(rows, generation)
        return self.publish_current(generation, timeout_seconds)

    def publish_current(self, generation: str, timeout_seconds: float = 30.0) -> float:
        """Wait until both jobs scraped the page marked ``generation``; return that time."""
        deadline = time.monotonic() + timeout_seconds
        marker = f'count(driftline_build_info{{version="{generation}"}})'
        while True:
            result = self.query(marker)
            if result and float(result[0]["value"][1]) == 2:
                return float(result[0]["value"][0])
            if time.monotonic() > deadline:
                raise AssertionError(f"{generation} not scraped by both jobs in {timeout_seconds} s:\n{self.log_tail()}")
            time.sleep(0.2)

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    binary = shutil.which("prometheus")
    if binary is None:
        service_unavailable("prometheus is not installed (scripts/install-monitoring.sh)")
    tmp = tmp_path_factory.mktemp("prometheus")
    page = _Page()
    server = _serve(page)
    target = f"127.0.0.1:{server.server_address[1]}"
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [target]}]} for job in ("replica-a", "replica-b")
        ],
    }
    (tmp / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    port = _free_port()
    log = tmp / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [binary, f"--config.file={tmp / 'prometheus.yml'}", f"--storage.tsdb.path={tmp / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip
    prom = Prometheus(url=f"http://127.0.0.1:{port}", page=page, log=log)
    try:
        deadline = time.monotonic() + 30
        while True:
            assert proc.poll() is None, f"prometheus exited with {proc.returncode}:\n{prom.log_tail()}"
            try:
                if httpx.get(f"{prom.url}/-/ready", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, f"prometheus not ready in 30 s:\n{prom.log_tail()}"
            time.sleep(0.1)
        yield prom
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)
        server.shutdown()
        server.server_close()


def relative_score(**overrides: str) -> str:
    return build.substitute_variables(monitor_page.RELATIVE_SCORE, VALUES | overrides)


def by_feature_and_method(result: list[dict[str, Any]]) -> dict[tuple[str, str], float]:
    keys = [(series["metric"]["feature"], series["metric"]["method"]) for series in result]
    assert len(keys) == len(set(keys)), f"duplicate series (replicas counted twice?): {keys}"
    return {key: float(series["value"][1]) for key, series in zip(keys, result, strict=True)}


def test_relative_score_is_score_over_threshold_or_log_p_over_log_alpha(prometheus: Prometheus) -> None:
    at = prometheus.publish(SEEDED, "seeded")
    got = by_feature_and_method(prometheus.query(relative_score(), at))
    assert set(got) == set(EXPECTED)
    for key, value in EXPECTED.items():
        assert got[key] == pytest.approx(value, rel=1e-12, abs=1e-15), key
    # The dashed line at 1 splits them as the verdicts would: past it, p < alpha or score > threshold.
    assert {key for key, value in got.items() if value > 1} == {
        ("age", "ks"), ("plan", "chi_square"), ("income", "psi"), ("region", "chi_square"),
    }  # fmt: skip


def test_a_method_switch_keeps_the_feature_on_one_scale(prometheus: Prometheus) -> None:
    """The issue's case: a reference change moves ``age`` from ks (statistic <= 1) to chi_square (~40)."""
    before: list[Row] = [("churn", "churn_v3", "age", "ks", 0.9, 1e-3, 0.05)]
    after: list[Row] = [("churn", "churn_v3", "age", "chi_square", 40.0, 1e-4, 0.05)]
    start = prometheus.publish(before, "before-switch")
    prometheus.publish(after, "after-switch")
    time.sleep(1.5)  # a few range steps after the switch
    end = time.time()
    series = prometheus.query_range(relative_score(feature="age"), start, end)
    values = {s["metric"]["method"]: [float(v) for _, v in s["values"]] for s in series}
    assert set(values) == {"ks", "chi_square"}, "the legend {{feature}} ({{method}}) tells the two apart"
    assert values["ks"] == pytest.approx([math.log10(1e-3) / math.log10(0.05)] * len(values["ks"]), rel=1e-12)
    assert values["chi_square"] == pytest.approx([math.log10(1e-4) / math.log10(0.05)] * len(values["chi_square"]))
    raw = prometheus.query_range(
        build.substitute_variables(
            'max by (method) (driftline_feature_drift_score{monitor="$monitor", feature="age"})', VALUES
        ),
        start,
        end,
    )
    raw_max = {s["metric"]["method"]: max(float(v) for _, v in s["values"]) for s in raw}
    assert raw_max == {"ks": 0.9, "chi_square": 40.0}  # what the old panel drew on one axis


def test_the_report_url_variable_reads_the_public_url(prometheus: Prometheus) -> None:
    """One place for Driftline's URL: DRIFTLINE_PUBLIC_URL, exported as driftline_public_url_info{url}."""
    prometheus.page.text = exposition(SEEDED, "url") + 'driftline_public_url_info{url="https://driftline.example.com"} 1\n'
    at = prometheus.publish_current("url")
    (selector,) = {q for _, name, q in build.variable_queries() if name == "driftline_url"}  # both dashboards
    assert {s["metric"]["url"] for s in prometheus.query(selector, at)} == {"https://driftline.example.com"}


def test_every_dashboard_query_evaluates_on_prometheus(prometheus: Prometheus) -> None:
    """Beyond promtool's parse: evaluation errors (many-to-many matches, bad functions) on real series."""
    prometheus.publish(SEEDED, "every-query")
    queries = build.panel_queries()
    queries += [(uid, f"variable {name}", selector) for uid, name, selector in build.variable_queries()]
    assert len(queries) > 50
    for _, _, expr in queries:
        prometheus.query(build.substitute_variables(expr, VALUES))  # fails on an error answer
    (normalised,) = [expr for _, title, expr in queries if title == "Drift score / threshold: $feature"]
    assert normalised == monitor_page.RELATIVE_SCORE
