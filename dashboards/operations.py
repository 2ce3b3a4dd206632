"""The operations dashboard: whether the Driftline service itself is healthy.

For the platform engineer rather than the model owner: prediction rows coming in, runs
succeeding and on time, alerts leaving (webhook outcomes, dead letters), retraining triggers
going out, and the HTTP API's traffic and latency. Rates use ``$__rate_interval`` so Grafana
keeps at least four scrapes in each window; the totals over ``$__range`` answer "how many in the
period I am looking at".

The HTTP series are counted per process (each replica serves its own requests), so they are
summed over instances, where the stored series take one copy with ``max by``.
"""

from __future__ import annotations

from typing import Any

from dashboards import _layout
from dashboards import _panels as p
from dashboards._sdk import common_models, dashboard_builders

UID = "driftline-operations"
TITLE = "Driftline / Operations"

BARS = common_models.GraphDrawStyle.BARS
POINTS = common_models.GraphDrawStyle.POINTS
ZERO_IS_GOOD = p.thresholds((None, "green"), (1, "red"))
OUTCOME_COLORS = {"delivered": "green", "failed": "orange", "dead_letter": "red"}
RANGE, RATE = "$__range", "$__rate_interval"
RUNS, DELIVERIES = "driftline_runs_total", "driftline_webhook_deliveries_total"
RETRAINS, DURATIONS = "driftline_retrain_triggers_total", "driftline_run_duration_seconds_bucket"
REQUESTS, LATENCY = "driftline_http_requests_total", "driftline_http_request_duration_seconds_bucket"
MONITOR = "monitor, model"
ERROR, FAILED, TRIGGERED = 'status="error"', 'outcome="failed"', 'outcome="triggered"'


def increase(counter: str, *, by: str, window: str, matchers: str = "") -> str:
    """How much ``counter`` grew over ``window``, per ``by`` (see ``_panels.per_replica_set``)."""
    return p.per_replica_set("increase", counter, by=by, window=window, matchers=matchers)


def rate(counter: str, *, by: str, window: str) -> str:
    """Per-second growth of ``counter`` over ``window``, per ``by``."""
    return p.per_replica_set("rate", counter, by=by, window=window)


def _totals_row(d: dashboard_builders.Dashboard) -> dashboard_builders.Dashboard:
    return (
        d.with_row(dashboard_builders.Row("In the time range"))
        .with_panel(
            p.stat(
                "Version",
                "The running Driftline build.",
                [p.query("max by (version) (driftline_build_info)", "{{version}}", instant=True)],
                w=4,
                text_mode=common_models.BigValueTextMode.NAME,
            )
        )
        .with_panel(
            p.stat(
                "Rows ingested",
                "Prediction rows accepted by the ingest API in the selected time range.",
                [p.query(f"sum({increase('driftline_predictions_ingested_total', by='model', window=RANGE)})")],
                w=4,
            ).decimals(0)
        )
        .with_panel(
            p.stat(
                "Failed runs",
                "Runs that ended with status error in the selected time range.",
                [p.query(f"sum({increase(RUNS, by=MONITOR, window=RANGE, matchers=ERROR)}) or vector(0)")],
                w=4,
                steps=ZERO_IS_GOOD,
            ).decimals(0)
        )
        .with_panel(
            p.stat(
                "Failed deliveries",
                "Webhook delivery attempts that failed (and will be retried) in the selected time range.",
                [p.query(f"sum({increase(DELIVERIES, by='target', window=RANGE, matchers=FAILED)}) or vector(0)")],
                w=4,
                steps=ZERO_IS_GOOD,
            ).decimals(0)
        )
        .with_panel(
            p.stat(
                "Dead letters",
                "Deliveries that exhausted their retries and wait for an operator.",
                [p.query("sum(max by (target) (driftline_webhook_dead_letters)) or vector(0)")],
                w=4,
                steps=ZERO_IS_GOOD,
            )
        )
        .with_panel(
            p.stat(
                "Retraining triggered",
                "Retraining jobs triggered in the selected time range (cooldown and budget skips excluded).",
                [p.query(f"sum({increase(RETRAINS, by=MONITOR, window=RANGE, matchers=TRIGGERED)}) or vector(0)")],
                w=4,
            ).decimals(0)
        )
    )


def _ingest_and_runs_row(d: dashboard_builders.Dashboard) -> dashboard_builders.Dashboard:
    return (
        d.with_row(dashboard_builders.Row("Ingest and runs"))
        .with_panel(
            p.timeseries(
                "Ingest rate by model",
                "Prediction rows accepted per second, by model.",
                [p.query(rate("driftline_predictions_ingested_total", by="model", window=RATE), "{{model}}")],
                unit="suffix: rows/s",
                min_value=0,
            )
        )
        .with_panel(
            p.timeseries(
                "Runs by status",
                "Runs per hour, by status (ok, drift, insufficient_data, error).",
                [
                    p.query(
                        f"sum by (status) ({rate(RUNS, by='monitor, model, status', window=RATE)}) * 3600", "{{status}}"
                    )
                ],
                unit="suffix: runs/h",
                min_value=0,
            )
            .override_by_name("error", p.fixed_color("red"))
            .override_by_name("drift", p.fixed_color("orange"))
            .override_by_name("ok", p.fixed_color("green"))
        )
        .with_panel(
            p.timeseries(
                "Run failures by monitor",
                "Runs that ended with status error, per monitor; the scheduler logs each with its traceback.",
                [
                    p.query(
                        increase(RUNS, by=MONITOR, window=RATE, matchers=ERROR),
                        "{{monitor}}",
                    )
                ],
                draw=BARS,
                min_value=0,
            )
        )
        .with_panel(
            p.timeseries(
                "Run duration p90 by monitor",
                "90th percentile of the runs that ended within each rate interval; runs are sparse, so points.",
                [
                    p.query(
                        f"histogram_quantile(0.9, {rate(DURATIONS, by='monitor, model, le', window=RATE)})",
                        "{{monitor}}",
                    )
                ],
                unit="s",
                draw=POINTS,
            )
        )
        .with_panel(
            p.table(
                "Runs in the time range",
                "Runs per monitor and status in the selected time range.",
                [
                    p.query(
                        increase(RUNS, by="monitor, model, status", window=RANGE),
                        instant=True,
                        fmt="table",
                    )
                ],
                rename={"Value": "Runs"},
                h=8,
            ).decimals(0)
        )
    )


def _alerting_row(d: dashboard_builders.Dashboard) -> dashboard_builders.Dashboard:
    deliveries = p.timeseries(
        "Webhook deliveries by outcome",
        "Delivery attempts per second: delivered, failed (retried with backoff) and dead_letter (retries exhausted).",
        [
            p.query(
                f"sum by (outcome) ({rate(DELIVERIES, by='target, outcome', window=RATE)})",
                "{{outcome}}",
            )
        ],
        unit="reqps",
        min_value=0,
        w=8,
    )
    for outcome, color in OUTCOME_COLORS.items():
        deliveries = deliveries.override_by_name(outcome, p.fixed_color(color))
    return (
        d.with_row(dashboard_builders.Row("Alert delivery and retraining"))
        .with_panel(deliveries)
        .with_panel(
            p.timeseries(
                "Dead letters by target",
                "Deliveries waiting in the dead-letter queue, per webhook target.",
                [p.query("max by (target) (driftline_webhook_dead_letters)", "{{target}}")],
                min_value=0,
                w=8,
            )
        )
        .with_panel(
            p.timeseries(
                "Retraining triggers",
                "Retraining triggers by monitor and outcome (triggered, dry_run, or skipped by cooldown or budget).",
                [
                    p.query(
                        increase(RETRAINS, by="monitor, model, outcome", window=RATE),
                        "{{monitor}} {{outcome}}",
                    )
                ],
                draw=BARS,
                min_value=0,
                w=8,
            )
        )
    )


def _http_row(d: dashboard_builders.Dashboard) -> dashboard_builders.Dashboard:
    """The API as clients see it: requests by route and by status, and latency by route."""
    return (
        d.with_row(dashboard_builders.Row("HTTP API"))
        .with_panel(
            p.timeseries(
                "Requests by route",
                "Requests per second by route template, all replicas together (Prometheus's own scrapes of "
                "/metrics included).",
                [p.query(f"sum by (route) (rate({REQUESTS}[{RATE}]))", "{{route}}")],
                unit="reqps",
                min_value=0,
                w=8,
            )
        )
        .with_panel(
            p.timeseries(
                "Requests by status",
                "Requests per second by HTTP status, all routes and replicas: 4xx are refused requests "
                "(authentication, validation), 5xx the service's own failures.",
                [p.query(f"sum by (status) (rate({REQUESTS}[{RATE}]))", "{{status}}")],
                unit="reqps",
                min_value=0,
                w=8,
            )
        )
        .with_panel(
            p.timeseries(
                "Latency p95 by route",
                "95th percentile of the time to serve a request, per route, over all replicas' requests.",
                [
                    p.query(
                        f"histogram_quantile(0.95, sum by (le, route) (rate({LATENCY}[{RATE}])))",
                        "{{route}}",
                    )
                ],
                unit="s",
                min_value=0,
                w=8,
            )
        )
    )


def build() -> dict[str, Any]:
    """The operations dashboard as JSON data."""
    d = _layout.new_dashboard(
        uid=UID,
        title=TITLE,
        description="The Driftline service: ingest, runs, webhook deliveries, dead letters, retraining triggers "
        "and the HTTP API.",
        time_from="now-6h",
    )
    for row in (_totals_row, _ingest_and_runs_row, _alerting_row, _http_row):
        d = row(d)
    return _layout.encode(d)
