"""The exception hierarchy: errors carry their data as attributes and name the field, row or line.

Adapters translate library exceptions into these at the boundary, so callers (the CLI, the API)
map one small set of types to exit codes or HTTP statuses in one place.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DriftlineError",
    "InputError",
    "InsufficientData",
    "StorageError",
    "UnknownMonitor",
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
