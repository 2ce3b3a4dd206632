"""Domain errors to HTTP, in one place: routes raise ours and never build error responses.

- 422 ``{"detail": [{"row", "field", "message"}], "message"}``: ``InputError`` (a
  ``BatchInvalid`` lists every bad row), a bad query or path parameter, ``ConfigError``.
- 404 ``{"detail"}``: ``UnknownMonitor`` (and ``UnknownReference``), ``UnknownModel``, ``UnknownRun``.
- 401 ``{"detail": "missing or invalid API key"}`` with ``WWW-Authenticate: Bearer``: ``Unauthorized``.
- 413 / 415 ``{"detail"}``: ``PayloadTooLarge``, ``UnsupportedMediaType``.
- 409 ``{"detail"}``: ``DuplicateRun`` (that window of the monitor is already stored).
- 503 ``{"detail": "storage unavailable"}``: ``StorageError``; the cause is logged, never sent.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from monitor.api.schemas import ErrorItem, ErrorMessage, ValidationErrorBody
from monitor.errors import ConfigError, DriftlineError, DuplicateRun, InputError, StorageError, UnknownMonitor
from monitor.ingest import BatchInvalid, UnknownModel

__all__ = [
    "PayloadTooLarge",
    "Unauthorized",
    "UnknownJob",
    "UnknownRun",
    "UnsupportedMediaType",
    "install_error_handlers",
]

logger = logging.getLogger(__name__)


class UnknownRun(DriftlineError, LookupError):
    """No run with that id."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"no run with id {run_id!r}")
        self.run_id = run_id


class UnknownJob(DriftlineError, LookupError):
    """No retraining job with that id."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"no retrain job with id {job_id!r}")
        self.job_id = job_id


class Unauthorized(DriftlineError):
    """A write without a valid API key. The message is fixed: it never hints at the keys."""

    def __init__(self) -> None:
        super().__init__("missing or invalid API key")


class PayloadTooLarge(DriftlineError):
    """A body over ``Settings.max_body_bytes``."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"the body is over the limit of {limit} bytes (DRIFTLINE_MAX_BODY_BYTES)")
        self.limit = limit


class UnsupportedMediaType(DriftlineError):
    """A body in a Content-Type the endpoint does not read."""


def _unprocessable(items: Sequence[ErrorItem], message: str) -> JSONResponse:
    body = ValidationErrorBody(detail=list(items), message=message)
    return JSONResponse(body.model_dump(mode="json"), status_code=422)


def _message(status: int, text: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(ErrorMessage(detail=text).model_dump(mode="json"), status_code=status, headers=headers)


async def _input_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, BatchInvalid):
        items = [ErrorItem(row=i.row, field=i.field, message=i.message) for i in exc.issues]
    else:
        assert isinstance(exc, InputError)
        items = [ErrorItem(row=exc.row, field=exc.field, message=str(exc))]
    return _unprocessable(items, str(exc).splitlines()[0])


async def _config_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ConfigError)
    text = str(exc).splitlines()[0]
    return _unprocessable([ErrorItem(row=None, field=exc.path, message=text)], text)


def _field(loc: Sequence[Any]) -> str | None:
    # ("query", "from") -> "from"; ("path", "name") -> "name"; ("body",) -> "body"
    parts = [str(p) for p in loc[1:]] if len(loc) > 1 else [str(p) for p in loc]
    return ".".join(parts) or None


async def _request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    items = []
    for err in exc.errors():
        field = _field(err.get("loc", ()))
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        items.append(ErrorItem(row=None, field=field, message=f"{field}: {msg}" if field else msg))
    first = items[0].message if items else "invalid request"
    return _unprocessable(items, first)


async def _not_found(request: Request, exc: Exception) -> JSONResponse:
    return _message(404, str(exc))


async def _unauthorized(request: Request, exc: Exception) -> JSONResponse:
    logger.info("refused %s %s: missing or invalid API key", request.method, request.url.path)
    return _message(401, str(exc), {"WWW-Authenticate": "Bearer"})


async def _too_large(request: Request, exc: Exception) -> JSONResponse:
    return _message(413, str(exc))


async def _unsupported(request: Request, exc: Exception) -> JSONResponse:
    return _message(415, str(exc))


async def _conflict(request: Request, exc: Exception) -> JSONResponse:
    return _message(409, str(exc).splitlines()[0])


async def _storage_error(request: Request, exc: Exception) -> JSONResponse:
    # The store's messages carry no password, but may carry row values from a failed statement:
    # log the type and first line only, without the chained SQLAlchemy error.
    logger.error("storage error on %s %s: %s: %s", request.method, request.url.path, type(exc).__name__,
                 str(exc).splitlines()[0] if str(exc) else "")
    return _message(503, "storage unavailable")


def install_error_handlers(app: FastAPI) -> None:
    """Register every domain-error handler on ``app``."""
    app.add_exception_handler(InputError, _input_error)
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(ConfigError, _config_error)
    for lookup in (UnknownMonitor, UnknownModel, UnknownRun, UnknownJob):
        app.add_exception_handler(lookup, _not_found)
    app.add_exception_handler(Unauthorized, _unauthorized)
    app.add_exception_handler(PayloadTooLarge, _too_large)
    app.add_exception_handler(UnsupportedMediaType, _unsupported)
    app.add_exception_handler(DuplicateRun, _conflict)
    app.add_exception_handler(StorageError, _storage_error)
