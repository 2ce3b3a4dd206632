"""``GET /metrics``: the stored latest results in Prometheus' text format.

The snapshot is read from the store off the event loop (both latest runs of every monitor in one
read, counters kept at write time), then rendered (``exporters.text``: the per-feature series
written directly and kept per run, the rest built by ``DriftCollector`` and formatted as
``generate_latest`` formats them), so rendering does no I/O and two replicas serve the same numbers. The per-process series (HTTP
requests, ``process_*``, ``python_info``: ``monitor.api.http_metrics``) follow them.
"""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST

from exporters.build import build_snapshot
from exporters.text import render_text
from monitor.api.deps import ConfigDep, SettingsDep

__all__ = ["router"]

router = APIRouter(tags=["metrics"])


@router.get("/metrics", operation_id="getMetrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request, config: ConfigDep, settings: SettingsDep) -> Response:
    store = request.app.state.store
    live = getattr(request.app.state, "live_metrics", None)
    snapshot = await anyio.to_thread.run_sync(
        lambda: build_snapshot(store, config, max_features=settings.metrics_max_features,
                               version=request.app.version, public_url=settings.public_url))
    body = await anyio.to_thread.run_sync(lambda: render_text(snapshot) + (b"" if live is None else live.render()))
    return Response(body, media_type=CONTENT_TYPE_LATEST)
