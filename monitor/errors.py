"""The exception hierarchy: errors carry their data as attributes and name the field, row or line.

Adapters translate library exceptions into these at the boundary, so callers (the CLI, the API)
map one small set of types to exit codes or HTTP statuses in one place.
"""

from __future__ import annotations

from datetime import datetime

__all__ = [
    "ConfigError",
    "DriftlineError",
    "DuplicateRun",
    "InputError",
    "InsufficientData",
    "StorageError",
    "UnknownMonitor",
    "UnknownReference",
]


class DriftlineError(Exception):
    """Base of every error Driftline raises on purpose."""


class ConfigError(DriftlineError):
    """An invalid configuration or schema; ``path`` names the key, ``line`` the line if known."""

    def __init__(self, message: str, *, path: str | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.line = line


class InputError(DriftlineError, ValueError):
    """Malformed input data; ``field`` and ``row`` say where."""

    def __init__(self, message: str, *, field: str | None = None, row: int | None = None) -> None:
        super().__init__(message)
        self.field = field
        self.row = row


class InsufficientData(DriftlineError, ValueError):
    """Too few observations for a test; ``needed`` and ``got`` say how many."""

    def __init__(self, message: str, *, needed: int, got: int) -> None:
        super().__init__(message)
        self.needed = needed
        self.got = got


class UnknownMonitor(DriftlineError, LookupError):
    """No monitor by that name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"no monitor named {name!r}")
        self.name = name


class StorageError(DriftlineError):
    """The database failed or is unreachable (wraps SQLAlchemy's error)."""


class DuplicateRun(StorageError):
    """A run of this monitor for this window end is already stored.

    Raised instead of writing the window twice, so a restarted or duplicated scheduler cannot
    record two verdicts for one window; ``monitor`` and ``window_end`` name the window.
    """

    def __init__(self, message: str, *, monitor: str, window_end: datetime) -> None:
        super().__init__(message)
        self.monitor = monitor
        self.window_end = window_end


class UnknownReference(UnknownMonitor):
    """The monitor has no reference with that version.

    A subclass of :class:`UnknownMonitor` so the API's one mapping of unknown names (404)
    covers it too; ``name`` is the monitor, ``version`` the missing version.
    """

    def __init__(self, name: str, version: int) -> None:
        # Skip UnknownMonitor's message ("no monitor named ..."), which would be wrong here.
        DriftlineError.__init__(self, f"monitor {name!r} has no reference version {version}")
        self.name = name
        self.version = version
