"""The service commands' logging, set up in one place: level, format (text or JSON) and quiet libraries.

:func:`configure` installs one handler on the root logger (standard error), at the level of
``--log-level`` or ``DRIFTLINE_LOG_LEVEL`` (default ``info``), in the format of
``DRIFTLINE_LOG_FORMAT``: ``text`` (default) or ``json``, one JSON object per line with ``ts``,
``level``, ``logger``, ``message`` and every structured field a record carries (``extra=``: a
run's ``monitor``, ``run_id``, ``window_end``, ``status``, ``duration_seconds``, ``rows``).
:func:`uvicorn_log_config` gives uvicorn the same formatter, so its access lines are JSON too,
with the query secrets masked by :class:`monitor.api.access_log.MaskQuerySecrets`.

APScheduler logs two INFO lines per job execution (the deliverer runs every second: ~170k lines
a day) and alembic one per migration step; both are held at WARNING whatever the level.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Final, TextIO

from monitor.errors import InputError

__all__ = ["LEVEL_ENV", "FORMAT_ENV", "LogFormat", "LogLevel", "JsonFormatter", "TextFormatter", "configure",
           "resolve", "uvicorn_log_config"]

LEVEL_ENV: Final = "DRIFTLINE_LOG_LEVEL"
FORMAT_ENV: Final = "DRIFTLINE_LOG_FORMAT"


class LogLevel(StrEnum):
    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


class LogFormat(StrEnum):
    TEXT = "text"
    JSON = "json"


#: Libraries whose INFO lines are chatter for an operator: held at WARNING at every level.
QUIET: Final = ("apscheduler", "alembic")

#: The attributes every LogRecord has; anything else on a record came in through ``extra=``.
_STANDARD: Final = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime",
                                                                                           "color_message"}


def fields(record: logging.LogRecord) -> dict[str, Any]:
    """The structured fields of ``record``: what the caller passed through ``extra=``."""
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD and not k.startswith("_")}


def _plain(value: Any) -> Any:
    """A field as JSON: numbers, strings, booleans and null as they are; anything else as its ``str``."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ``ts`` (UTC, ISO 8601), ``level``, ``logger``, ``message``, the fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in fields(record).items():
            line.setdefault(key, _plain(value))
        if record.name == "uvicorn.access" and isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, path, version, status = record.args  # already masked by MaskQuerySecrets
            line.update(client=str(client), method=str(method), path=str(path), http_version=str(version),
                        status_code=status)
        if record.exc_info:
            line["exc_info"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, allow_nan=False, default=str)


class TextFormatter(logging.Formatter):
    """``2026-11-22 17:33:10,002 INFO monitor.run.execute: run finished monitor=churn run_id=... status=ok``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extra = " ".join(f"{k}={_plain(v)}" for k, v in fields(record).items())
        if not extra:
            return text
        head, sep, tail = text.partition("\n")  # a traceback stays below the line
        return f"{head} {extra}{sep}{tail}"


def resolve(level: str | None = None, fmt: str | None = None) -> tuple[LogLevel, LogFormat]:
    """The level (``level``, else ``DRIFTLINE_LOG_LEVEL``, else info) and the format
    (``fmt``, else ``DRIFTLINE_LOG_FORMAT``, else text); a bad value is an :class:`InputError` naming it."""
    chosen_level = level or os.environ.get(LEVEL_ENV) or LogLevel.INFO
    chosen_format = fmt or os.environ.get(FORMAT_ENV) or LogFormat.TEXT
    try:
        lv = LogLevel(str(chosen_level).strip().lower())
    except ValueError:
        raise InputError(f"log level {chosen_level!r} is not one of {', '.join(LogLevel)} (--log-level or {LEVEL_ENV})",
                         field="log_level") from None
    try:
        lf = LogFormat(str(chosen_format).strip().lower())
    except ValueError:
        raise InputError(f"log format {chosen_format!r} is not one of {', '.join(LogFormat)} ({FORMAT_ENV})",
                         field="log_format") from None
    return lv, lf


def formatter(fmt: LogFormat) -> logging.Formatter:
    return JsonFormatter() if fmt is LogFormat.JSON else TextFormatter()


def configure(level: str | None = None, fmt: str | None = None, *, stream: TextIO | None = None) -> tuple[LogLevel, LogFormat]:
    """Install the root handler on ``stream`` (standard error) and quiet the libraries; returns what was chosen."""
    lv, lf = resolve(level, fmt)
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(formatter(lf))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(lv.upper())
    for name in QUIET:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    return lv, lf


def uvicorn_log_config(level: LogLevel, fmt: LogFormat) -> dict[str, Any]:
    """uvicorn's logging: its loggers through the root handler's format, the access log's secrets masked."""
    from monitor.api.access_log import MaskQuerySecrets

    factory = JsonFormatter if fmt is LogFormat.JSON else TextFormatter
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"mask_query_secrets": {"()": MaskQuerySecrets}},
        "formatters": {"driftline": {"()": factory}},
        "handlers": {"stderr": {"class": "logging.StreamHandler", "formatter": "driftline",
                                "stream": "ext://sys.stderr"}},
        "loggers": {
            "uvicorn": {"handlers": ["stderr"], "level": level.upper(), "propagate": False},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"handlers": ["stderr"], "level": level.upper(), "propagate": False,
                               "filters": ["mask_query_secrets"]},
        },
    }
