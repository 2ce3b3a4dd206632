"""A stored reference version of a monitor."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

__all__ = ["ReferenceRecord"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ReferenceRecord:
    """A stored reference version of a monitor (the fitted profile as ``.npz`` bytes).

    ``profile`` is empty when the record was listed without its blob (listings never need it).
    """

    monitor: str
    version: int
    content_hash: str
    created_at: datetime
    source: str
    n_rows: int
    active: bool
    profile: bytes = field(default=b"", repr=False)
    #: Hash of the input this version was fitted from (a configured file and the monitor's
    #: schema), so a restart need not refit an unchanged file; ``None`` for uploads.
    input_hash: str | None = None
