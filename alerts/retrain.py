"""Retraining policy: which alerts start a job, and the guards (dedupe, cooldown, daily budget).

The decision is pure: given the policy, the trigger and the recent jobs of the monitor, it says
whether to trigger, and if not, why. Jobs are unique on their trigger key in storage, so the
same alert episode can never start two jobs, however often it is delivered.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from monitor.config import RetrainPolicy, parse_duration

__all__ = ["JobStatus", "Outcome", "RetrainJob", "decide"]


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


def decide(policy: RetrainPolicy | None, reason: str, now: datetime, recent: Sequence[RetrainJob]) -> Outcome:
    """Whether a trigger named ``reason`` starts a job now, given the monitor's recent jobs."""
    if policy is None or reason not in policy.on:
        return Outcome.NOT_CONFIGURED
    started = [j for j in recent if j.outcome in (Outcome.TRIGGERED, Outcome.DRY_RUN)]
    cooldown = parse_duration(policy.cooldown)
    if any(now - j.created_at < cooldown for j in started):
        return Outcome.COOLDOWN
    if sum(now - j.created_at < timedelta(days=1) for j in started) >= policy.max_per_day:
        return Outcome.BUDGET
    return Outcome.DRY_RUN if policy.dry_run else Outcome.TRIGGERED
