"""Monitors: their latest status, their runs, running one now, and their references."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request, Response

from monitor import ingest
from monitor.api._body import REFERENCE_BODY, parse_body, read_batch
from monitor.api.auth import require_api_key
from monitor.api.deps import ConfigDep, ServiceDep, SettingsDep, StoreDep
from monitor.api.errors import documented
from monitor.api.schemas import MonitorOut, ReferenceCreated, ReferenceOut, RunCreated, RunSummary
from monitor.errors import InputError

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/monitors", tags=["monitors"])

MonitorName = Annotated[str, Path(description="A monitor's name in driftline.yaml.")]

_STORE_DOWN = "The store is unavailable."
_READ_ERRORS = documented({404: "No such monitor.", 422: "A bad parameter, named in `field`.", 503: _STORE_DOWN})
_WRITE_ERRORS = documented({401: "Missing or invalid API key.", 404: "No such monitor.",
                            422: "A configuration conflict found at request time, named in `field`.",
                            503: _STORE_DOWN})


def _utc(value: datetime | None) -> datetime | None:
    """Query datetimes without an offset are UTC."""
    if value is None:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


@router.get("", operation_id="listMonitors", response_model=list[MonitorOut], responses=documented({503: _STORE_DOWN}),
            summary="List monitors and their status")
def list_monitors(store: StoreDep, config: ConfigDep) -> list[MonitorOut]:
    """Every configured monitor with its latest run (any status) and active reference version."""
    latest = store.latest_runs()
    versions = store.active_reference_versions()  # one query for every monitor, no profile blobs
    return [MonitorOut.from_domain(m, latest.get(m.name), versions.get(m.name, (None, ""))[0]) for m in config.monitors]


@router.get("/{name}/runs", operation_id="listRuns", response_model=list[RunSummary], responses=_READ_ERRORS,
            summary="List a monitor's runs")
def list_runs(
    name: MonitorName,
    store: StoreDep,
    config: ConfigDep,
    start: Annotated[datetime | None, Query(alias="from", description="ISO 8601; runs whose window ends at or "
                                                                      "after it (no offset means UTC)")] = None,
    end: Annotated[datetime | None, Query(alias="to", description="ISO 8601; runs whose window ends before it")] = None,
    limit: Annotated[int, Query(ge=1, le=1000, description="At most this many runs, newest first")] = 100,
) -> list[RunSummary]:
    """Runs of one monitor, newest first, without their per-column results (see ``/v1/runs/{id}``)."""
    config.monitor(name)
    start, end = _utc(start), _utc(end)
    if start is not None and end is not None and start >= end:
        raise InputError(f"from ({start.isoformat()}) must be before to ({end.isoformat()})", field="from")
    return [RunSummary.from_domain(r) for r in store.list_runs(name, start, end, limit, results=False)]


@router.post("/{name}/runs", operation_id="runMonitor", response_model=RunCreated, status_code=201, responses=_WRITE_ERRORS,
             dependencies=[Depends(require_api_key)], summary="Run a monitor now")
async def run_now(name: MonitorName, response: Response, service: ServiceDep, config: ConfigDep) -> RunCreated:
    """Run the monitor on its current window now, whatever its schedule; the run is stored as usual."""
    config.monitor(name)
    run = await service.run_now(name)
    response.headers["Location"] = f"/v1/runs/{run.id}"
    return RunCreated(run_id=run.id, status=run.status)


@router.post("/{name}/reference", operation_id="uploadReference", response_model=ReferenceCreated, status_code=201,
             responses=documented({401: "Missing or invalid API key.", 404: "No such monitor.",
                                   413: "Over DRIFTLINE_MAX_BODY_BYTES or a batch limit.",
                                   415: "An unsupported Content-Type.",
                                   422: "Bad rows, each named by row (0-based) and field.", 503: _STORE_DOWN}),
             openapi_extra=REFERENCE_BODY, dependencies=[Depends(require_api_key)], summary="Upload a reference")
async def upload_reference(name: MonitorName, request: Request, service: ServiceDep, config: ConfigDep,
                           settings: SettingsDep) -> ReferenceCreated:
    """A new reference version from rows in any ingest format: the monitor's features (each with
    at least one value), and optionally its prediction, score and target. ``prediction_id`` and
    ``timestamp`` columns are accepted and ignored; any other column is refused. The new version
    becomes the active one.
    """
    spec = ingest.reference_spec(config.monitor(name))
    body, fmt = await read_batch(request, settings.max_body_bytes)
    frame = await parse_body(body, fmt, spec, settings)
    if frame.empty:
        raise InputError("the reference has no rows", field="body")
    record = await service.register_reference(name, frame, source="upload")
    logger.info("registered reference", extra={"monitor": name, "version": record.version, "rows": record.n_rows})
    return ReferenceCreated.from_domain(record)


@router.get("/{name}/references", operation_id="listReferences", response_model=list[ReferenceOut],
            responses=documented({404: "No such monitor.", 503: _STORE_DOWN}),
            summary="List a monitor's reference versions")
def list_references(name: MonitorName, store: StoreDep, config: ConfigDep) -> list[ReferenceOut]:
    """Every stored reference version, with the active one flagged."""
    config.monitor(name)
    return [ReferenceOut.from_domain(r) for r in store.references(name)]
