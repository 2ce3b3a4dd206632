"""``GET /metrics``: the stored latest results in Prometheus' text format.

The snapshot is read from the store off the event loop, then rendered by a collector bound in a
fresh registry, so ``collect()`` does no I/O and two replicas serve the same numbers.
"""

from __future__ import annotations

import anyio.to_thread
from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from exporters import DriftCollector
from exporters.build import build_snapshot
from monitor.api.deps import ConfigDep, SettingsDep

__all__ = ["router"]

router = APIRouter(tags=["metrics"])


@router.get("/metrics", summary="Prometheus metrics", response_class=Response)
async def metrics(request: Request, config: ConfigDep, settings: SettingsDep) -> Response:
    store = request.app.state.store
    snapshot = await anyio.to_thread.run_sync(
        lambda: build_snapshot(store, config, max_features=settings.metrics_max_features,
                               version=request.app.version))
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DriftCollector(snapshot))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
