"""Liveness and readiness probes.

Readiness asks the store twice: a ping (does the database answer?) and a write probe (does it
take a committed write?). A read-only database file, a read-only transaction default, a replica
after failover or a full disk answer the ping while every ingest fails; the probe catches them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import anyio
import anyio.to_thread
from fastapi import APIRouter, Response

from monitor.api.deps import ServiceDep, SettingsDep, StoreDep
from monitor.api.schemas import CheckResult, Health, Readiness
from monitor.errors import StorageError

__all__ = ["PING_TIMEOUT_SECONDS", "router"]

logger = logging.getLogger(__name__)

#: A readiness probe answers within this time even when the database hangs.
PING_TIMEOUT_SECONDS = 5.0

router = APIRouter(tags=["health"])


@router.get("/healthz", operation_id="getLiveness", response_model=Health, summary="Liveness")
async def healthz() -> Health:
    """Always ``ok`` while the process serves requests."""
    return Health()


async def _check(probe: Callable[[], None]) -> CheckResult:
    try:
        with anyio.fail_after(PING_TIMEOUT_SECONDS):
            await anyio.to_thread.run_sync(probe, abandon_on_cancel=True)
    except StorageError:
        return "failed"
    except TimeoutError:
        return "timeout"
    return "ok"


@router.get("/readyz", operation_id="getReadiness", response_model=Readiness, summary="Readiness",
            responses={503: {"model": Readiness, "description": "A check failed; `checks` says which."}})
async def readyz(response: Response, store: StoreDep, service: ServiceDep, settings: SettingsDep) -> Readiness:
    """Ready when the store answers a ping (``store``), takes a committed write (``store_writes``),
    and the scheduler runs (or is disabled by ``DRIFTLINE_SCHEDULER=false``). Failures are named,
    never explained: an exception's text could carry connection details."""
    checks: dict[str, CheckResult] = {"store": await _check(store.ping)}
    checks["store_writes"] = await _check(store.write_probe) if checks["store"] == "ok" else "failed"
    if not settings.scheduler:
        checks["scheduler"] = "disabled"
    else:
        checks["scheduler"] = "ok" if service.scheduler_running() else "stopped"
    ready = all(v in ("ok", "disabled") for v in checks.values())
    if not ready:
        logger.warning("not ready", extra={"checks": checks})
        response.status_code = 503
    return Readiness(status="ready" if ready else "unavailable", checks=checks)
