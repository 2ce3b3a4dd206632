"""``GET /``: an HTML index of the monitors, their status and latest runs, for people.

Not in the OpenAPI document (like ``/docs``): it is a page to open in a browser, not an API.
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from monitor.api._pages import html_page
from monitor.api.deps import ConfigDep, StoreDep
from monitor.reports import MonitorEntry, render_index

__all__ = ["LATEST_RUNS", "router"]

#: Runs listed per monitor on the index.
LATEST_RUNS = 5

router = APIRouter(tags=["home"])


@router.get("/", response_class=HTMLResponse, include_in_schema=False)
def home(request: Request, store: StoreDep, config: ConfigDep) -> HTMLResponse:
    """Every configured monitor with its status, active reference and newest runs, linking their
    reports and JSON, and the API docs and metrics. (A sync route: FastAPI runs it on a thread,
    so the store's calls never block the event loop.)"""
    entries = []
    for m in config.monitors:
        reference = store.active_reference(m.name)
        entries.append(MonitorEntry(name=m.name, model=m.model,
                                    reference_version=None if reference is None else reference.version,
                                    runs=store.list_runs(m.name, None, None, LATEST_RUNS, results=False)))
    page = render_index(entries, version=request.app.version)
    return html_page(page)
