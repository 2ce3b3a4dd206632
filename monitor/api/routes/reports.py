"""HTML drift reports: a run's report, and the report of a monitor's latest finished run.

The service renders (off the event loop) and caches; these routes only find the run and map
"nothing to report" to 404 through the domain errors, like every other route.
"""

from __future__ import annotations

from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Path
from fastapi.responses import HTMLResponse

from monitor.api._pages import html_page
from monitor.api.deps import ConfigDep, ServiceDep, StoreDep, StoreLike
from monitor.api.errors import documented
from monitor.domain import Run, RunStatus
from monitor.errors import NoReportableRun, UnknownRun  # NoReportableRun stays importable from here

__all__ = ["NoReportableRun", "router"]

router = APIRouter(tags=["reports"])

#: How many runs one store call returns while looking back for a reportable run.
_PAGE = 100

_HTML: dict[int | str, dict[str, object]] = {
    200: {"content": {"text/html": {"schema": {"type": "string"}}},
          "description": "A self-contained HTML page (inline CSS and SVG, no script)."},
}


def _latest_reportable(store: StoreLike, monitor: str) -> Run | None:
    """The newest run with status ok or drift, looking back a page of runs at a time."""
    end = None
    while True:
        runs = store.list_runs(monitor, None, end, _PAGE, results=False)
        found = next((r for r in runs if r.status in (RunStatus.OK, RunStatus.DRIFT)), None)
        if found is not None or len(runs) < _PAGE:
            return found
        end = runs[-1].window_end


@router.get("/v1/runs/{run_id}/report", operation_id="getRunReport", response_class=HTMLResponse,
            summary="A run's HTML drift report",
            responses={**_HTML, **documented({404: "No such run.", 503: "The store is unavailable."}, html=True)})
async def run_report(run_id: Annotated[str, Path(description="The run's id")], service: ServiceDep) -> HTMLResponse:
    """The run's stored verdicts, per-column charts of reference versus current, data quality,
    prediction and target drift, performance and concept drift, as one HTML page."""
    page = await service.report_html(run_id)
    if page is None:
        raise UnknownRun(run_id)
    return html_page(page)


@router.get("/v1/monitors/{name}/report", operation_id="getMonitorReport", response_class=HTMLResponse,
            summary="The HTML report of a monitor's latest finished run",
            responses={**_HTML, **documented({404: "No such monitor, or no run with status ok or drift.",
                                              503: "The store is unavailable."}, html=True)})
async def monitor_report(name: Annotated[str, Path(description="A monitor's name in driftline.yaml.")],
                         store: StoreDep, service: ServiceDep, config: ConfigDep) -> HTMLResponse:
    """The report of the monitor's newest run that ended ``ok`` or ``drift`` (runs that ended in
    ``error`` or ``insufficient_data`` have no results to show)."""
    config.monitor(name)
    run = await anyio.to_thread.run_sync(_latest_reportable, store, name)
    page = None if run is None else await service.report_html(run.id)
    if page is None:
        raise NoReportableRun(name)
    return html_page(page)
