"""The API on the real Store (SQLite and PostgreSQL) and the real MonitorService: contracts kept end to end.

PostgreSQL is the session database of ``tests/conftest.py::postgres_url``; each test gets a schema
of its own, dropped afterwards. Without the server the PostgreSQL cases skip, and under
``CI=true`` they fail.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import numpy as np
import pandas as pd
import pytest

from monitor.config import DriftlineConfig
from monitor.domain import WindowSpec
from monitor.storage import Store
from tests.api.helpers import CSV, JSON, NDJSON, PARQUET, auth, encode, served

pytestmark = pytest.mark.anyio


@dataclass(frozen=True)
class Live:
    client: httpx.AsyncClient
    store: Store


@pytest.fixture
async def live(database_url: str, config: DriftlineConfig) -> AsyncIterator[Live]:
    """The app as ``driftline serve`` builds it (scheduler off), and the store its lifespan opened."""
    async with served(database_url, config) as (c, app):
        yield Live(client=c, store=app.state.store)


def _rows(n: int, start: datetime, rng: np.random.Generator, shift: float = 0.0) -> list[dict[str, object]]:
    return [{"prediction_id": f"p-{i}", "timestamp": (start + timedelta(seconds=i)).isoformat(),
             "age": float(rng.normal(40 + shift, 5)), "income": float(rng.normal(1000, 100)),
             "plan": str(rng.choice(["basic", "gold"])), "region": "eu",
             "prediction": str(rng.choice(["stay", "churn"])), "score": float(rng.random())} for i in range(n)]


async def test_every_format_lands_typed_and_idempotent(live: Live, config: DriftlineConfig) -> None:
    app_client = live.client
    rng = np.random.default_rng(7)
    start = datetime.now(UTC) - timedelta(minutes=30)
    rows = _rows(40, start, rng)
    rows[3]["age"] = None
    rows[5]["plan"] = 7
    for i, ct in enumerate((JSON, NDJSON, CSV, PARQUET)):
        part = rows[i * 10:(i + 1) * 10]
        r = await app_client.post("/v1/models/churn/predictions", content=encode(part, ct),
                                  headers=auth(content_type=ct))
        assert r.json() == {"accepted": 10, "duplicates": 0}, (ct, r.text)
    again = await app_client.post("/v1/models/churn/predictions", json=rows[:15], headers=auth())
    assert again.json() == {"accepted": 0, "duplicates": 15}
    labels = await app_client.post("/v1/models/churn/labels", json=[{"prediction_id": "p-1", "label": "churn"},
                                                                      {"prediction_id": "nobody", "label": "stay"}],
                                   headers=auth())
    assert labels.json() == {"updated": 1, "unknown_ids": ["nobody"]}

    window = live.store.read_window(config.monitor("churn").to_domain(), WindowSpec(end=datetime.now(UTC) + timedelta(minutes=1),
                                                                   start=start - timedelta(minutes=1)))
    assert len(window) == 40
    window = window.set_index("prediction_id")
    assert window.loc["p-0", "timestamp"] == pd.Timestamp(start)
    assert pd.isna(window.loc["p-3", "age"]) and window.loc["p-4", "age"] == pytest.approx(rows[4]["age"])
    assert window.loc["p-5", "plan"] == "7"
    assert window.loc["p-1", "label"] == "churn" and pd.isna(window.loc["p-2", "label"])


async def test_reference_run_and_results_through_the_api(live: Live) -> None:
    app_client = live.client
    rng = np.random.default_rng(11)
    reference = [{k: v for k, v in row.items() if k != "region"}
                 for row in _rows(400, datetime(2025, 1, 1, tzinfo=UTC), rng)]
    r = await app_client.post("/v1/monitors/churn/reference", content=encode(reference, PARQUET),
                              headers=auth(content_type=PARQUET))
    assert r.status_code == 201, r.text
    assert (r.json()["version"], r.json()["n_rows"]) == (1, 400)

    current = _rows(300, datetime.now(UTC) - timedelta(minutes=20), rng, shift=15.0)
    assert (await app_client.post("/v1/models/churn/predictions", json=current, headers=auth())).status_code == 200
    run = await app_client.post("/v1/monitors/churn/runs", headers=auth())
    assert run.status_code == 201, run.text
    detail = (await app_client.get(run.headers["Location"])).json()
    assert detail["status"] in ("ok", "drift") and detail["rows"] == 300 and detail["reference_version"] == 1
    drifted = {f["column"]: f["drifted"] for f in detail["features"]}
    assert drifted["age"] is True and drifted["plan"] is False

    monitors = {m["name"]: m for m in (await app_client.get("/v1/monitors")).json()}
    assert monitors["churn"]["latest_run"]["id"] == run.json()["run_id"]
    assert monitors["churn"]["reference_version"] == 1
    runs = (await app_client.get("/v1/monitors/churn/runs", params={"limit": 5})).json()
    assert [x["id"] for x in runs] == [run.json()["run_id"]]
    assert (await app_client.get("/readyz")).json() == {"status": "ready",
                                                       "checks": {"store": "ok", "store_writes": "ok",
                                                                  "scheduler": "disabled"}}
