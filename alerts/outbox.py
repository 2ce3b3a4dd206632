"""The durable outbox's port as the deliverer sees it; the message itself is a domain noun."""

from __future__ import annotations

from datetime import datetime
from typing import Protocol

from monitor.domain import DeliveryStatus, OutboxMessage

__all__ = ["DeliveryStatus", "OutboxMessage", "OutboxPort"]


class OutboxPort(Protocol):
    """What the deliverer needs from storage."""

    def outbox_due(self, now: datetime, limit: int) -> list[OutboxMessage]: ...

    def outbox_claim(self, now: datetime, limit: int) -> list[OutboxMessage]:
        """The due messages to send now, claimed so no other replica sends them (see docs/scaling.md)."""
        ...

    def outbox_update(self, message: OutboxMessage) -> None: ...
