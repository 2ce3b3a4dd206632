"""The grafana-foundation-sdk modules the dashboards use, imported in one place.

grafana-foundation-sdk 0.0.21 warns ``DeprecationWarning("Prefer using dashboardv2.Dashboard
instead.")`` from a class body of its v1 dashboard module, i.e. whenever that module is first
imported. We build the v1 (classic) dashboard JSON on purpose: it is what Grafana's file
provisioning reads in every current release, while the v2 schema is still behind feature
toggles. Our pytest configuration turns warnings into errors, so the import is done here, once,
with exactly that warning silenced; every other module imports the SDK through this one.
"""

from __future__ import annotations

import warnings

with warnings.catch_warnings():
    warnings.filterwarnings("ignore", message="Prefer using dashboardv2", category=DeprecationWarning)
    from grafana_foundation_sdk.builders import common as common_builders
    from grafana_foundation_sdk.builders import dashboard as dashboard_builders
    from grafana_foundation_sdk.builders import heatmap as heatmap_builders
    from grafana_foundation_sdk.builders import prometheus as prometheus_builders
    from grafana_foundation_sdk.builders import stat as stat_builders
    from grafana_foundation_sdk.builders import statetimeline as statetimeline_builders
    from grafana_foundation_sdk.builders import table as table_builders
    from grafana_foundation_sdk.builders import timeseries as timeseries_builders
    from grafana_foundation_sdk.cog.builder import Builder
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models import common as common_models
    from grafana_foundation_sdk.models import dashboard as dashboard_models
    from grafana_foundation_sdk.models import heatmap as heatmap_models
    from grafana_foundation_sdk.models import prometheus as prometheus_models

__all__ = [
    "Builder",
    "JSONEncoder",
    "common_builders",
    "common_models",
    "dashboard_builders",
    "dashboard_models",
    "heatmap_builders",
    "heatmap_models",
    "prometheus_builders",
    "prometheus_models",
    "stat_builders",
    "statetimeline_builders",
    "table_builders",
    "timeseries_builders",
]
