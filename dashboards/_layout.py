"""Dashboard-level helpers: the shared conventions, the datasource and report URL variables, encoding.

Every dashboard gets the same uid/tag/refresh conventions, the ``datasource`` variable first (the
query variables after it read from it) and a dropdown to its siblings, and is encoded through
the SDK's JSONEncoder into plain JSON data that ``dashboards.build`` renders.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

from dashboards._panels import DATASOURCE, DATASOURCE_NAME, DATASOURCE_UID, DATASOURCE_VARIABLE, TAGS, Link
from dashboards._sdk import JSONEncoder, common_models, dashboard_builders, dashboard_models

REFRESH = "30s"


def new_dashboard(*, uid: str, title: str, description: str, time_from: str) -> dashboard_builders.Dashboard:
    """A dashboard with the shared uid/tag/refresh conventions, the datasource variable and links to its siblings."""
    builtin = (
        dashboard_builders.AnnotationQuery()
        .name("Annotations & Alerts")
        .datasource(common_models.DataSourceRef(type_val="grafana", uid="-- Grafana --"))
        .enable(True)
        .hide(True)
        .icon_color("rgba(0, 211, 255, 1)")
        .type("dashboard")
        .built_in(1)
    )
    siblings = (
        Link("Driftline")
        .type(dashboard_models.DashboardLinkType.DASHBOARDS)
        .tags(TAGS)
        .as_dropdown(True)
        .include_vars(True)
        .keep_time(True)
    )
    return (
        dashboard_builders.Dashboard(title)
        .uid(uid)
        .description(description)
        .tags(TAGS)
        .refresh(REFRESH)
        .time(time_from, "now")
        .timezone("browser")
        .tooltip(dashboard_models.DashboardCursorSync.CROSSHAIR)
        .annotation(builtin)
        .link(siblings)
        .with_variable(datasource_variable())
    )


def datasource_variable() -> dashboard_builders.DatasourceVariable:
    """The Prometheus every panel reads, defaulting to the provisioned one.

    Grafana lists the Prometheus datasources of the instance; a default that is not among them
    (a Grafana without grafana/provisioning) falls back to the first one listed, so the
    dashboards never point at a datasource that does not exist. ``build.for_import`` swaps the
    default for the ``${DS_PROMETHEUS}`` input of the importable variant.
    """
    return (
        dashboard_builders.DatasourceVariable(DATASOURCE_VARIABLE)
        .label("Data source")
        .description("The Prometheus that scrapes Driftline's /metrics.")
        .type("prometheus")
        .current(dashboard_models.VariableOption(selected=True, text=DATASOURCE_NAME, value=DATASOURCE_UID))
    )


def driftline_url_variable() -> dashboard_builders.QueryVariable:
    """Where the Driftline API is, as people reach it: report links are built from it.

    Read from ``driftline_public_url_info{url}`` (``DRIFTLINE_PUBLIC_URL``, the URL the alert
    rules' ``report_url`` uses too), so the URL is set once, in Driftline's environment. Custom
    values are allowed, for a Driftline that predates the series or a browser that reaches it
    at another address.
    """
    q = "label_values(driftline_public_url_info, url)"
    return (
        dashboard_builders.QueryVariable("driftline_url")
        .label("Driftline URL")
        .description("Base URL of the Driftline API (DRIFTLINE_PUBLIC_URL), used by the links to HTML reports.")
        .datasource(DATASOURCE)
        .query(q)
        .definition(q)
        .refresh(dashboard_models.VariableRefresh.ON_DASHBOARD_LOAD)
        .allow_custom_value(True)
    )


def iter_panels(panels: Sequence[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """Every panel of a dashboard JSON, including those nested in collapsed rows."""
    for panel in panels:
        yield panel
        yield from iter_panels(panel.get("panels", []))


def encode(builder: dashboard_builders.Dashboard) -> dict[str, Any]:
    """The dashboard as plain JSON data, with the two gaps of SDK 0.0.21's output filled.

    The SDK leaves panel ids unset (rows get 0); Grafana keys panel links (``viewPanel``) and
    repeats on them, so every panel gets a stable id in layout order. It also places every
    dashboard link and annotation toggle ``inControlsMenu``, which tucks the report link into a
    dropdown in recent Grafana; without the key Grafana shows them in the dashboard's top bar.
    """
    doc: dict[str, Any] = json.loads(JSONEncoder(sort_keys=True).encode(builder.build()))
    for panel_id, panel in enumerate(iter_panels(doc.get("panels", [])), start=1):
        panel["id"] = panel_id
    for item in [*doc.get("links", []), *doc.get("annotations", {}).get("list", [])]:
        item.pop("placement", None)
    return doc
