"""One run with all its results."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from monitor.api.deps import StoreDep
from monitor.api.errors import UnknownRun, documented
from monitor.api.schemas import RunDetail

__all__ = ["router"]

router = APIRouter(prefix="/v1/runs", tags=["runs"])


@router.get("/{run_id}", operation_id="getRun", response_model=RunDetail, summary="Get a run with all its results",
            responses=documented({404: "No such run.", 503: "The store is unavailable."}))
def get_run(run_id: Annotated[str, Path(description="The run's id")], store: StoreDep) -> RunDetail:
    """The dataset verdict, every column's drift and data quality, performance, label coverage
    and concept drift of one run."""
    run = store.get_run(run_id)
    if run is None:
        raise UnknownRun(run_id)
    return RunDetail.from_domain(run)
