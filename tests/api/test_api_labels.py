"""POST /v1/models/{model}/labels: labels joined to logged predictions by id."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pandas as pd
import pytest

from tests.api.helpers import CSV, auth, encode, prediction_rows
from tests.fakes import FakeService, FakeStore

pytestmark = pytest.mark.anyio


async def test_labels_are_joined_and_unknown_ids_returned(client: httpx.AsyncClient, store: FakeStore,
                                                         service: FakeService) -> None:
    await client.post("/v1/models/churn/predictions", json=prediction_rows(3), headers=auth())
    labels = [{"prediction_id": "p-0", "label": "churned", "timestamp": "2025-03-02T00:00:00Z"},
              {"prediction_id": "p-2", "label": "stay"},
              {"prediction_id": "ghost", "label": "stay"}]
    before = datetime.now(UTC)
    r = await client.post("/v1/models/churn/labels", json=labels, headers=auth())
    assert r.status_code == 200, r.text
    assert r.json() == {"updated": 2, "unknown_ids": ["ghost"]}
    log = store.predictions("churn").set_index("prediction_id")
    assert log.loc["p-0", "label"] == "churned" and log.loc["p-2", "label"] == "stay"
    assert pd.isna(log.loc["p-1", "label"])
    frame = store.label_calls[0][1]
    assert list(frame.columns) == ["prediction_id", "label", "timestamp"]
    assert frame["timestamp"].iloc[0] == pd.Timestamp("2025-03-02T00:00:00Z")
    assert frame["timestamp"].iloc[1] >= before  # arrival time when absent
    assert service.labels == ["churn"]


async def test_labels_matching_nothing_do_not_wake_the_service(client: httpx.AsyncClient,
                                                               service: FakeService) -> None:
    r = await client.post("/v1/models/churn/labels", json=[{"prediction_id": "x", "label": "stay"}], headers=auth())
    assert r.json() == {"updated": 0, "unknown_ids": ["x"]}
    assert service.labels == []


async def test_labels_of_a_regression_model_are_numbers(client: httpx.AsyncClient, store: FakeStore) -> None:
    rows = [{"prediction_id": 1, "prediction": 250_000.0, "sqft": 80, "city": "Lyon"}]
    assert (await client.post("/v1/models/price/predictions", json=rows, headers=auth())).status_code == 200
    bad = await client.post("/v1/models/price/labels", json=[{"prediction_id": 1, "label": "high"}], headers=auth())
    assert bad.status_code == 422
    assert (bad.json()["detail"][0]["row"], bad.json()["detail"][0]["field"]) == (0, "label")
    ok = await client.post("/v1/models/price/labels", content=encode([{"prediction_id": 1, "label": 260000.5}], CSV),
                           headers=auth(content_type=CSV))
    assert ok.json() == {"updated": 1, "unknown_ids": []}
    assert store.label_calls[-1][1]["label"].tolist() == [260000.5]


@pytest.mark.parametrize(("label", "field"), [({"prediction_id": "p"}, "label"), ({"label": "x"}, "prediction_id"),
                                              ({"prediction_id": "p", "label": "x", "extra": 1}, "extra")])
async def test_bad_label_rows_are_refused_whole(client: httpx.AsyncClient, store: FakeStore,
                                                label: dict[str, object], field: str) -> None:
    rows = [{"prediction_id": "ok", "label": "stay"}, label]
    r = await client.post("/v1/models/churn/labels", json=rows, headers=auth())
    assert r.status_code == 422
    assert [(d["row"], d["field"]) for d in r.json()["detail"]] == [(1, field)]
    assert store.label_calls == []


async def test_labels_of_an_unknown_model_are_404(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/models/nope/labels", json=[{"prediction_id": "p", "label": "x"}], headers=auth())
    assert r.status_code == 404
