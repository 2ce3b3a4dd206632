"""The overview dashboard: every monitor on one page, answering "is anything drifting or stale?".

It is the page an on-call engineer opens first, so it leads with counts that should be zero,
then one table row per monitor (linking to the monitor dashboard and its HTML report), then the
trends behind the table, and the Driftline alerts Prometheus is firing.
"""

from __future__ import annotations

from typing import Any

from dashboards import _layout
from dashboards import _panels as p
from dashboards._sdk import dashboard_builders, dashboard_models, table_builders

UID = "driftline-overview"
TITLE = "Driftline / Overview"

# The latest run of each monitor: the series of driftline_last_run_timestamp_seconds (one per
# status) with the greatest end time; its `status` label is the monitor's current status.
LATEST_RUN = "topk by (monitor, model) (1, driftline_last_run_timestamp_seconds)"
SINCE_SUCCESS = "time() - max by (monitor, model) (driftline_last_successful_run_timestamp_seconds)"
DRIFTED_FEATURES = (
    "sum by (monitor, model) (max by (monitor, model, feature, method) (driftline_feature_drift_detected))"
)
FAILED_RUNS = p.per_replica_set(
    "increase", "driftline_runs_total", by="monitor, model", window="$__range", matchers='status="error"'
)
FIRING = 'ALERTS{alertname=~"Driftline.*", alertstate="firing"}'

MONITOR_PAGE = (
    "/d/driftline-monitor/driftline-monitor?var-monitor=${__data.fields.monitor}"
    "&var-model=${__data.fields.model}&${__url_time_range}"
)
REPORT = "${driftline_url}/v1/monitors/${__data.fields.monitor}/report"


def _status_row(d: dashboard_builders.Dashboard) -> dashboard_builders.Dashboard:
    """Counts that should be zero on a quiet day, and the age of the stalest monitor."""
    zero_is_good = p.thresholds((None, "green"), (1, "red"))
    return (
        d.with_row(dashboard_builders.Row("Status"))
        .with_panel(
            p.stat(
                "Monitors",
                "Monitors that have finished at least one run.",
                [p.query("count(count by (monitor, model) (driftline_last_run_timestamp_seconds))")],
                w=4,
            )
        )
        .with_panel(
            p.stat(
                "Dataset drift",
                "Monitors whose latest run found dataset drift (share of drifted features over its threshold).",
                [p.query("count(max by (monitor, model) (driftline_dataset_drift_detected) == 1) or vector(0)")],
                w=4,
                steps=zero_is_good,
            )
        )
        .with_panel(
            p.stat(
                "Degraded performance",
                "Monitors with at least one performance metric whose one-sided degradation test fired.",
                [p.query("count(max by (monitor, model) (driftline_model_performance_degraded) == 1) or vector(0)")],
                w=4,
                steps=zero_is_good,
            )
        )
        .with_panel(
            p.stat(
                "Failed runs",
                "Runs that ended with status error in the selected time range.",
                [p.query(f"sum({FAILED_RUNS}) or vector(0)")],
                w=4,
                steps=zero_is_good,
            )
        )
        .with_panel(
            p.stat(
                "Firing alerts",
                "Driftline alerting rules currently firing in Prometheus.",
                [p.query(f"count({FIRING}) or vector(0)")],
                w=4,
                steps=zero_is_good,
            )
        )
        .with_panel(
            p.stat(
                "Stalest monitor",
                "Time since the oldest 'latest successful run' (status ok or drift) across monitors.",
                [p.query(f"max({SINCE_SUCCESS})")],
                unit="s",
                w=4,
            )
        )
    )


def _monitors_table() -> table_builders.Panel:
    """One row per monitor; each query is aggregated by (monitor, model) so the rows merge."""
    by = "max by (monitor, model)"
    panel = p.table(
        "Monitors",
        "Latest state of every monitor. Click a monitor for its dashboard, or its report.",
        [
            # x 1000: Grafana's date units read epoch milliseconds.
            p.query(f"max by (monitor, model, status) ({LATEST_RUN}) * 1000", instant=True, fmt="table"),
            p.query(f"{by} (driftline_dataset_drift_detected)", instant=True, fmt="table"),
            p.query(f"{by} (driftline_dataset_drift_share)", instant=True, fmt="table"),
            p.query(DRIFTED_FEATURES, instant=True, fmt="table"),
            p.query(SINCE_SUCCESS, instant=True, fmt="table"),
            p.query(f"{by} (driftline_window_rows)", instant=True, fmt="table"),
            p.query(f"{by} (driftline_label_coverage_ratio)", instant=True, fmt="table"),
        ],
        rename={
            "status": "Latest run",
            "Value #A": "Latest run ended",
            "Value #B": "Dataset drift",
            "Value #C": "Drift share",
            "Value #D": "Drifted features",
            "Value #E": "Since last success",
            "Value #F": "Window rows",
            "Value #G": "Label coverage",
        },
        h=9,
    )
    return (
        panel.override_by_name(
            "monitor",
            [
                dashboard_models.DynamicConfigValue(
                    id_val="links",
                    value=[
                        {"title": "Monitor dashboard", "url": MONITOR_PAGE},
                        {"title": "HTML report", "url": REPORT, "targetBlank": True},
                    ],
                )
            ],
        )
        .override_by_name(
            "Latest run ended", [dashboard_models.DynamicConfigValue(id_val="unit", value="dateTimeFromNow")]
        )
        .override_by_name("Dataset drift", [dashboard_models.DynamicConfigValue(id_val="mappings", value=_flag_json())])
        .override_by_name("Drift share", [dashboard_models.DynamicConfigValue(id_val="unit", value="percentunit")])
        .override_by_name("Since last success", [dashboard_models.DynamicConfigValue(id_val="unit", value="s")])
        .override_by_name("Label coverage", [dashboard_models.DynamicConfigValue(id_val="unit", value="percentunit")])
    )


def _flag_json() -> list[dict[str, object]]:
    """The 0/1 drift mapping as override JSON (overrides take raw values, not model objects)."""
    return [mapping.to_json() for mapping in p.flag_mappings("No drift", "Drift")]


def _trends_row(d: dashboard_builders.Dashboard) -> dashboard_builders.Dashboard:
    """The time series behind the table, one line per monitor."""
    return (
        d.with_row(dashboard_builders.Row("Drift and freshness"))
        .with_panel(
            p.state_timeline(
                "Dataset drift by monitor",
                "Dataset drift verdict of each monitor's latest run over time.",
                [p.query("max by (monitor) (driftline_dataset_drift_detected)", "{{monitor}}")],
                mappings=p.flag_mappings("No drift", "Drift"),
                w=24,
                h=6,
            )
        )
        .with_panel(
            p.timeseries(
                "Dataset drift share",
                "Share of a monitor's features that drifted in its latest run.",
                [p.query("max by (monitor, model) (driftline_dataset_drift_share)", "{{monitor}}")],
                unit="percentunit",
                min_value=0,
                max_value=1,
                w=8,
            )
        )
        .with_panel(
            p.timeseries(
                "Drifted features",
                "Features flagged as drifted in each monitor's latest run (of the exported, capped set).",
                [p.query(DRIFTED_FEATURES, "{{monitor}}")],
                min_value=0,
                w=8,
            )
        )
        .with_panel(
            p.timeseries(
                "Age of the last successful run",
                "time() minus the end of the latest ok or drift run; a rising line is a monitor that stopped running.",
                [p.query(SINCE_SUCCESS, "{{monitor}}")],
                unit="s",
                min_value=0,
                w=8,
            )
        )
        .with_row(dashboard_builders.Row("Model quality"))
        .with_panel(
            p.timeseries(
                "Model performance",
                "Latest value of each performance metric, on the rows whose labels have arrived.",
                [p.query("max by (monitor, model, metric) (driftline_model_performance)", "{{monitor}} {{metric}}")],
                w=12,
            )
        )
        .with_panel(
            p.timeseries(
                "Label coverage",
                "Labelled rows / rows of the latest window: performance is only as recent as the labels.",
                [p.query("max by (monitor, model) (driftline_label_coverage_ratio)", "{{monitor}}")],
                unit="percentunit",
                min_value=0,
                max_value=1,
                w=12,
            )
        )
    )


def _alerts_row(d: dashboard_builders.Dashboard) -> dashboard_builders.Dashboard:
    return d.with_row(dashboard_builders.Row("Alerts")).with_panel(
        p.table(
            "Firing Driftline alerts",
            "Prometheus's ALERTS series for the Driftline rules that are firing now.",
            [p.query(FIRING, instant=True, fmt="table")],
            rename={},
            hide=("Time", "Value", "__name__", "alertstate"),
            h=7,
        )
    )


def build() -> dict[str, Any]:
    """The overview dashboard as JSON data."""
    d = _layout.new_dashboard(
        uid=UID,
        title=TITLE,
        description="Every Driftline monitor: drift, freshness, model quality and firing alerts.",
        time_from="now-24h",
    ).with_variable(_layout.driftline_url_variable())
    d = _status_row(d)
    d = d.with_row(dashboard_builders.Row("Monitors")).with_panel(_monitors_table())
    d = _trends_row(d)
    d = _alerts_row(d)
    return _layout.encode(d)
