"""The HTTP routes, one module per resource."""

from __future__ import annotations

from fastapi import APIRouter

from monitor.api.routes import alerting, health, home, ingest, metrics, monitors, reports, runs

__all__ = ["ROUTERS"]

#: Every router, in the order the OpenAPI document lists them.
ROUTERS: tuple[APIRouter, ...] = (ingest.router, monitors.router, runs.router, reports.router, alerting.router,
                                   health.router, metrics.router, home.router)
