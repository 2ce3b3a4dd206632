"""Ingest: predictions and labels of a model, in batches.

Each batch is read, checked whole (:mod:`monitor.ingest`, off the event loop) and only then
written, in one store transaction: a batch with one bad row writes nothing. Concurrent batches
of one model share that transaction (the store's group commit), and each request is answered
only once it has committed.
"""

from __future__ import annotations

import logging
from typing import Annotated

import anyio.to_thread
from fastapi import APIRouter, Depends, Path, Request

from monitor import ingest
from monitor.api._body import LABELS_BODY, PREDICTIONS_BODY, parse_body, read_batch
from monitor.api.auth import require_api_key
from monitor.api.deps import ConfigDep, ServiceDep, SettingsDep, StoreDep
from monitor.api.errors import documented
from monitor.api.schemas import IngestResponse, LabelResponse

__all__ = ["router"]

logger = logging.getLogger(__name__)

router = APIRouter(prefix="/v1/models/{model}", tags=["ingest"], dependencies=[Depends(require_api_key)])

ModelName = Annotated[str, Path(description="The model name of one or more monitors in driftline.yaml.")]

_ERRORS = documented({
    401: "Missing or invalid API key.",
    404: "No monitor watches this model.",
    413: "The body is over DRIFTLINE_MAX_BODY_BYTES, or the batch over DRIFTLINE_MAX_BATCH_ROWS, _VALUES or "
         "_DECOMPRESSED_BYTES.",
    415: "A Content-Type other than the accepted ones.",
    422: "Bad rows, each named by row (0-based) and field; nothing was written.",
    503: "The store is unavailable.",
})


@router.post("/predictions", operation_id="ingestPredictions", response_model=IngestResponse, responses=_ERRORS,
             openapi_extra=PREDICTIONS_BODY,
             summary="Log a batch of predictions")
async def ingest_predictions(model: ModelName, request: Request, store: StoreDep, config: ConfigDep,
                             settings: SettingsDep) -> IngestResponse:
    """Log predictions: ``prediction_id`` and the prediction are required in every row; features,
    score, label and ``timestamp`` (ISO 8601; the time of receipt when absent) are optional. The
    columns are the union of those of the model's monitors. Idempotent on ``prediction_id``: ids
    already logged (or repeated in the batch, the first wins) are counted as duplicates.
    """
    spec = ingest.prediction_spec(config, model)
    body, fmt = await read_batch(request, settings.max_body_bytes)
    frame = await parse_body(body, fmt, spec, settings)
    if frame.empty:
        return IngestResponse(accepted=0, duplicates=0)
    # On the wire the id and time are always `prediction_id` and `timestamp`; the store names
    # its columns after the schema, which may rename them.
    schema = next(m.schema_ for m in config.monitors if m.model == model)
    if (schema.prediction_id, schema.timestamp) != ("prediction_id", "timestamp"):  # a rename copies the frame
        frame = frame.rename(columns={"prediction_id": schema.prediction_id, "timestamp": schema.timestamp})
    result = await anyio.to_thread.run_sync(store.ingest_predictions, model, frame)
    logger.info("ingested predictions", extra={"model": model, "rows": len(frame), "format": str(fmt),
                                               "accepted": result.accepted, "duplicates": result.duplicates})
    return IngestResponse.from_domain(result)


@router.post("/labels", operation_id="ingestLabels", response_model=LabelResponse, responses=_ERRORS, openapi_extra=LABELS_BODY,
             summary="Attach labels (ground truth) to logged predictions")
async def ingest_labels(model: ModelName, request: Request, store: StoreDep, service: ServiceDep,
                        config: ConfigDep, settings: SettingsDep) -> LabelResponse:
    """Rows of ``prediction_id``, ``label`` (typed like the model's predictions) and an optional
    ``timestamp`` (when the label became known; the time of receipt when absent). Ids that match
    no logged prediction are returned in ``unknown_ids`` and are not an error. When any label
    was set, the service is told, so it may recompute performance.
    """
    spec = ingest.label_spec(config, model)
    body, fmt = await read_batch(request, settings.max_body_bytes)
    frame = await parse_body(body, fmt, spec, settings)
    if frame.empty:
        return LabelResponse(updated=0, unknown_ids=[])
    result = await anyio.to_thread.run_sync(store.ingest_labels, model, frame)
    logger.info("ingested labels", extra={"model": model, "rows": len(frame), "updated": result.updated,
                                          "unknown_ids": len(result.unknown_ids)})
    if result.updated:
        await service.labels_arrived(model)
    return LabelResponse.from_domain(result)
