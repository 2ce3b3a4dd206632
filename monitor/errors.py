"""The exception hierarchy: errors carry their data as attributes and name the field, row or line.

Every error Driftline raises on purpose is one of these, so callers map one tree, in one place
each: the API to HTTP statuses (:data:`monitor.api.errors.HTTP_STATUS`), the command line to
exit codes (:data:`monitor.cli.EXIT_CODES`). A test walks this tree and fails for a class that
either table forgets. Adapters translate their library's exceptions at their edge (``raise
StorageError(...) from exc``), so nothing above them sees SQLAlchemy, psycopg or httpx errors.

.. code-block:: text

    DriftlineError
    ├── ConfigError                          .path .line      a bad driftline.yaml, schema or setting
    │   └── ConfigErrors                     .errors          every error of one file, one line each
    ├── InputError           (+ ValueError)  .field .row      bad ingest or malformed data
    │   ├── BatchInvalid                     .issues .total   every bad row and field of one batch
    │   └── BatchTooLarge                    .setting .limit  over a row, value or size limit (a 413)
    ├── InsufficientData     (+ ValueError)  .needed .got     the run becomes insufficient_data
    ├── NotFound             (+ LookupError)                  the named thing does not exist
    │   ├── UnknownMonitor                   .name
    │   │   └── UnknownReference             .name .version
    │   ├── UnknownModel                     .name
    │   ├── UnknownRun                       .run_id
    │   │   └── NoReportableRun              .monitor
    │   ├── UnknownRetrainJob                .job_id
    │   └── UnknownOutboxMessage             .message_id
    ├── FeatureDisabled                      .feature         e.g. alerting is not wired in this process
    │   └── MissingExtra                     .extra           an optional dependency is not installed
    ├── Unauthorized                                          a write without a valid API key
    ├── PayloadTooLarge                      .limit           a body over DRIFTLINE_MAX_BODY_BYTES
    ├── UnsupportedMediaType                                  a body in a format the endpoint does not read
    ├── StorageError                         .detail          wraps SQLAlchemyError; str() is public
    │   └── DuplicateRun                     .monitor .window_end
    └── DeliveryError                        .status_code     wraps httpx.HTTPError

Messages are public: they may reach an HTTP client or a stored run. They name the field, row or
line and echo the bad value, but never a secret or the infrastructure (a database URL, host,
port or user): :class:`StorageError` keeps that in ``detail``, which goes to logs only.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

__all__ = [
    "BatchInvalid",
    "BatchTooLarge",
    "ConfigError",
    "ConfigErrors",
    "DeliveryError",
    "DriftlineError",
    "DuplicateRun",
    "FeatureDisabled",
    "InputError",
    "InsufficientData",
    "MissingExtra",
    "NoReportableRun",
    "NotFound",
    "PayloadTooLarge",
    "Problem",
    "StorageError",
    "Unauthorized",
    "UnknownJob",
    "UnknownModel",
    "UnknownMonitor",
    "UnknownOutboxMessage",
    "UnknownReference",
    "UnknownRetrainJob",
    "UnknownRun",
    "UnsupportedMediaType",
    "log_detail",
]


class DriftlineError(Exception):
    """Base of every error Driftline raises on purpose."""


# --- configuration and input --------------------------------------------------------------------


class ConfigError(DriftlineError):
    """An invalid configuration or schema; ``path`` names the key, ``line`` the line if known."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.line = line


class ConfigErrors(ConfigError):
    """Every error of one configuration file, one line each (``file:line path: message``).

    One exception for the whole file, so a user fixes every typo in one pass instead of one per start.
    """

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


class InputError(DriftlineError, ValueError):
    """Malformed input data; ``field`` and ``row`` say where."""

    def __init__(self, message: str, *, field: str | None = None, row: int | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.row = row


class Problem(Protocol):
    """One located problem of a batch (``monitor.ingest.Issue``): its row, its field, what is wrong."""

    @property
    def row(self) -> int | None: ...

    @property
    def field(self) -> str | None: ...

    @property
    def message(self) -> str: ...


class BatchInvalid(InputError):
    """A batch with problems; ``issues`` lists the first ones found (in row order), ``total`` counts all.

    The message is the first problem (as ``str(issue)`` renders it, naming its row and field), so a
    one-line consumer such as the CLI still says where; the API lists every issue.
    """

    def __init__(self, issues: Sequence[Problem], total: int) -> None:
        first = issues[0]
        more = f" (and {total - 1} more problem{'s' if total > 2 else ''})" if total > 1 else ""
        super().__init__(f"{first}{more}", field=first.field, row=first.row)
        self.issues = tuple(issues)
        self.total = total


class BatchTooLarge(InputError):
    """A batch over a size limit (rows, values, decompressed bytes): the API answers 413.

    ``setting`` is the environment variable that raises the limit, ``limit`` its value.
    """

    def __init__(self, message: str, *, setting: str, limit: int) -> None:
        super().__init__(f"{message}, over the limit of {limit} ({setting})", field="body")
        self.setting = setting
        self.limit = limit


class InsufficientData(DriftlineError, ValueError):
    """Too few observations for a test; ``needed`` and ``got`` say how many."""

    def __init__(self, message: str, *, needed: int, got: int) -> None:
        super().__init__(message)
        self.needed = needed
        self.got = got


# --- names that do not exist --------------------------------------------------------------------


class NotFound(DriftlineError, LookupError):
    """The named monitor, model, run, reference, job or message does not exist (a 404 in the API)."""


class UnknownMonitor(NotFound):
    """No monitor by that name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no monitor named {name!r}")
        self.name = name


class UnknownReference(UnknownMonitor):
    """The monitor has no reference with that version; ``name`` is the monitor, ``version`` the version.

    A subclass of :class:`UnknownMonitor` for the callers that already catch that for a monitor's
    reference; its message is its own.
    """

    def __init__(self, name: str, version: int) -> None:
        # Skip UnknownMonitor's message ("no monitor named ..."), which would be wrong here.
        NotFound.__init__(self, f"monitor {name!r} has no reference version {version}")
        self.name = name
        self.version = version


class UnknownModel(NotFound):
    """No monitor watches a model by that name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no monitor watches a model named {name!r}")
        self.name = name


class UnknownRun(NotFound):
    """No run with that id."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"no run with id {run_id!r}")
        self.run_id = run_id


class NoReportableRun(UnknownRun):
    """A monitor without a run that ended ``ok`` or ``drift``: there are no results to report."""

    def __init__(self, monitor: str) -> None:
        # Skip UnknownRun's message ("no run with id ..."), which would be wrong here.
        NotFound.__init__(self, f"monitor {monitor!r} has no run with status ok or drift")
        self.run_id = ""
        self.monitor = monitor


class UnknownRetrainJob(NotFound):
    """No retraining job with that id."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"no retrain job with id {job_id!r}")
        self.job_id = job_id


#: The name this class had in ``monitor.api.errors``.
UnknownJob = UnknownRetrainJob


class UnknownOutboxMessage(NotFound):
    """No outbox message with that id."""

    def __init__(self, message_id: int) -> None:
        super().__init__(f"no outbox message with id {message_id}")
        self.message_id = message_id


# --- requests the service refuses ---------------------------------------------------------------


class FeatureDisabled(DriftlineError):
    """A feature this process was not started with (``feature`` names it), so its routes have nothing to serve.

    Not an :class:`InputError`: the request is fine, the deployment lacks the feature.
    """

    def __init__(self, feature: str, reason: str) -> None:
        super().__init__(f"{feature} is not enabled: {reason}")
        self.feature = feature


class MissingExtra(FeatureDisabled):
    """A feature whose optional dependency is not installed; ``extra`` names the extra that brings it.

    The message is one line a user can act on: ``... needs the estimate extra: pip install 'driftline[estimate]'``.
    """

    def __init__(self, feature: str, extra: str) -> None:
        DriftlineError.__init__(self, f"{feature} needs the {extra} extra: pip install 'driftline[{extra}]'")
        self.feature = feature
        self.extra = extra


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
    """A body in a Content-Type (or Content-Encoding) the endpoint does not read."""


# --- infrastructure -----------------------------------------------------------------------------


class StorageError(DriftlineError):
    """The database failed or is unreachable (wraps SQLAlchemy's and the driver's errors).

    ``str()`` is the public message: what failed (``save run 'r1' of monitor 'churn' failed``) and
    a generic reason, fit for an HTTP client or a stored run's ``error``. ``detail`` adds what only
    an operator should read (the URL with its password masked, the driver's first line): log it,
    never send or store it. Without a ``detail`` it is the message.
    """

    def __init__(self, message: str, *, detail: str | None = None) -> None:
        super().__init__(message)
        self.detail = detail or message


class DuplicateRun(StorageError):
    """A run of this monitor for this window end is already stored.

    Raised instead of writing the window twice, so a restarted or duplicated scheduler cannot
    record two verdicts for one window; ``monitor`` and ``window_end`` name the window.
    """

    def __init__(self, message: str, *, monitor: str, window_end: datetime) -> None:
        super().__init__(message)
        self.monitor = monitor
        self.window_end = window_end


class DeliveryError(DriftlineError):
    """A webhook could not be delivered; ``status_code`` is the receiver's answer (None: no answer).

    The message names the target and the failure class, never the URL (it may carry credentials).
    """

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


def log_detail(exc: BaseException) -> str:
    """What a log line should say about ``exc``: a :class:`StorageError`'s ``detail``, else its message."""
    return exc.detail if isinstance(exc, StorageError) else str(exc)
