"""The durable outbox's message and port: what the run writes, what the deliverer reads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol

__all__ = ["DeliveryStatus", "OutboxMessage", "OutboxPort"]


class DeliveryStatus(StrEnum):
    """Where a message is in its life."""

    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD_LETTER = "dead_letter"


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxMessage:
    """One POST to one webhook target; unique on (target, idempotency_key)."""

    target: str
    idempotency_key: str
    kind: str  # "alert" or "retrain"
    payload: str  # the JSON body, exactly as it will be signed and sent
    id: int | None = None
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    created_at: datetime | None = None
    delivered_at: datetime | None = None


class OutboxPort(Protocol):
    """What the deliverer needs from storage."""

    def outbox_due(self, now: datetime, limit: int) -> list[OutboxMessage]: ...

    def outbox_update(self, message: OutboxMessage) -> None: ...
