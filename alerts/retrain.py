"""Retraining policy: which alerts start a job, and the guards (dedupe, cooldown, daily budget).

The decision is pure: given the policy, the trigger and the recent jobs of the monitor, it says
whether to trigger, and if not, why. Jobs are unique on their trigger key in storage, so the
same alert episode can never start two jobs, however often it is delivered.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from monitor.domain import JobStatus, Outcome, RetrainJob, RetrainPolicy

__all__ = ["JobStatus", "Outcome", "RetrainJob", "decide"]


def decide(policy: RetrainPolicy | None, reason: str, now: datetime, recent: Sequence[RetrainJob]) -> Outcome:
    """Whether a trigger named ``reason`` starts a job now, given the monitor's recent jobs."""
    if policy is None or reason not in policy.on:
        return Outcome.NOT_CONFIGURED
    started = [j for j in recent if j.outcome in (Outcome.TRIGGERED, Outcome.DRY_RUN)]
    if any(now - j.created_at < policy.cooldown for j in started):
        return Outcome.COOLDOWN
    if sum(now - j.created_at < timedelta(days=1) for j in started) >= policy.max_per_day:
        return Outcome.BUDGET
    return Outcome.DRY_RUN if policy.dry_run else Outcome.TRIGGERED
