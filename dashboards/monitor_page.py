"""The monitor dashboard: one monitor in depth, answering "what drifted, how much, and since when?".

Chosen by the ``monitor``/``model`` variables, with ``feature`` (multi-select, repeated panels)
narrowing the per-feature rows. A distance drifts when its score exceeds its threshold, a
p-value test when its p-value falls below alpha; raw statistics of different methods are not
comparable (a reference change can switch a feature from ``ks``, at most 1, to ``chi_square``,
in the tens), so the per-feature panel draws each feature's score relative to its own line
(``RELATIVE_SCORE``: 1 is the line, above it is past it) with the method in the legend, and the
p-value panel draws p-values against alpha. Drift and concept-drift verdicts are also
annotations on every time series, and the monitor's HTML report is one click away.
"""

from __future__ import annotations

from typing import Any

from dashboards import _layout
from dashboards import _panels as p
from dashboards._sdk import Builder, common_models, dashboard_builders, dashboard_models, timeseries_builders
from monitor.stats.types import P_VALUE_METHODS, DriftMethod

UID = "driftline-monitor"
TITLE = "Driftline / Monitor"

SEL = 'monitor="$monitor", model="$model"'
FEATURES = f'{SEL}, feature=~"$feature"'
REPORT = "${driftline_url}/v1/monitors/${monitor}/report"
DRIFT = p.flag_mappings("No drift", "Drift")
NAME = common_models.BigValueTextMode.NAME
Dashboard = dashboard_builders.Dashboard


def latest(metric: str, by: str = "", labels: str = SEL) -> str:
    """The monitor's series of ``metric``, one copy whatever the number of replicas."""
    return p.one_copy(metric, by=by, labels=labels)


#: Distances (their threshold is on the statistic's scale) and tests (their threshold is alpha),
#: told apart by the method label: under the calibrated rule distances carry a p-value too.
_DISTANCES = "|".join(sorted(str(m) for m in DriftMethod if m not in P_VALUE_METHODS))
DISTANCE_THRESHOLD = latest("driftline_feature_drift_threshold", "feature, method",
                            f'{FEATURES}, method=~"{_DISTANCES}"')
ALPHA = latest("driftline_feature_drift_threshold", "feature, method", f'{FEATURES}, method!~"{_DISTANCES}"')
P_VALUE = latest("driftline_feature_drift_p_value", "feature, method", FEATURES)
DISTANCE_SCORE = latest("driftline_feature_drift_score", "feature, method", f'{FEATURES}, method=~"{_DISTANCES}"')
TEST_P_VALUE = latest("driftline_feature_drift_p_value", "feature, method", f'{FEATURES}, method!~"{_DISTANCES}"')

#: Estimated (CBPE/DLE, before the labels) and realized performance: one family, told apart by
#: ``kind``; series from before the label existed are realized values.
ESTIMATED = f'{SEL}, kind="estimated"'
REALIZED = f'{SEL}, kind!="estimated"'

P_FLOOR = 1e-16
"""p-values below this are drawn at it: log10(0) is -inf, and a p-value under 1e-16 is rounding."""

#: A feature's score relative to the line its method drifts past, 1 at the line whatever the
#: method: a distance's statistic / threshold, a p-value test's log10(p) / log10(alpha) (1 at
#: p = alpha, 2 at p = alpha squared; the score of a test is its statistic, on no common scale).
#: Distances and tests have disjoint ``method`` values, so ``or`` keeps both.
SCORE_OVER_THRESHOLD = f"{DISTANCE_SCORE} / on (feature, method) {DISTANCE_THRESHOLD}"
LOG_P_OVER_LOG_ALPHA = f"log10(clamp_min({TEST_P_VALUE}, {P_FLOOR:g})) / on (feature, method) log10({ALPHA})"
RELATIVE_SCORE = f"({SCORE_OVER_THRESHOLD}) or ({LOG_P_OVER_LOG_ALPHA})"


def _variables(d: Dashboard) -> Dashboard:
    """Monitor, then model, then features, each narrowing the next; and the report's base URL."""

    def label_values(name: str, selector: str) -> dashboard_builders.QueryVariable:
        q = f"label_values({selector}, {name})"
        return (
            dashboard_builders.QueryVariable(name)
            .label(name.capitalize())
            .datasource(p.DATASOURCE)
            .query(q)
            .definition(q)
            .refresh(dashboard_models.VariableRefresh.ON_TIME_RANGE_CHANGED)
            .sort(dashboard_models.VariableSort.ALPHABETICAL_ASC)
        )

    everything = dashboard_models.VariableOption(selected=True, text="All", value="$__all")
    return (
        d.with_variable(label_values("monitor", "driftline_last_run_timestamp_seconds"))
        .with_variable(label_values("model", 'driftline_last_run_timestamp_seconds{monitor="$monitor"}'))
        .with_variable(
            label_values("feature", f"driftline_feature_drift_score{{{SEL}}}")
            .description("Per-feature series are capped per monitor: the most drifted features first.")
            .multi(True)
            .include_all(True)
            .current(everything)
        )
        .with_variable(_layout.driftline_url_variable())
    )


def _annotations(d: Dashboard) -> Dashboard:
    """Drift verdicts as shaded regions on every time series of the page."""
    for name, metric, color in (
        ("Dataset drift", "driftline_dataset_drift_detected", "red"),
        ("Concept drift", "driftline_concept_drift_detected", "orange"),
    ):
        d = d.annotation(
            dashboard_builders.AnnotationQuery()
            .name(name)
            .datasource(p.DATASOURCE)
            .enable(True)
            .icon_color(color)
            .expr(f"{latest(metric)} == 1")
            .step("60s")
            .title_format(name)
        )
    return d


def _summary_row(d: Dashboard) -> Dashboard:
    report: list[Builder[dashboard_models.DashboardLink]] = [p.link("Open the HTML report", REPORT)]
    status = f"topk(1, {latest('driftline_last_run_timestamp_seconds', 'status')})"
    p90 = f"histogram_quantile(0.9, max by (le) (increase(driftline_run_duration_seconds_bucket{{{SEL}}}[$__range])))"
    return (
        d.with_row(dashboard_builders.Row("Latest run"))
        .with_panel(
            p.stat(
                "Status",
                "Status of the latest run (ok, drift, insufficient_data or error).",
                [p.query(status, "{{status}}", instant=True)],
                text_mode=NAME,
            ).data_links(report)
        )
        .with_panel(
            p.stat(
                "Dataset drift",
                "Whether the share of drifted features exceeded the monitor's threshold.",
                [p.query(latest("driftline_dataset_drift_detected"))],
                mappings=DRIFT,
                steps=p.thresholds((None, "green"), (1, "red")),
            ).data_links(report)
        )
        .with_panel(
            p.stat(
                "Drift share",
                "Share of features that drifted.",
                [p.query(latest("driftline_dataset_drift_share"))],
                unit="percentunit",
            )
        )
        .with_panel(
            p.stat(
                "Drifted features",
                "Features flagged as drifted, among the exported (capped) features.",
                [p.query(f"sum({latest('driftline_feature_drift_detected', 'feature, method')})")],
            )
        )
        .with_panel(p.stat("Window rows", "Rows in the latest window.", [p.query(latest("driftline_window_rows"))]))
        .with_panel(
            p.stat(
                "Verdict age",
                "Age of the verdict the drift panels show: time since the window end of the latest run with a "
                "verdict (ok or drift). Runs without one (insufficient_data, error) leave the panels on it.",
                [p.query(f"time() - {latest('driftline_last_verdict_timestamp_seconds')}")],
                unit="s",
            )
        )
        .with_panel(
            p.stat("Run p90 duration", "90th percentile of run durations in the time range.", [p.query(p90)], unit="s")
        )
        .with_panel(
            p.stat(
                "Reference",
                "Version of the active reference data set.",
                [p.query(latest("driftline_reference_info", "version"), "{{version}}", instant=True)],
                text_mode=NAME,
            )
        )
    )


def _score_vs_threshold() -> timeseries_builders.Panel:
    """One panel per selected feature: its score relative to its method's line (1, dashed)."""
    return (
        p.timeseries(
            "Drift score / threshold: $feature",
            "The feature's score relative to the line its method drifts past, so methods compare "
            "(the legend names the method; a reference change may switch it). Distances (PSI, Wasserstein, "
            "Jensen-Shannon, ...): statistic / threshold. P-value tests (KS, chi-square, ...): "
            "log10(p-value) / log10(alpha), 1 at p = alpha and 2 at p = alpha squared. Above the dashed "
            "line at 1 the feature is past its threshold; the calibrated rule also asks a test for a "
            "minimum effect, so the verdict panel has the final word.",
            [p.query(RELATIVE_SCORE, "{{feature}} ({{method}})")],
            unit="none",
            min_value=0,
            line_at=1,
            w=8,
        )
        .repeat("feature")
        .repeat_direction("h")
        .max_per_row(3)
    )


def _features_row(d: Dashboard) -> Dashboard:
    return (
        d.with_row(dashboard_builders.Row("Feature drift"))
        .with_panel(
            p.state_timeline(
                "Drift verdicts (features x time)",
                "One row per feature, red while its latest run flagged it as drifted.",
                [p.query(latest("driftline_feature_drift_detected", "feature", FEATURES), "{{feature}}")],
                mappings=DRIFT,
                w=24,
                h=10,
            )
        )
        .with_panel(
            p.timeseries(
                "P-values against alpha",
                "For p-value tests (KS, chi-square, ...): a feature drifts when its p-value falls below its alpha "
                "(dashed).",
                [
                    p.query(P_VALUE, "{{feature}} ({{method}})"),
                    p.query(ALPHA, "alpha {{feature}} ({{method}})"),
                ],
                unit="none",
                log_scale=True,
            ).override_by_query("B", p.dashed("red"))
        )
        .with_panel(
            p.timeseries(
                "Missing ratio",
                "Share of missing values of each feature in the latest window (counted, never dropped).",
                [p.query(latest("driftline_feature_missing_ratio", "feature", FEATURES), "{{feature}}")],
                unit="percentunit",
                min_value=0,
                max_value=1,
            )
        )
        # Its own row: Grafana lays the repeated copies out side by side, three to a line.
        .with_row(dashboard_builders.Row("Drift score per feature"))
        .with_panel(_score_vs_threshold())
    )


def _model_row(d: Dashboard) -> Dashboard:
    return (
        d.with_row(dashboard_builders.Row("Predictions, target and performance"))
        .with_panel(
            p.timeseries(
                "Prediction drift",
                "Drift statistic of the prediction column against the reference.",
                [p.query(latest("driftline_prediction_drift_score", "method"), "{{method}}")],
            )
        )
        .with_panel(
            p.timeseries(
                "Target drift",
                "Drift statistic of the label column, on the rows whose labels have arrived.",
                [p.query(latest("driftline_target_drift_score", "method"), "{{method}}")],
            )
        )
        .with_panel(
            p.timeseries(
                "Performance against the reference",
                "Each performance metric on the labelled rows of the window; dashed: its value on the reference.",
                [
                    p.query(latest("driftline_model_performance", "metric", REALIZED), "{{metric}}"),
                    p.query(latest("driftline_model_performance_reference", "metric"), "{{metric}} (reference)"),
                ],
            ).override_by_query("B", p.dashed("text"))
        )
        .with_panel(
            p.timeseries(
                "Performance: estimated and realized",
                "Before the labels arrive, the estimate (CBPE or DLE) of each metric with its band (dashed: "
                "lower and upper); solid: the realized value on the labelled rows, on the same axis, as labels "
                "come in. An estimate flagged untrustworthy (a warning fired) is listed in the run's report.",
                [
                    p.query(latest("driftline_model_performance", "metric", ESTIMATED), "{{metric}} (estimated)"),
                    p.query(latest("driftline_model_performance_lower", "metric", ESTIMATED), "{{metric}} lower"),
                    p.query(latest("driftline_model_performance_upper", "metric", ESTIMATED), "{{metric}} upper"),
                    p.query(latest("driftline_model_performance", "metric", REALIZED), "{{metric}} (realized)"),
                ],
            ).override_by_query("B", p.dashed("blue")).override_by_query("C", p.dashed("blue"))
        )
        .with_panel(
            p.state_timeline(
                "Concept drift and degradation",
                "Red while a change detector fired in the latest window, or a metric's degradation test fired.",
                [
                    p.query(latest("driftline_concept_drift_detected"), "concept drift"),
                    p.query(latest("driftline_model_performance_degraded", "metric"), "degraded: {{metric}}"),
                ],
                mappings=p.flag_mappings("No", "Yes"),
            )
        )
        .with_panel(
            p.timeseries(
                "Label coverage",
                "Labelled rows / rows of the latest window: performance and target drift rest on these rows.",
                [p.query(latest("driftline_label_coverage_ratio"), "coverage")],
                unit="percentunit",
                min_value=0,
                max_value=1,
            )
        )
    )


def _runs_row(d: Dashboard) -> Dashboard:
    """Runs are sparse (one per schedule period): durations are drawn as points, not lines."""
    buckets = f"driftline_run_duration_seconds_bucket{{{SEL}}}[$__rate_interval]"
    runs = f"max by (status) (increase(driftline_runs_total{{{SEL}}}[$__range]))"
    return (
        d.with_row(dashboard_builders.Row("Runs"))
        .with_panel(
            p.timeseries(
                "Window rows",
                "Rows in each run's window; compare with the monitor's min_rows.",
                [p.query(latest("driftline_window_rows"), "rows")],
                w=8,
            )
        )
        .with_panel(
            p.timeseries(
                "Run duration",
                "Quantiles of the runs that ended within each rate interval.",
                [
                    p.query(f"histogram_quantile({q}, max by (le) (rate({buckets})))", f"p{round(q * 100)}")
                    for q in (0.5, 0.9, 0.99)
                ],
                unit="s",
                draw=common_models.GraphDrawStyle.POINTS,
                w=8,
            )
        )
        .with_panel(
            p.heatmap(
                "Run duration distribution",
                "Runs per duration bucket over time.",
                p.query(f"max by (le) (increase({buckets}))", "{{le}}", fmt="heatmap"),
                unit="s",
                w=8,
            )
        )
        .with_panel(
            p.stat(
                "Runs in the time range",
                "Runs that ended within the selected time range, by status.",
                [p.query(runs, "{{status}}", instant=True)],
                w=24,
                text_mode=common_models.BigValueTextMode.VALUE_AND_NAME,
            ).decimals(0)
        )
    )


def build() -> dict[str, Any]:
    """The monitor dashboard as JSON data."""
    d = _layout.new_dashboard(
        uid=UID,
        title=TITLE,
        description="One Driftline monitor: per-feature drift against thresholds, model quality and runs.",
        time_from="now-24h",
    ).link(p.link("HTML report", REPORT).include_vars(False).tooltip("The monitor's latest drift report"))
    d = _annotations(_variables(d))
    for row in (_summary_row, _features_row, _model_row, _runs_row):
        d = row(d)
    return _layout.encode(d)
