"""Domain errors to HTTP, in one table: routes raise ours and never build error responses.

:data:`HTTP_STATUS` gives every class of :mod:`monitor.errors` its status (a test fails for a
class it forgets); a subclass not in it takes its nearest listed base's. The bodies:

- 422 ``{"detail": [{"row", "field", "message"}], "message"}``: ``InputError`` (a
  ``BatchInvalid`` lists every bad row), ``ConfigError``, ``InsufficientData``, and a bad query,
  path parameter or JSON body.
- 401 ``{"detail": "missing or invalid API key"}`` with ``WWW-Authenticate: Bearer``: ``Unauthorized``.
- 503 ``{"detail": "storage unavailable"}``: ``StorageError``; its ``detail`` is logged, never sent.
- 500 ``{"detail": "internal error"}``: a bare ``DriftlineError`` (a bug: every raise names a subclass).
- every other status ``{"detail"}`` with the error's first line: 404 for ``NotFound`` (unknown
  monitor, reference, model, run, retrain job, outbox message) and ``FeatureDisabled``
  (``alerting is not enabled: ...``); 409 ``DuplicateRun``; 413 ``PayloadTooLarge`` and
  ``BatchTooLarge`` (an ``InputError``, but the fix is a smaller batch or a higher limit); 415
  ``UnsupportedMediaType``; 502 ``DeliveryError``.
- the framework's own refusals (an unknown path, a method not allowed) keep their status and get
  the ``{"detail"}`` body; a body it cannot decode (not UTF-8) is a 422 naming ``body``, like a
  body that is not JSON.

The OpenAPI document says the same: routes declare their errors with :func:`documented` (each
status with its body's schema, as JSON even on an HTML route), and FastAPI's default 422
(``HTTPValidationError``, a shape this app never sends) is rewritten to :class:`ValidationErrorBody`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from monitor.api.schemas import ErrorItem, ErrorMessage, ValidationErrorBody
from monitor.errors import (
    BatchInvalid,
    BatchTooLarge,
    ConfigError,
    ConfigErrors,
    DeliveryError,
    DriftlineError,
    DuplicateRun,
    FeatureDisabled,
    InputError,
    InsufficientData,
    MissingExtra,
    NoReportableRun,
    NotFound,
    PayloadTooLarge,
    StorageError,
    Unauthorized,
    UnknownJob,
    UnknownModel,
    UnknownMonitor,
    UnknownOutboxMessage,
    UnknownReference,
    UnknownRetrainJob,
    UnknownRun,
    UnsupportedMediaType,
    log_detail,
)

# The HTTP-only errors used to live here; they stay importable from here.
__all__ = [
    "HTTP_STATUS",
    "PayloadTooLarge",
    "Unauthorized",
    "UnknownJob",
    "UnknownRun",
    "UnsupportedMediaType",
    "documented",
    "install_error_handlers",
    "status_for",
]

logger = logging.getLogger(__name__)

#: Every error class and its HTTP status. One place: a new class without a row fails the tests.
HTTP_STATUS: Final[Mapping[type[DriftlineError], int]] = {
    DriftlineError: 500,
    ConfigError: 422,
    ConfigErrors: 422,
    InputError: 422,
    BatchInvalid: 422,
    BatchTooLarge: 413,
    InsufficientData: 422,
    NotFound: 404,
    UnknownMonitor: 404,
    UnknownReference: 404,
    UnknownModel: 404,
    UnknownRun: 404,
    NoReportableRun: 404,
    UnknownRetrainJob: 404,
    UnknownOutboxMessage: 404,
    FeatureDisabled: 404,
    # A FeatureDisabled whose cause is an optional dependency not installed: the same 404.
    MissingExtra: 404,
    Unauthorized: 401,
    PayloadTooLarge: 413,
    UnsupportedMediaType: 415,
    StorageError: 503,
    DuplicateRun: 409,
    DeliveryError: 502,
}


def status_for(exc: DriftlineError) -> int:
    """The status of ``exc``: its class's row in :data:`HTTP_STATUS`, else its nearest listed base's."""
    for cls in type(exc).__mro__:
        if cls in HTTP_STATUS:
            return HTTP_STATUS[cls]
    return 500  # pragma: no cover  # DriftlineError itself is listed


def _unprocessable(items: Sequence[ErrorItem], message: str) -> JSONResponse:
    body = ValidationErrorBody(detail=list(items), message=message)
    return JSONResponse(body.model_dump(mode="json"), status_code=422)


def _message(status: int, text: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse(ErrorMessage(detail=text).model_dump(mode="json"), status_code=status, headers=headers)


def _first_line(exc: BaseException) -> str:
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__


def _items(exc: DriftlineError) -> list[ErrorItem]:
    """The located problems of a 422: every issue of a batch, else the one error with its field and row."""
    if isinstance(exc, BatchInvalid):
        return [ErrorItem(row=i.row, field=i.field, message=i.message) for i in exc.issues]
    if isinstance(exc, InputError):
        return [ErrorItem(row=exc.row, field=exc.field, message=str(exc))]
    if isinstance(exc, ConfigError):
        return [ErrorItem(row=None, field=exc.path, message=_first_line(exc))]
    return [ErrorItem(row=None, field=None, message=_first_line(exc))]


async def _domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DriftlineError)
    status = status_for(exc)
    if status == 422:
        return _unprocessable(_items(exc), _first_line(exc))
    if status == 401:
        logger.info("refused %s %s: missing or invalid API key", request.method, request.url.path)
        return _message(401, str(exc), {"WWW-Authenticate": "Bearer"})
    if status == 503:
        # The detail names the database (password masked) and the driver's first line: logs only.
        logger.error("storage error on %s %s: %s: %s", request.method, request.url.path, type(exc).__name__,
                     log_detail(exc))
        return _message(503, "storage unavailable")
    if status == 500:
        logger.error("unmapped error on %s %s", request.method, request.url.path, exc_info=exc)
        return _message(500, "internal error")
    return _message(status, _first_line(exc))


def _field(loc: Sequence[Any]) -> str | None:
    # ("query", "from") -> "from"; ("path", "name") -> "name"; ("body",) -> "body"
    parts = [str(p) for p in loc[1:]] if len(loc) > 1 else [str(p) for p in loc]
    return ".".join(parts) or None


async def _request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    items = []
    for err in exc.errors():
        loc = err.get("loc", ())
        field = _field(loc)
        msg = str(err.get("msg", "invalid value")).removeprefix("Value error, ")
        if err.get("type") == "json_invalid":  # loc is ("body", offset): name the body, say where
            field = "body"
            msg = f"{msg} at character {loc[1]}" if len(loc) > 1 else msg
        items.append(ErrorItem(row=None, field=field, message=f"{field}: {msg}" if field else msg))
    first = items[0].message if items else "invalid request"
    return _unprocessable(items, first)


#: FastAPI's 400 for a JSON body it cannot decode (fastapi.routing).
_UNPARSABLE_BODY = "There was an error parsing the body"


async def _framework_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's and FastAPI's own refusals, in our ``{"detail"}`` shape.

    FastAPI answers 400 ``There was an error parsing the body`` for a JSON body that is not
    UTF-8; that is the same fault as a body that is not JSON (a 422 naming ``body``), so it gets
    the same answer.
    """
    assert isinstance(exc, HTTPException)
    if exc.status_code == 400 and exc.detail == _UNPARSABLE_BODY:
        message = "body: is not valid JSON text (it could not be decoded)"
        return _unprocessable([ErrorItem(row=None, field="body", message=message)], message)
    return _message(exc.status_code, str(exc.detail), dict(exc.headers) if exc.headers else None)


#: The body of each documented error status (422 is the only one with located items).
_BODY: Final[Mapping[int, type[ErrorMessage] | type[ValidationErrorBody]]] = {
    401: ErrorMessage, 404: ErrorMessage, 409: ErrorMessage, 413: ErrorMessage, 415: ErrorMessage,
    422: ValidationErrorBody, 502: ErrorMessage, 503: ErrorMessage,
}
_REF = "#/components/schemas/"


def documented(errors: Mapping[int, str], *, html: bool = False) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route: each error status it can return, with what it means there.

    Every body is JSON. On an HTML route (``html=True``) the schema is given as an explicit
    ``application/json`` reference, because FastAPI files a ``model`` under the route's own media
    type (``text/html``), which is not what the error handlers send.
    """
    unknown = set(errors) - set(_BODY)
    if unknown:
        raise ValueError(f"no error body is defined for status {sorted(unknown)}")
    if not html:
        return {status: {"model": _BODY[status], "description": text} for status, text in errors.items()}
    return {status: {"description": text,
                     "content": {"application/json": {"schema": {"$ref": _REF + _BODY[status].__name__}}}}
            for status, text in errors.items()}


def _our_validation_errors(schema: dict[str, Any]) -> dict[str, Any]:
    """Point FastAPI's default 422 (added to any route with parameters) at :class:`ValidationErrorBody`,
    the body :func:`_request_validation` sends, and drop the two schemas nothing then uses."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            response = operation.get("responses", {}).get("422")
            content = (response or {}).get("content", {}).get("application/json", {})
            if content.get("schema", {}).get("$ref") == _REF + "HTTPValidationError":
                content["schema"] = {"$ref": _REF + ValidationErrorBody.__name__}
    components = schema.get("components", {}).get("schemas", {})
    components.pop("HTTPValidationError", None)
    components.pop("ValidationError", None)
    return schema


def install_error_handlers(app: FastAPI) -> None:
    """Register the one domain-error handler (Starlette finds it through each error's bases), the
    framework-error and validation handlers, and the matching 422 in the OpenAPI document."""
    app.add_exception_handler(RequestValidationError, _request_validation)
    app.add_exception_handler(HTTPException, _framework_error)
    app.add_exception_handler(DriftlineError, _domain_error)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _our_validation_errors(generate())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
