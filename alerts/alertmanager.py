"""Alertmanager's webhook payload (version 4), validated strictly enough to refuse garbage.

Alertmanager delivers at least once: it retries failed posts and repeats firing alerts every
``repeat_interval``. ``(fingerprint, startsAt)`` identifies one firing episode of one alert, so
the receiver stores notifications under that key and starts at most one job per episode.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["AlertmanagerAlert", "AlertmanagerPayload"]


class AlertmanagerAlert(BaseModel):
    """One alert of a notification."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime | None = Field(None, alias="endsAt")
    generator_url: str = Field("", alias="generatorURL")
    fingerprint: str = Field(min_length=1)

    @property
    def alertname(self) -> str:
        """The alert rule's name (``alertname`` label)."""
        return self.labels.get("alertname", "")

    @property
    def key(self) -> str:
        """The episode key receivers deduplicate on."""
        return f"{self.fingerprint}@{self.starts_at.isoformat()}"


class AlertmanagerPayload(BaseModel):
    """A whole version-4 notification."""

    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    version: Literal["4"]
    status: Literal["firing", "resolved"]
    receiver: str
    alerts: list[AlertmanagerAlert] = Field(min_length=1)
    group_key: str = Field("", alias="groupKey")
    external_url: str = Field("", alias="externalURL")
