"""Shared test configuration: hypothesis profiles (`dev` locally, `ci` under CI=true)."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings

os.environ.setdefault("DO_NOT_TRACK", "1")  # Evidently's telemetry, before anything imports it

settings.register_profile("dev", max_examples=60, deadline=None)
settings.register_profile(
    "ci", max_examples=200, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile("ci" if os.environ.get("CI") == "true" else "dev")
