"""The composition root: the FastAPI app, with the store and the monitor service built in its lifespan.

Nothing is created at import time or in :func:`create_app` itself: the store is opened and
migrated, and the service started, when the server starts the app (its lifespan), and both are
closed when it stops. Tests pass their own ``store`` and ``service``.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import timedelta
from typing import TYPE_CHECKING, cast

import anyio.to_thread
from fastapi import FastAPI

from monitor.api import ROUTERS, ServiceLike, StoreLike, install_error_handlers
from monitor.api.docs import install_docs
from monitor.api.http_metrics import HttpMetricsMiddleware, LiveMetrics
from monitor.config import DriftlineConfig, Settings

if TYPE_CHECKING:
    from monitor.storage.store import Store

__all__ = ["create_app"]

logger = logging.getLogger(__name__)

_DESCRIPTION = """Drift monitoring for machine-learning models.

Writes (every `POST`) need `Authorization: Bearer <key>` with a key from `DRIFTLINE_API_KEYS`
(comma-separated); with no key configured every write is refused. Bad input gets a 4xx naming
the row and field; a refused batch writes nothing.
"""


def create_app(settings: Settings, config: DriftlineConfig, *, store: StoreLike | None = None,
               service: ServiceLike | None = None) -> FastAPI:
    """The Driftline HTTP app for ``settings`` and ``config``.

    Without ``store``, the lifespan opens ``Store.from_url(settings.database_url, config)``,
    upgrades its schema, and disposes of it on shutdown. Without ``service``, it builds
    ``MonitorService(settings, config, store)``. Either way the service is started on startup
    and stopped on shutdown, and ``app.state`` holds ``store``, ``service``, ``config`` and
    ``settings``.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            the_store = store
            if the_store is None:
                from monitor.storage.store import Store

                opened = await anyio.to_thread.run_sync(Store.from_url, settings.database_url, config)
                stack.push_async_callback(anyio.to_thread.run_sync, opened.dispose)
                await anyio.to_thread.run_sync(opened.upgrade)
                opened.outbox_claim_for = timedelta(seconds=settings.outbox_claim_seconds)
                the_store = opened
            the_service = service
            app.state.alerts = None
            if the_service is None:
                import httpx

                from alerts.service import AlertService
                from monitor.run import SystemClock
                from monitor.service import MonitorService

                # MonitorService is typed against the concrete Store: a store given without a
                # service must be one.
                client = httpx.AsyncClient()
                stack.push_async_callback(client.aclose)
                clock = SystemClock()
                alerts = AlertService(config, cast("Store", the_store), client, public_url=settings.public_url,
                                      now=clock.now, claim_for=timedelta(seconds=settings.outbox_claim_seconds))
                app.state.alerts = alerts
                the_service = MonitorService(settings, config, cast("Store", the_store), clock=clock, alerts=alerts)
            await the_service.start()
            stack.push_async_callback(the_service.stop)
            app.state.store = the_store
            app.state.service = the_service
            app.state.config = config
            app.state.settings = settings
            if not settings.api_key_list():
                logger.warning("no API keys configured: every write is refused until DRIFTLINE_API_KEYS is set")
            logger.info("driftline API started", extra={"monitors": len(config.monitors),
                                                        "scheduler": settings.scheduler})
            yield
            logger.info("driftline API stopping")

    # docs_url/redoc_url None: FastAPI's pages load a CDN; install_docs serves them from the package.
    app = FastAPI(title="Driftline", version=_version(), description=_DESCRIPTION, lifespan=lifespan,
                  docs_url=None, redoc_url=None)
    install_error_handlers(app)
    # Per-process series for /metrics (HTTP requests by route template, process_*, python_info).
    app.state.live_metrics = LiveMetrics()
    app.add_middleware(HttpMetricsMiddleware, metrics=app.state.live_metrics)
    for router in ROUTERS:
        app.include_router(router)
    install_docs(app)
    return app


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("driftline")
    except PackageNotFoundError:
        return "0.0.0+unknown"
