"""Query and panel helpers shared by the three Driftline dashboards.

Every panel and every query points at the ``${datasource}`` template variable (a ``datasource``
variable over Prometheus datasources, defined in ``_layout``), never at a datasource uid: the
variable defaults to the provisioned datasource (``DATASOURCE_UID``), so the provisioned stack
needs no prompt, and in any other Grafana the user picks a Prometheus from the dropdown, or on
import (the ``__inputs`` variant under grafana/import/).
The helpers fix the house look (legend, tooltip, units, 0/1 flag colours) in one place, so each
dashboard module reads as a list of questions and the PromQL that answers them.

Every Driftline replica serves the same stored values, counters included, so each query first
keeps one copy with ``max by (<the contract's labels>)`` before it sums or counts anything (the
recording rules in prometheus/rules/ do the same); a plain ``sum`` would count every replica.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from dashboards._sdk import (
    Builder,
    common_builders,
    common_models,
    dashboard_builders,
    dashboard_models,
    heatmap_builders,
    heatmap_models,
    prometheus_builders,
    prometheus_models,
    stat_builders,
    statetimeline_builders,
    table_builders,
    timeseries_builders,
)

DATASOURCE_UID = "driftline-prometheus"
"""The uid given to the Prometheus datasource in grafana/provisioning/datasources/driftline.yml:
the default of the datasource variable, never written into a panel or query."""
DATASOURCE_NAME = "Prometheus (Driftline)"
"""Its name there: the text Grafana shows for the variable's default."""

DATASOURCE_VARIABLE = "datasource"
DATASOURCE = common_models.DataSourceRef(type_val="prometheus", uid=f"${{{DATASOURCE_VARIABLE}}}")
"""What every panel, query, annotation and query variable reads from."""

HEATMAP_COLOR_STEPS = 64
"""Colours in a heatmap's scheme palette: the SDK's and Grafana's own default. A fresh
``HeatmapColorOptions`` carries ``steps: 0``, which Grafana turns into an empty palette."""
TAGS = ["driftline"]

Query = prometheus_builders.Dataquery
Mapping = dashboard_models.ValueMap
Link = dashboard_builders.DashboardLink


def query(expr: str, legend: str = "", *, instant: bool = False, fmt: str = "time_series") -> Query:
    """One PromQL target on the provisioned datasource (``fmt``: time_series, table or heatmap)."""
    q = Query().datasource(DATASOURCE).expr(expr).format(prometheus_models.PromQueryFormat(fmt))
    if legend:
        q = q.legend_format(legend)
    return q.instant() if instant else q.range()


def one_copy(metric: str, *, by: str = "", labels: str = "") -> str:
    """``max by (<by>) (metric{<labels>})``: one copy of a series that every replica serves."""
    head = f"max by ({by}) (" if by else "max("
    return f"{head}{metric}{{{labels}}})" if labels else f"{head}{metric})"


def per_replica_set(fn: str, counter: str, *, by: str, window: str, matchers: str = "") -> str:
    """``max by (<by>) (fn(counter{matchers}[window]))``: a rate or increase, counted once."""
    selector = f"{counter}{{{matchers}}}" if matchers else counter
    return f"max by ({by}) ({fn}({selector}[{window}]))"


def _targets(queries: Sequence[Query]) -> list[Builder[Any]]:
    """Give the targets the refIds Grafana would (A, B, ...), so table columns are predictable."""
    return [q.ref_id(chr(ord("A") + i)) for i, q in enumerate(queries)]


def flag_mappings(off: str, on: str) -> list[dashboard_models.ValueMapping]:
    """Show a 0/1 gauge (``*_detected``, ``*_degraded``) as words, green for 0 and red for 1."""
    return [
        Mapping(
            options={
                "0": dashboard_models.ValueMappingResult(text=off, color="green", index=0),
                "1": dashboard_models.ValueMappingResult(text=on, color="red", index=1),
            }
        )
    ]


def thresholds(*steps: tuple[float | None, str]) -> dashboard_builders.ThresholdsConfig:
    """Absolute thresholds; the first step's value is None (from minus infinity)."""
    return (
        dashboard_builders.ThresholdsConfig()
        .mode(dashboard_models.ThresholdsMode.ABSOLUTE)
        .steps([dashboard_models.Threshold(value=value, color=color) for value, color in steps])
    )


def dashed(color: str) -> list[dashboard_models.DynamicConfigValue]:
    """Override properties drawing a series as a dashed line: thresholds and reference values."""
    return [
        dashboard_models.DynamicConfigValue(id_val="custom.lineStyle", value={"fill": "dash", "dash": [10, 10]}),
        dashboard_models.DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": color}),
    ]


def fixed_color(color: str) -> list[dashboard_models.DynamicConfigValue]:
    """Override properties pinning a series to one colour (e.g. ``failed`` is always orange)."""
    return [dashboard_models.DynamicConfigValue(id_val="color", value={"mode": "fixed", "fixedColor": color})]


def link(title: str, url: str) -> Link:
    """A data link or dashboard link opening in a new tab (reports are separate pages)."""
    return Link(title).type(dashboard_models.DashboardLinkType.LINK).url(url).target_blank(True)


def _legend() -> common_builders.VizLegendOptions:
    return (
        common_builders.VizLegendOptions()
        .display_mode(common_models.LegendDisplayMode.LIST)
        .placement(common_models.LegendPlacement.BOTTOM)
        .show_legend(True)
    )


def _tooltip() -> common_builders.VizTooltipOptions:
    return (
        common_builders.VizTooltipOptions()
        .mode(common_models.TooltipDisplayMode.MULTI)
        .sort(common_models.SortOrder.DESCENDING)
    )


def timeseries(
    title: str,
    description: str,
    queries: Sequence[Query],
    *,
    unit: str = "short",
    w: int = 12,
    h: int = 8,
    min_value: float | None = None,
    max_value: float | None = None,
    draw: common_models.GraphDrawStyle = common_models.GraphDrawStyle.LINE,
    log_scale: bool = False,
    line_at: float | None = None,
) -> timeseries_builders.Panel:
    """A time series panel; ``draw=POINTS`` suits sparse series such as per-run durations.

    ``line_at`` draws a dashed red line at that value (a threshold of the panel, not a series).
    """
    panel = (
        timeseries_builders.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(_targets(queries))
        .unit(unit)
        .span(w)
        .height(h)
        .legend(_legend())
        .tooltip(_tooltip())
        .draw_style(draw)
        .line_width(1)
        .fill_opacity(10 if draw == common_models.GraphDrawStyle.LINE else 80)
        .show_points(
            common_models.VisibilityMode.ALWAYS
            if draw == common_models.GraphDrawStyle.POINTS
            else common_models.VisibilityMode.NEVER
        )
    )
    if min_value is not None:
        panel = panel.min(min_value)
    if max_value is not None:
        panel = panel.max(max_value)
    if line_at is not None:
        panel = panel.thresholds(thresholds((None, "transparent"), (line_at, "red"))).thresholds_style(
            common_builders.GraphThresholdsStyleConfig().mode(common_models.GraphThresholdsStyleMode.DASHED)
        )
    if log_scale:
        panel = panel.scale_distribution(
            common_builders.ScaleDistributionConfig().type(common_models.ScaleDistribution.LOG).log(10)
        )
    return panel


def stat(
    title: str,
    description: str,
    queries: Sequence[Query],
    *,
    unit: str = "short",
    w: int = 3,
    h: int = 4,
    mappings: list[dashboard_models.ValueMapping] | None = None,
    steps: dashboard_builders.ThresholdsConfig | None = None,
    text_mode: common_models.BigValueTextMode = common_models.BigValueTextMode.AUTO,
) -> stat_builders.Panel:
    """The last value of each series; text mode NAME shows the legend (a label's value) instead."""
    panel = (
        stat_builders.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(_targets(queries))
        .unit(unit)
        .span(w)
        .height(h)
        .graph_mode(common_models.BigValueGraphMode.NONE)
        .color_mode(
            common_models.BigValueColorMode.BACKGROUND if steps or mappings else common_models.BigValueColorMode.NONE
        )
        .text_mode(text_mode)
        .reduce_options(common_builders.ReduceDataOptions().calcs(["lastNotNull"]).values(False))
        .thresholds(steps or thresholds((None, "text")))
    )
    if mappings:
        panel = panel.mappings(mappings)
    return panel


def state_timeline(
    title: str,
    description: str,
    queries: Sequence[Query],
    *,
    mappings: list[dashboard_models.ValueMapping],
    w: int = 12,
    h: int = 8,
) -> statetimeline_builders.Panel:
    """One row per series and colour by state: the features-by-time view of drift verdicts."""
    return (
        statetimeline_builders.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(_targets(queries))
        .span(w)
        .height(h)
        .mappings(mappings)
        .thresholds(thresholds((None, "green"), (1, "red")))
        .color_scheme(dashboard_builders.FieldColor().mode(dashboard_models.FieldColorModeId.THRESHOLDS))
        .show_value(common_models.VisibilityMode.NEVER)
        .merge_values(True)
        .legend(_legend())
    )


def table(
    title: str,
    description: str,
    queries: Sequence[Query],
    *,
    rename: dict[str, str],
    hide: Sequence[str] = ("Time", "__name__"),
    w: int = 24,
    h: int = 8,
) -> table_builders.Panel:
    """A table of instant queries merged on their labels, with the value columns renamed."""
    return (
        table_builders.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(_targets(queries))
        .span(w)
        .height(h)
        .with_transformation(dashboard_models.DataTransformerConfig(id_val="merge", options={}))
        .with_transformation(
            dashboard_models.DataTransformerConfig(
                id_val="organize",
                options={"excludeByName": {name: True for name in hide}, "renameByName": rename},
            )
        )
    )


def heatmap(title: str, description: str, q: Query, *, unit: str, w: int = 12, h: int = 8) -> heatmap_builders.Panel:
    """A heatmap of pre-bucketed histogram counts (``format=heatmap`` orders the ``le`` buckets)."""
    return (
        heatmap_builders.Panel()
        .title(title)
        .description(description)
        .datasource(DATASOURCE)
        .targets(_targets([q]))
        .span(w)
        .height(h)
        .calculate(False)
        .y_axis(heatmap_builders.YAxisConfig().unit(unit))
        .color(
            heatmap_builders.HeatmapColorOptions()
            .mode(heatmap_models.HeatmapColorMode.SCHEME)
            .scheme("Oranges")
            .steps(HEATMAP_COLOR_STEPS)
            .fill("dark-orange")  # read in opacity mode only; Grafana's default, not ""
            .scale(heatmap_models.HeatmapColorScale.EXPONENTIAL)
            .exponent(0.5)
            .reverse(False)
        )
        .show_legend()
    )
