"""The service's command-line commands: check-config, serve, run, backfill, db upgrade, demo.

Settings come from ``DRIFTLINE_*`` (built once here and passed down); ``--config`` overrides
``DRIFTLINE_CONFIG``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys

from monitor import logs
from monitor.config import DriftlineConfig, Settings, load_config
from monitor.domain import Run, RunStatus
from monitor.progress import progress

__all__ = ["dispatch", "run_to_dict"]


def run_to_dict(run: Run) -> dict[str, object]:
    """A run as JSON: exactly the body of ``GET /v1/runs/{id}``."""
    from monitor.api.schemas import RunDetail

    return RunDetail.from_domain(run).model_dump(mode="json")


def _settings(args: argparse.Namespace) -> tuple[Settings, DriftlineConfig]:
    overrides = {"config": args.config} if getattr(args, "config", None) else {}
    settings = Settings(**overrides)
    return settings, load_config(settings.config)


def _service(settings: Settings, config: DriftlineConfig):  # type: ignore[no-untyped-def]
    from monitor.service import MonitorService
    from monitor.storage.store import Store

    store = Store.from_url(settings.database_url, config)
    store.upgrade()
    return store, MonitorService(settings.model_copy(update={"scheduler": False}), config, store)


async def _run_once(args: argparse.Namespace) -> int:
    settings, config = _settings(args)
    store, service = _service(settings, config)
    try:
        await service.start()
        run = await (service.run_at(args.monitor, args.at) if args.at else service.run_now(args.monitor))
        print(json.dumps(run_to_dict(run), indent=2))
        return 1 if run.status is RunStatus.ERROR else 0  # cron and CI must see a failed run
    finally:
        await service.stop()
        store.dispose()


async def _backfill(args: argparse.Namespace) -> int:
    settings, config = _settings(args)
    config.monitor(args.monitor)
    step = args.step
    ends = []
    end = args.start
    while end <= args.end:
        ends.append(end)
        end += step
    store, service = _service(settings, config)
    counts: dict[str, int] = {}
    try:
        await service.start()
        # A bar on a terminal (log lines go above it), plain lines with counts and ETA elsewhere.
        with progress(len(ends), desc=f"backfill {args.monitor}", unit="windows", stream=sys.stderr) as shown:
            for end in ends:
                run = await service.run_at(args.monitor, end)
                counts[str(run.status)] = counts.get(str(run.status), 0) + 1
                shown.update(1, f"{end.isoformat()} {run.status}")
        print(json.dumps({"windows": len(ends), "statuses": counts}))
        return 0
    finally:
        await service.stop()
        store.dispose()


def _serve(args: argparse.Namespace) -> int:
    import uvicorn

    from monitor.app import create_app

    settings, config = _settings(args)
    host = args.host or settings.host
    port = args.port or settings.port
    level, fmt = logs.resolve(args.log_level)
    # uvicorn's own lines and its access log in the same format as ours; the access log masks secrets
    # sent in a query string (`?api_key=...`), see monitor.api.access_log.
    log_config = logs.uvicorn_log_config(level, fmt)
    if args.workers > 1:
        return _serve_workers(args, settings, host, port, str(level), log_config)
    from monitor.serve_lock import hold_sqlite_serve_lock

    lock = hold_sqlite_serve_lock(settings.database_url)  # SQLite: one serving process per file
    uvicorn.run(create_app(settings, config), host=host, port=port, log_level=str(level), log_config=log_config)
    if lock is not None:
        lock.close()
    return 0


def _serve_workers(args: argparse.Namespace, settings: Settings, host: str, port: int, level: str,
                   log_config: dict[str, object]) -> int:
    """N worker processes under uvicorn's supervisor, the scheduler in the elected one (monitor.workers)."""
    import sqlalchemy as sa
    import uvicorn

    from monitor.errors import ConfigError

    if sa.make_url(settings.database_url).get_backend_name() != "postgresql":
        raise ConfigError(f"--workers {args.workers} needs PostgreSQL: SQLite has one writer, so serve runs one "
                          "process on it (drop --workers)", path="workers")
    # The workers read their settings from the environment (uvicorn starts them with spawn).
    os.environ["DRIFTLINE_CONFIG"] = str(settings.config)
    if args.log_level:
        os.environ[logs.LEVEL_ENV] = args.log_level
    # A worker answers the supervisor's health pings only once its interpreter is up: 5 s (uvicorn's
    # default) is too short for a cold start of pandas and SciPy on a loaded machine.
    uvicorn.run("monitor.workers:worker_app", factory=True, workers=args.workers, host=host, port=port,
                log_level=level, log_config=log_config, timeout_worker_healthcheck=60)
    return 0


def dispatch(args: argparse.Namespace) -> int:
    """Run one of the service's commands."""
    # Level from --log-level or DRIFTLINE_LOG_LEVEL, text or JSON (DRIFTLINE_LOG_FORMAT); APScheduler's
    # per-job INFO lines (two a second from the deliverer) and alembic's are held at WARNING.
    logs.configure(getattr(args, "log_level", None))
    if args.command == "check-config":
        config = load_config(args.file)
        print(f"{args.file}: ok, {len(config.monitors)} monitor(s): " + ", ".join(m.name for m in config.monitors))
        return 0
    if args.command == "serve":
        return _serve(args)
    if args.command == "run":
        return asyncio.run(_run_once(args))
    if args.command == "backfill":
        return asyncio.run(_backfill(args))
    if args.command == "db":
        settings, config = _settings(args)
        store, _ = _service(settings, config)
        try:
            if args.action == "partition":
                moved = store.partition_logs()
                if not moved:
                    print("SQLite keeps no partitions: retention deletes in batches")
                for model, rows in moved.items():
                    print(f"model {model}: " + ("already partitioned by day" if rows is None
                                                else f"{rows:,} rows moved into day partitions"))
                return 0
        finally:
            store.dispose()
        print("database is at the latest schema")
        return 0
    if args.command == "demo":
        from monitor.demo import run_demo

        return run_demo(port=args.port, seconds=args.seconds)
    raise AssertionError(f"unhandled command {args.command}")  # pragma: no cover
