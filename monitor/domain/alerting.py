"""The alerting nouns: rules and retraining policies as the service applies them, the events a run
raises, the outbox messages that carry them, and retraining jobs.

They live in the domain (not in ``alerts/``) because storage persists them and the run writes
them in its transaction: storage and alerts both depend on these types, never on each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

__all__ = [
    "AlertEvent",
    "AlertRule",
    "CommandAction",
    "Condition",
    "DeliveryStatus",
    "HttpAction",
    "JobStatus",
    "MessageKind",
    "OutboxMessage",
    "Outcome",
    "RetrainJob",
    "RetrainPolicy",
    "WebhookTarget",
]


class Condition(StrEnum):
    """What an in-service alert rule watches."""

    DATASET_DRIFT = "dataset_drift"
    FEATURE_DRIFT = "feature_drift"
    PERFORMANCE_BELOW = "performance_below"
    PERFORMANCE_DROP = "performance_drop"
    CONCEPT_DRIFT = "concept_drift"
    #: The estimate (CBPE, DLE) of ``metric`` is below ``floor`` while the window's labels have not
    #: all arrived (status estimated or partial); once realized, performance_below/drop and the
    #: degradation test judge the realized value.
    PERFORMANCE_ESTIMATED_BELOW = "performance_estimated_below"
    #: A multivariate method of the monitor (``multivariate:``) called drift on the joint distribution.
    MULTIVARIATE_DRIFT = "multivariate_drift"
    #: A segment value drifted (after the correction across segments x features).
    SEGMENT_DRIFT = "segment_drift"


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertRule:
    """An alert evaluated after every run: fires when its condition held in ``runs`` of the last ``of``."""

    name: str
    when: Condition
    features: tuple[str, ...] = ()
    metric: str | None = None
    floor: float | None = None
    max_drop: float | None = None
    runs: int = 1
    of: int = 1
    webhooks: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookTarget:
    """Where alert events and retraining triggers are POSTed (signed when a secret is set)."""

    name: str
    url: str = field(repr=False)  # may carry a token (${VAR} in driftline.yaml): never in a log line
    secret_env: str | None = None
    timeout: timedelta = timedelta(seconds=5)
    max_attempts: int = 8
    backoff: timedelta = timedelta(seconds=2)
    backoff_max: timedelta = timedelta(minutes=5)


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpAction:
    """Start retraining with a generic JSON POST (through the durable outbox)."""

    webhook: str


@dataclass(frozen=True, slots=True, kw_only=True)
class CommandAction:
    """Start retraining by running a local command (argv, no shell); the job id is appended."""

    argv: tuple[str, ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class RetrainPolicy:
    """Which alerts start retraining, how often at most, and how."""

    on: tuple[str, ...]
    action: HttpAction | CommandAction
    cooldown: timedelta = timedelta(hours=6)
    max_per_day: int = 3
    dry_run: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class AlertEvent:
    """One alert to deliver: its webhook payload and the key receivers deduplicate on."""

    monitor: str
    rule: str
    run_id: str
    idempotency_key: str
    webhooks: tuple[str, ...]
    payload: dict[str, Any]


class DeliveryStatus(StrEnum):
    """Where an outbox message is in its life."""

    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD_LETTER = "dead_letter"


class MessageKind(StrEnum):
    """What an outbox message carries."""

    ALERT = "alert"
    RETRAIN = "retrain"


@dataclass(frozen=True, slots=True, kw_only=True)
class OutboxMessage:
    """One POST to one webhook target; unique on (target, idempotency_key)."""

    target: str
    idempotency_key: str
    kind: MessageKind
    payload: str = field(repr=False)  # the JSON body, exactly as it will be signed and sent
    id: int | None = None
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str | None = None
    created_at: datetime | None = None
    delivered_at: datetime | None = None


class JobStatus(StrEnum):
    """pending -> triggered -> succeeded | failed; skipped when a guard held it back."""

    PENDING = "pending"
    TRIGGERED = "triggered"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    SKIPPED = "skipped"


class Outcome(StrEnum):
    """Why a trigger did or did not start retraining (the ``outcome`` metric label)."""

    TRIGGERED = "triggered"
    DRY_RUN = "dry_run"
    COOLDOWN = "cooldown"
    BUDGET = "budget"
    NOT_CONFIGURED = "not_configured"


@dataclass(frozen=True, slots=True, kw_only=True)
class RetrainJob:
    """One retraining job (or a skipped trigger, kept for the record)."""

    id: str
    monitor: str
    model: str
    trigger_key: str
    reason: str
    status: JobStatus
    outcome: Outcome
    dry_run: bool
    created_at: datetime
    triggered_at: datetime | None = None
    completed_at: datetime | None = None
    detail: str | None = None
    reference_version: int | None = None
