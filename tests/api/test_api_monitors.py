"""Monitors, runs and references: the read endpoints, run-now and reference upload."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest

from monitor.config import DriftlineConfig
from monitor.domain import FeatureResult, PerformanceRecord, Role, RunStatus
from monitor.stats.check import Status
from monitor.stats.types import ColumnType, DriftMethod
from tests.api.helpers import CSV, PARQUET, auth, encode, prediction_rows
from tests.fakes import FakeService, FakeStore, make_run

pytestmark = pytest.mark.anyio

T0 = datetime(2025, 3, 1, tzinfo=UTC)


def _seed_runs(store: FakeStore, config: DriftlineConfig, n: int = 5) -> list[str]:
    ids = []
    for i in range(n):
        run = make_run(config.monitor("churn"), window_end=T0 + timedelta(hours=i),
                       status=RunStatus.DRIFT if i == n - 1 else RunStatus.OK)
        store.save_run(run)
        ids.append(run.id)
    return ids


async def test_monitors_never_run_say_so(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/monitors")
    assert r.status_code == 200
    by_name = {m["name"]: m for m in r.json()}
    assert list(by_name) == ["churn", "churn-daily", "price"]
    assert by_name["churn"] == {"name": "churn", "model": "churn", "schedule": {"every": "15m", "cron": None},
                                "window": {"last": "1h", "rows": None}, "status": "never_run",
                                "latest_run": None, "reference_version": None}
    assert by_name["churn-daily"]["schedule"] == {"every": None, "cron": "0 3 * * *"}
    assert by_name["churn-daily"]["window"] == {"last": None, "rows": 5000}


async def test_monitors_show_the_latest_run_and_active_reference(client: httpx.AsyncClient, store: FakeStore,
                                                                 config: DriftlineConfig) -> None:
    ids = _seed_runs(store, config)
    store.add_reference("churn", b"", "h1", "upload", 10)
    store.add_reference("churn", b"", "h2", "upload", 20)
    churn = (await client.get("/v1/monitors")).json()[0]
    assert churn["status"] == "drift"
    assert churn["latest_run"]["id"] == ids[-1]
    assert churn["latest_run"]["dataset"]["drift_share"] == 0.25
    assert "features" not in churn["latest_run"]
    assert churn["reference_version"] == 2


async def test_runs_are_listed_newest_first_within_from_to_and_limit(client: httpx.AsyncClient, store: FakeStore,
                                                                     config: DriftlineConfig) -> None:
    ids = _seed_runs(store, config)
    everything = (await client.get("/v1/monitors/churn/runs")).json()
    assert [r["id"] for r in everything] == ids[::-1]
    r = await client.get("/v1/monitors/churn/runs", params={"from": "2025-03-01T01:00:00Z",
                                                            "to": "2025-03-01T05:00:00+02:00", "limit": 10})
    assert [x["id"] for x in r.json()] == [ids[2], ids[1]]  # 'to' is 03:00 UTC, exclusive
    r = await client.get("/v1/monitors/churn/runs", params={"from": "2025-03-01T01:00:00", "limit": 2})
    assert [x["id"] for x in r.json()] == [ids[4], ids[3]]


@pytest.mark.parametrize(("params", "field"), [
    ({"from": "yesterday"}, "from"),
    ({"to": "2025-13-01"}, "to"),
    ({"limit": 0}, "limit"),
    ({"limit": "many"}, "limit"),
    ({"from": "2025-03-02T00:00:00Z", "to": "2025-03-01T00:00:00Z"}, "from"),
])
async def test_bad_query_parameters_are_422_naming_them(client: httpx.AsyncClient, params: dict[str, object],
                                                        field: str) -> None:
    r = await client.get("/v1/monitors/churn/runs", params=params)
    assert r.status_code == 422
    body = r.json()
    assert body["detail"][0]["field"] == field
    assert field in body["message"]


async def test_runs_of_an_unknown_monitor_are_404(client: httpx.AsyncClient) -> None:
    for url in ("/v1/monitors/nope/runs", "/v1/monitors/nope/references"):
        r = await client.get(url)
        assert r.status_code == 404
        assert r.json() == {"detail": "no monitor named 'nope'"}


async def test_a_run_has_all_its_results(client: httpx.AsyncClient, store: FakeStore,
                                         config: DriftlineConfig) -> None:
    base = make_run(config.monitor("churn"), window_end=T0)
    feature = FeatureResult(column="age", role=Role.FEATURE, type=ColumnType.NUMERICAL, method=DriftMethod.KS, reason="auto",
                            statistic=0.31, p_value=0.001, adjusted_p_value=0.002, threshold=0.05, drifted=True,
                            status=Status.OK, n_reference=1000, n_current=500, missing_reference=0, missing_current=3,
                            missing_p_value=0.4, missing_drifted=False)
    from dataclasses import replace
    run = replace(base, features=(feature,), labelled_rows=120, label_coverage=0.24, concept_drift=False,
                  performance=(PerformanceRecord(metric="accuracy", value=0.81, reference_value=0.86,
                                                 p_value=0.03, degraded=True, lower=-0.09, upper=-0.01),),
                  concept_change_points=(T0 - timedelta(minutes=20),))
    store.save_run(run)
    r = await client.get(f"/v1/runs/{run.id}")
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == run.id and body["status"] == "ok"
    assert body["dataset"] == {"drift_share": 0.25, "drifted_features": 1, "total_features": 4,
                               "dataset_drift": False, "threshold": 0.5}
    assert body["features"][0]["column"] == "age" and body["features"][0]["p_value"] == 0.001
    assert body["features"][0]["new_categories"] == []
    assert body["performance"] == [{"metric": "accuracy", "value": 0.81, "reference_value": 0.86,
                                    "p_value": 0.03, "degraded": True, "lower": -0.09, "upper": -0.01}]
    assert (body["labelled_rows"], body["label_coverage"], body["concept_drift"]) == (120, 0.24, False)
    assert body["concept_change_points"] == ["2025-02-28T23:40:00Z"]
    assert body["window_end"] == "2025-03-01T00:00:00Z"
    assert body["duration_seconds"] == 2.0


async def test_an_unknown_run_is_404(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/runs/does-not-exist")
    assert r.status_code == 404
    assert r.json() == {"detail": "no run with id 'does-not-exist'"}


async def test_run_now_returns_the_run_and_where_to_find_it(client: httpx.AsyncClient, store: FakeStore) -> None:
    r = await client.post("/v1/monitors/churn/runs", headers=auth())
    assert r.status_code == 201
    body = r.json()
    assert body["status"] == "ok"
    assert r.headers["Location"] == f"/v1/runs/{body['run_id']}"
    assert (await client.get(r.headers["Location"])).status_code == 200
    assert store.get_run(body["run_id"]) is not None


async def test_run_now_of_an_unknown_monitor_is_404(client: httpx.AsyncClient) -> None:
    assert (await client.post("/v1/monitors/nope/runs", headers=auth())).status_code == 404


@pytest.mark.parametrize("content_type", [CSV, PARQUET])
async def test_a_reference_upload_registers_a_version(client: httpx.AsyncClient, service: FakeService,
                                                      content_type: str) -> None:
    rows = prediction_rows(20)
    for row in rows:
        del row["region"]  # a feature of the other monitor: not this one's
    r = await client.post("/v1/monitors/churn/reference", content=encode(rows, content_type),
                          headers=auth(content_type=content_type))
    assert r.status_code == 201, r.text
    body = r.json()
    assert (body["version"], body["n_rows"], body["active"], body["source"]) == (1, 20, True, "upload")
    assert len(body["content_hash"]) == 64
    monitor, frame, source = service.reference_frames[0]
    assert (monitor, source) == ("churn", "upload")
    # the monitor's columns with values; id and timestamp dropped, the absent label too
    assert list(frame.columns) == ["age", "income", "plan", "prediction", "score"]
    listed = (await client.get("/v1/monitors/churn/references")).json()
    assert [(v["version"], v["active"]) for v in listed] == [(1, True)]
    assert "profile" not in listed[0]


async def test_a_second_upload_becomes_the_active_version(client: httpx.AsyncClient) -> None:
    for n in (10, 12):
        rows = [{k: v for k, v in row.items() if k != "region"} for row in prediction_rows(n)]
        await client.post("/v1/monitors/churn/reference", json=rows, headers=auth())
    listed = (await client.get("/v1/monitors/churn/references")).json()
    assert [(v["version"], v["n_rows"], v["active"]) for v in listed] == [(1, 10, False), (2, 12, True)]
    assert (await client.get("/v1/monitors")).json()[0]["reference_version"] == 2


@pytest.mark.parametrize(("change", "row", "field"), [
    ({"region": "eu"}, 0, "region"),        # a column of another monitor of the model
    ({"plan": None}, 0, "plan"),            # a feature without any value
    ({"age": "x"}, 0, "age"),
])
async def test_a_bad_reference_is_422(client: httpx.AsyncClient, service: FakeService, change: dict[str, object],
                                      row: int, field: str) -> None:
    rows = [{k: v for k, v in r.items() if k != "region"} | change for r in prediction_rows(3)]
    r = await client.post("/v1/monitors/churn/reference", json=rows, headers=auth())
    assert r.status_code == 422
    assert (r.json()["detail"][0]["row"], r.json()["detail"][0]["field"]) == (row, field)
    assert service.reference_frames == []


async def test_an_empty_reference_is_422(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/monitors/churn/reference", json=[], headers=auth())
    assert r.status_code == 422
    assert r.json()["message"] == "the reference has no rows"


async def test_a_window_already_run_is_409(client: httpx.AsyncClient, service: FakeService,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    from monitor.errors import DuplicateRun

    async def duplicate(monitor: str) -> None:
        raise DuplicateRun("monitor 'churn' already has a run ending 2025-03-01T00:00:00+00:00",
                           monitor=monitor, window_end=T0)

    monkeypatch.setattr(service, "run_now", duplicate)
    r = await client.post("/v1/monitors/churn/runs", headers=auth())
    assert r.status_code == 409
    assert "already has a run" in r.json()["detail"]


async def test_reads_are_503_when_the_store_is_down(client: httpx.AsyncClient, store: FakeStore) -> None:
    store.fail = "sqlite3.OperationalError: disk I/O error"
    for url in ("/v1/monitors", "/v1/monitors/churn/runs", "/v1/runs/x", "/v1/monitors/churn/references"):
        r = await client.get(url)
        assert (r.status_code, r.json()) == (503, {"detail": "storage unavailable"}), url
