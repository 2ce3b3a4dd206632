"""Segment series on the served ``/metrics``: 1,000 values of a segment column, bounded as docs/metrics.md says.

End to end on the real Store (SQLite and PostgreSQL) and app: the reference uploaded and the
window ingested through the API, the run made through the API, then ``GET /metrics`` parsed
with prometheus_client's own parser. The exporter-level test (tests/exporters/
test_segment_series.py) checks the renderer; this one checks what a Prometheus scrape gets.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import numpy as np
import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

from monitor.config import DriftlineConfig
from tests.api.helpers import PARQUET, auth, served

pytestmark = pytest.mark.anyio

VALUES = 1000
TOP_K = 4
FAMILIES = ("driftline_segment_drift_share", "driftline_segment_drift_detected")


@pytest.fixture
def config() -> DriftlineConfig:
    return DriftlineConfig.model_validate({"monitors": [{
        "name": "shop", "model": "shop", "every": "1h", "window": {"last": "1h"}, "min_rows": 30,
        "schema": {"numerical": ["x"], "categorical": ["country"], "target": None},
        "segments": ["country"], "segment_min_rows": 20, "segment_top_k": TOP_K}]})


@pytest.fixture
async def client(database_url: str, config: DriftlineConfig) -> AsyncIterator[httpx.AsyncClient]:
    async with served(database_url, config) as (c, _):
        yield c


def rows(per_value: int, rng: np.random.Generator, start: datetime, drifting: set[str] = frozenset()) -> bytes:
    n = VALUES * per_value
    country = np.repeat([f"c{i:04d}" for i in range(VALUES)], per_value)
    frame = pd.DataFrame({"prediction_id": [f"p{i}" for i in range(n)],
                          "timestamp": pd.date_range(start, periods=n, freq="100ms", tz="UTC"),
                          "x": rng.normal(0.0, 1.0, n), "country": country, "prediction": rng.choice(["a", "b"], n)})
    frame.loc[frame["country"].isin(drifting), "x"] += 3.0
    return frame.to_parquet(index=False)


async def test_a_thousand_segment_values_give_top_k_plus_other_series_on_metrics(client: httpx.AsyncClient) -> None:
    rng = np.random.default_rng(3)
    reference = rows(40, rng, datetime(2025, 1, 1, tzinfo=UTC))
    r = await client.post("/v1/monitors/shop/reference", content=reference, headers=auth(content_type=PARQUET))
    assert r.status_code == 201, r.text
    drifting = {f"c{i:04d}" for i in range(0, VALUES, 100)}  # 10 drifting values: more than TOP_K
    current = rows(30, rng, datetime.now(UTC) - timedelta(minutes=55), drifting)
    r = await client.post("/v1/models/shop/predictions", content=current, headers=auth(content_type=PARQUET))
    assert r.status_code == 200 and r.json()["accepted"] == VALUES * 30, r.text
    run = await client.post("/v1/monitors/shop/runs", headers=auth())
    assert run.status_code == 201, run.text

    scrape = await client.get("/metrics")
    assert scrape.status_code == 200
    samples: dict[str, list[dict[str, str]]] = {f: [] for f in FAMILIES}
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(scrape.text):
        for s in family.samples:
            if s.name in samples:
                samples[s.name].append(s.labels)
                if s.name == "driftline_segment_drift_detected":
                    values[s.labels["value"]] = s.value
    for family in FAMILIES:
        seen = [labels["value"] for labels in samples[family]]
        assert len(seen) == TOP_K + 1, (family, len(seen))  # the documented bound: segment_top_k + 1 per segment
        assert len(set(seen)) == len(seen) and "other" in seen
        assert all(labels["segment"] == "country" and labels["monitor"] == "shop" for labels in samples[family])
    assert {v for v in values if v != "other"} <= drifting  # the top K are drifting values
    assert values["other"] == 1.0  # more values drifted than the top K: the aggregate says so
    # Every series of the scrape, not just the segment families, stays far below one per value.
    assert sum(1 for line in scrape.text.splitlines() if line.startswith("driftline_segment")) == 2 * (TOP_K + 1)
