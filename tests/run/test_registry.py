"""The reference registry: one blob read per version, a bounded cache, content stored once."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from monitor.config import DriftlineConfig
from monitor.domain import ReferenceRecord
from monitor.errors import InputError
from monitor.run import ReferenceRegistry
from tests.fakes import FakeStore

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def config() -> DriftlineConfig:
    return DriftlineConfig.model_validate({"monitors": [{
        "name": "churn", "model": "churn-v3", "every": "1h",
        "schema": {"numerical": ["age"], "categorical": ["plan"], "target": None}}]})


def frame(seed: int, n: int = 200) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"prediction_id": [f"p{i}" for i in range(n)],
                         "timestamp": pd.date_range(T0, periods=n, freq="1min", tz="UTC") - timedelta(days=1),
                         "age": rng.normal(40, 10, n), "plan": rng.choice(["a", "b"], n),
                         "prediction": rng.choice(["0", "1"], n)})


class CountingStore(FakeStore):
    """The fake store, counting how often a profile blob is read."""

    blobs_read = 0

    def active_reference(self, monitor: str) -> ReferenceRecord | None:
        self.blobs_read += 1
        return super().active_reference(monitor)

    def reference(self, monitor: str, version: int) -> ReferenceRecord | None:
        self.blobs_read += 1
        return super().reference(monitor, version)


def test_a_cached_fit_costs_no_blob_read_and_the_cache_is_bounded() -> None:
    cfg = config()
    monitor = cfg.to_domain().monitor("churn")
    store = CountingStore(cfg)
    registry = ReferenceRegistry(store, cache_size=2)
    with pytest.raises(InputError, match="no active reference"):
        registry.active(monitor)
    for seed in range(4):
        registry.register(monitor, frame(seed), source=f"test {seed}")
    assert registry.cached == 2  # four versions fitted, two kept
    store.blobs_read = 0
    for _ in range(5):
        version, _bundle = registry.active(monitor)
    assert version == 4 and store.blobs_read == 0  # v4 was just fitted: in the cache
    assert registry.version("churn", 1) is not None and store.blobs_read == 1  # evicted: read once
    assert registry.version("churn", 1) is not None and store.blobs_read == 1  # then cached
    assert registry.version("churn", 9) is None


def test_the_same_content_is_stored_once() -> None:
    cfg = config()
    monitor = cfg.to_domain().monitor("churn")
    store = FakeStore(cfg)
    registry = ReferenceRegistry(store)
    first = registry.register(monitor, frame(1), source="a")
    again = registry.register(monitor, frame(1), source="b")
    assert again == dataclasses.replace(first, profile=b"")  # the active version, listed without its blob
    assert registry.register_once(monitor, frame(1), source="c") is None
    registry.register(monitor, frame(2), source="d")
    assert registry.register_once(monitor, frame(1), source="e") is None  # known content is not re-activated
    assert [r.version for r in store.references("churn")] == [1, 2]
