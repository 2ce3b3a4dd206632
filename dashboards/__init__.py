"""dashboards: the Grafana dashboards as code (``dashboards.build`` writes grafana/dashboards/).

Nothing is imported here, so importing the package does not pull in grafana-foundation-sdk,
which is an optional dependency (the ``dashboards`` extra).
"""

__all__: list[str] = []
