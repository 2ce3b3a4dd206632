"""Delivering outbox messages: signed POSTs with a timeout, exponential backoff with jitter,
and a dead-letter state after the last attempt. A failed delivery never fails a run: runs only
write to the outbox; this worker drains it, and pending messages survive a restart.

A target with a secret gets both signatures of :mod:`alerts.signing` on every attempt: the
Standard Webhooks headers (``webhook-id`` is the message's idempotency key, the same on every
attempt) and ``X-Driftline-Signature``, each with the attempt's own timestamp.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import datetime, timedelta

import httpx
import numpy as np

from alerts.outbox import OutboxPort
from alerts.signing import signed_headers, signing_key
from monitor.domain import DeliveryStatus, OutboxMessage, WebhookTarget
from monitor.errors import ConfigError, DeliveryError

__all__ = ["Deliverer", "backoff_delay"]

logger = logging.getLogger(__name__)


def backoff_delay(target: WebhookTarget, attempts: int, rng: np.random.Generator) -> timedelta:
    """Delay before the next attempt: ``backoff * 2**(attempts-1)``, capped, with full jitter in [50%, 100%]."""
    base = target.backoff.total_seconds() * 2 ** max(attempts - 1, 0)
    capped = min(base, target.backoff_max.total_seconds())
    return timedelta(seconds=capped * float(rng.uniform(0.5, 1.0)))


def _signing_keys(targets: Mapping[str, WebhookTarget]) -> dict[str, bytes]:
    """The HMAC key of every target whose ``secret_env`` variable is set and non-empty.

    A malformed ``whsec_`` secret is a :class:`ConfigError` naming the target and the variable
    (never the value), raised when the service starts rather than at the first delivery.
    """
    keys = {}
    for name, target in targets.items():
        secret = os.environ.get(target.secret_env) if target.secret_env else None
        if not secret:
            continue
        try:
            keys[name] = signing_key(secret)
        except ValueError as exc:
            raise ConfigError(f"webhook target {name!r}: the secret in ${target.secret_env}: {exc}",
                              path=f"webhooks.{name}.secret_env") from None
    return keys


class Deliverer:
    """Drains the outbox: one pass delivers every due message once."""

    def __init__(self, outbox: OutboxPort, client: httpx.AsyncClient, targets: Mapping[str, WebhookTarget], *,
                 now: Callable[[], datetime], rng: np.random.Generator | None = None,
                 on_outcome: Callable[[str, str], None] | None = None, claim_for: timedelta | None = None) -> None:
        self._outbox = outbox
        # How long the outbox keeps the messages of one pass claimed for this replica (N replicas on
        # PostgreSQL, docs/scaling.md); None: no claim (one process).
        self._claim_for = claim_for
        self._client = client
        self._targets = targets
        # Each target's signing key, read from its environment variable once, here (the
        # deployment's environment is fixed for the process), never per delivery or into a log.
        self._keys = _signing_keys(targets)
        self._now = now
        self._rng = rng or np.random.default_rng()
        self._on_outcome = on_outcome or (lambda target, outcome: None)

    async def deliver_due(self, limit: int = 100) -> int:
        """Try every due message once; return how many were delivered."""
        claimed_at = self._now()
        due = await asyncio.to_thread(self._outbox.outbox_claim, claimed_at, limit)
        delivered = 0
        for i, message in enumerate(due):
            target = self._targets.get(message.target)
            timeout = target.timeout if target is not None else timedelta(0)
            if i and self._claim_for is not None and self._now() + timeout >= claimed_at + self._claim_for:
                # The claim could end before this POST does: leave the rest to the next pass (they
                # are due again when the claim ends, to whichever replica claims them first). The
                # first message is always tried, so a claim shorter than a timeout still progresses.
                break
            updated = await self._attempt(message)
            await asyncio.to_thread(self._outbox.outbox_update, updated)
            self._on_outcome(message.target, "delivered" if updated.status is DeliveryStatus.DELIVERED
                             else "dead_letter" if updated.status is DeliveryStatus.DEAD_LETTER else "failed")
            delivered += updated.status is DeliveryStatus.DELIVERED
        return delivered

    async def _post(self, target: WebhookTarget, body: bytes, headers: dict[str, str]) -> None:
        """POST once; anything but a 2xx is a :class:`DeliveryError` (httpx's errors never escape).

        ``httpx.InvalidURL`` (a configured URL such as ``http://[::1/``) is not an ``HTTPError``:
        left to escape, it would abort the whole pass and hold back every message behind it.
        """
        try:
            response = await self._client.post(target.url, content=body, headers=headers,
                                               timeout=target.timeout.total_seconds())
        except (httpx.HTTPError, httpx.InvalidURL) as exc:
            raise DeliveryError(type(exc).__name__) from exc  # never the URL (it may carry credentials)
        if not 200 <= response.status_code < 300:
            raise DeliveryError(f"HTTP {response.status_code}", status_code=response.status_code)

    async def _attempt(self, message: OutboxMessage) -> OutboxMessage:
        target = self._targets.get(message.target)
        attempts = message.attempts + 1
        if target is None:
            return replace(message, attempts=attempts, status=DeliveryStatus.DEAD_LETTER,
                           last_error=f"webhook target {message.target!r} is no longer configured")
        body = message.payload.encode()
        now = self._now()
        headers = {"Content-Type": "application/json", "Idempotency-Key": message.idempotency_key,
                   "User-Agent": "driftline"}
        key = self._keys.get(message.target)
        if key:
            headers.update(signed_headers(key, message.idempotency_key, int(now.timestamp()), body))
        try:
            await self._post(target, body, headers)
            return replace(message, attempts=attempts, status=DeliveryStatus.DELIVERED, delivered_at=now,
                           last_error=None)
        except DeliveryError as exc:
            error = str(exc)
        if attempts >= target.max_attempts:
            logger.error("delivery %s to %s dead-lettered after %d attempts: %s", message.idempotency_key,
                         message.target, attempts, error)
            return replace(message, attempts=attempts, status=DeliveryStatus.DEAD_LETTER, last_error=error)
        return replace(message, attempts=attempts, last_error=error,
                       next_attempt_at=now + backoff_delay(target, attempts, self._rng))
