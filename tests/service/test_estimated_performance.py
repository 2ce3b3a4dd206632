"""Estimated performance in the service (SQLite): fitted with the reference, estimated on every window
before its labels arrive, turned into the realized metric as late labels are joined, exported, and
alerted on.

The data: a calibrated binary classifier, score = P(y=1 | x) = sigmoid(2x), prediction = score > 0.5.
The reference draws x ~ N(0, 1.5); a shifted window draws x ~ N(0, 0.35) (covariate shift, the same
P(y | x)), so most rows sit near the boundary and accuracy and ROC AUC fall. The oracle for the
estimate is the realized metric on labels drawn later from the same P(y | x) (scikit-learn computes
it independently of our code), and the closed-form expected accuracy E[max(p, 1 - p)] over the window.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import accuracy_score, roc_auc_score

from alerts import AlertService
from monitor.api.schemas import RunDetail
from monitor.config import DriftlineConfig, Settings
from monitor.domain import Condition, Run, RunStatus
from monitor.run import fit_reference
from monitor.run.bundle import ReferenceBundle
from monitor.service import MonitorService
from monitor.stats.estimation.types import EstimateStatus, WarningCode
from monitor.storage import Store

pytestmark = pytest.mark.anyio

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)


class FixedClock:
    def __init__(self, now: datetime) -> None:
        self.value = now

    def now(self) -> datetime:
        return self.value


def make_config(*, alerts: bool = True, **performance: object) -> DriftlineConfig:
    return DriftlineConfig.model_validate({
        "webhooks": [{"name": "ops", "url": "http://127.0.0.1:9/hook"}],
        "monitors": [{
            "name": "fraud", "model": "fraud-v1", "every": "1h", "window": {"last": "1h"}, "min_rows": 50,
            "schema": {"numerical": ["x"], "task": "classification", "prediction": "prediction",
                       "prediction_score": "score", "target": "label"},
            "performance": {"min_labels": 20, "bucket": "10m", "label_lookback": "7d", **performance},
            "alerts": [{"name": "auc-estimated-low", "when": "performance_estimated_below", "metric": "roc_auc",
                        "floor": 0.7, "webhooks": ["ops"]}] if alerts else [],
        }]})


def rows(n: int, *, start: datetime, sd: float, seed: int, labels: bool) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(0.0, sd, n)
    p = 1.0 / (1.0 + np.exp(-2.0 * x))
    y = (rng.random(n) < p).astype(int)
    out = pd.DataFrame({
        "prediction_id": [f"s{seed}-{i}" for i in range(n)],
        "timestamp": pd.date_range(start, periods=n, freq="2s", tz="UTC"),
        "x": x, "score": p, "prediction": (p > 0.5).astype(int).astype(str),
        "label": y.astype(str),
    })
    if not labels:
        out["label"] = None
    out.attrs["truth"] = y
    return out


@pytest.fixture()
async def service(tmp_path: Path) -> AsyncIterator[tuple[MonitorService, Store, FixedClock]]:
    config = make_config()
    store = Store.from_url(f"sqlite:///{tmp_path / 'd.db'}", config)
    store.upgrade()
    clock = FixedClock(T0)
    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda request: httpx.Response(204)))
    alerts = AlertService(config, store, client, public_url="http://driftline:8000", now=clock.now)
    svc = MonitorService(Settings(scheduler=False), config, store, clock=clock, alerts=alerts)
    await svc.start()
    await svc.register_reference("fraud", rows(4000, start=T0 - timedelta(days=3), sd=1.5, seed=1, labels=True),
                                 source="test")
    yield svc, store, clock
    await svc.stop()
    await client.aclose()
    store.dispose()


async def _window(svc: MonitorService, store: Store, clock: FixedClock, hour: int, *, sd: float,
                  seed: int) -> tuple[pd.DataFrame, str]:
    end = T0 + timedelta(hours=hour)
    window = rows(1200, start=end - timedelta(minutes=50), sd=sd, seed=seed, labels=False)
    store.ingest_predictions("fraud-v1", window.drop(columns=["label"]))
    clock.value = end
    run = await svc.run_at("fraud", end)
    assert run.status.has_verdict, run.error
    return window, run.id


def _labels(window: pd.DataFrame, share: float) -> pd.DataFrame:
    n = int(len(window) * share)
    return pd.DataFrame({"prediction_id": window["prediction_id"][:n], "label": window.attrs["truth"][:n].astype(str),
                         "timestamp": pd.Timestamp(T0)})


async def test_an_unlabelled_shifted_window_is_estimated_and_becomes_realized(service) -> None:  # type: ignore[no-untyped-def]
    svc, store, clock = service
    window, run_id = await _window(svc, store, clock, 1, sd=0.35, seed=2)
    run = store.get_run(run_id)
    assert run is not None and run.performance == () and run.label_coverage == 0.0
    est = run.estimate
    assert set(est) == {"accuracy", "precision", "recall", "f1", "specificity", "roc_auc"}
    assert all(e.status is EstimateStatus.ESTIMATED and e.realized is None and e.n_labelled == 0 for e in est.values())
    assert all(e.n_rows == 1200 and e.coverage == 0.0 for e in est.values())
    # Closed-form oracle of a calibrated model: expected accuracy is the mean of max(p, 1 - p).
    p = window["score"].to_numpy()
    assert est["accuracy"].estimated == pytest.approx(np.maximum(p, 1 - p).mean(), abs=0.01)
    # The estimate fell with the covariate shift (reference accuracy is about 0.83).
    assert est["accuracy"].estimated < 0.70 and est["roc_auc"].estimated < 0.7  # type: ignore[operator]
    before = {m: (e.lower, e.upper) for m, e in est.items()}

    # Half the labels: partial, realized over the labelled half.
    store.ingest_labels("fraud-v1", _labels(window, 0.5))
    await svc.labels_arrived("fraud-v1")
    half = store.get_run(run_id)
    assert half is not None
    assert {e.status for e in half.estimates} == {EstimateStatus.PARTIAL}
    assert half.estimate["accuracy"].n_labelled == 600 and half.estimate["accuracy"].coverage == 0.5

    # All labels: realized, and the realized value (scikit-learn on the true labels) is inside the band
    # the estimate had before any label arrived.
    store.ingest_labels("fraud-v1", _labels(window, 1.0))
    await svc.labels_arrived("fraud-v1")
    done = store.get_run(run_id)
    assert done is not None
    y, pred = window.attrs["truth"], window["prediction"].astype(int).to_numpy()
    oracle = {"accuracy": accuracy_score(y, pred), "roc_auc": roc_auc_score(y, p)}
    for metric, value in oracle.items():
        e = done.estimate[metric]
        assert e.status is EstimateStatus.REALIZED and e.coverage == 1.0
        assert e.realized == pytest.approx(value, abs=1e-9)
        lower, upper = before[metric]
        assert lower is not None and upper is not None and lower <= value <= upper, (metric, lower, value, upper)
        assert e.estimated == pytest.approx(est[metric].estimated)  # the estimate itself does not move
    # The report draws estimate, band and realized on one axis, and tabulates them.
    html = await svc.report_html(run_id)
    assert html is not None and 'id="estimated-performance"' in html
    for metric in ("accuracy", "roc_auc"):
        for mark in ("est-band", "est-point", "realized-point"):
            assert f'class="{mark}" data-metric="{metric}"' in html, (mark, metric)
    assert 'data-metric="roc_auc" data-status="realized"' in html
    # The API's run detail carries them.
    body = RunDetail.from_domain(done).model_dump(mode="json")
    auc = next(e for e in body["estimates"] if e["metric"] == "roc_auc")
    assert auc["status"] == "realized" and auc["realized"] == pytest.approx(oracle["roc_auc"])


async def test_the_alert_fires_on_an_estimated_drop_only(service) -> None:  # type: ignore[no-untyped-def]
    svc, store, clock = service
    _, quiet = await _window(svc, store, clock, 1, sd=1.5, seed=3)  # like the reference: AUC about 0.9
    assert store.get_run(quiet).estimate["roc_auc"].estimated > 0.8  # type: ignore[union-attr,operator]
    assert store.outbox_messages() == []
    _, shifted = await _window(svc, store, clock, 2, sd=0.35, seed=4)
    payloads = [json.loads(m.payload) for m in store.outbox_messages()]
    assert [(p["rule"], p["run_id"]) for p in payloads] == [("auc-estimated-low", shifted)]
    payload = payloads[0]
    assert payload["condition"] == str(Condition.PERFORMANCE_ESTIMATED_BELOW)
    auc = next(e for e in payload["estimated_performance"] if e["metric"] == "roc_auc")
    assert auc["status"] == "estimated" and auc["estimated"] < 0.7


async def test_labels_that_arrive_silence_the_estimated_rule(service) -> None:  # type: ignore[no-untyped-def]
    """Once a window is realized its estimate no longer holds the rule (the realized metric's rules do)."""
    from alerts.rules import condition_holds

    svc, store, clock = service
    window, run_id = await _window(svc, store, clock, 1, sd=0.35, seed=5)
    rule = make_config().to_domain().monitor("fraud").alerts[0]
    assert condition_holds(rule, store.get_run(run_id))  # type: ignore[arg-type]
    store.ingest_labels("fraud-v1", _labels(window, 1.0))
    await svc.labels_arrived("fraud-v1")
    assert not condition_holds(rule, store.get_run(run_id))  # type: ignore[arg-type]


def test_the_cbpe_model_is_fitted_with_the_reference_and_stored_in_the_bundle() -> None:
    monitor = make_config().to_domain().monitor("fraud")
    bundle = fit_reference(monitor, rows(2000, start=T0, sd=1.5, seed=6, labels=True))
    assert bundle.cbpe is not None and bundle.cbpe.classes == ("0", "1") and bundle.cbpe.n_reference == 2000
    again = ReferenceBundle.from_bytes(bundle.to_bytes())
    assert again.cbpe is not None and again.cbpe.to_dict() == bundle.cbpe.to_dict()
    # A bundle stored before estimators (no cbpe entry) is fitted on first use, to the same model.
    old = ReferenceBundle(profile=bundle.profile, y_true=bundle.y_true, y_pred=bundle.y_pred, y_score=bundle.y_score,
                          classes=bundle.classes)
    lazy = ReferenceBundle.from_bytes(old.to_bytes())
    assert lazy.cbpe is None
    model = lazy.cbpe_model()
    assert model is not None and model.to_dict() == bundle.cbpe.to_dict() and lazy.cbpe_model() is model
    # estimate: none fits nothing.
    off = make_config(alerts=False, estimate="none").to_domain().monitor("fraud")
    assert fit_reference(off, rows(2000, start=T0, sd=1.5, seed=6, labels=True)).cbpe is None


def test_a_reference_without_scores_keeps_drift_and_estimates_nothing() -> None:
    monitor = make_config().to_domain().monitor("fraud")
    ref = rows(2000, start=T0, sd=1.5, seed=7, labels=True).drop(columns=["score"])
    bundle = fit_reference(monitor, ref)
    assert bundle.cbpe is None and bundle.cbpe_model() is None and bundle.labelled


def test_concept_drift_in_the_run_flags_every_estimate(monkeypatch: pytest.MonkeyPatch) -> None:
    evaluate_module = importlib.import_module("monitor.run.evaluate")
    real = evaluate_module.evaluate_performance
    monitor = make_config().to_domain().monitor("fraud")
    bundle = fit_reference(monitor, rows(3000, start=T0, sd=1.5, seed=8, labels=True))
    window = rows(1000, start=T0 + timedelta(days=1), sd=0.35, seed=9, labels=False)
    run = Run(id="r", monitor="fraud", model="fraud-v1", status=RunStatus.OK, window_start=None,
              window_end=T0 + timedelta(days=2), rows=0, started_at=T0, finished_at=T0)
    plain = evaluate_module.evaluate(monitor, bundle, window, run)
    assert plain.estimates and all(WarningCode.CONCEPT_DRIFT not in {w.code for w in e.warnings}
                                   for e in plain.estimates)
    monkeypatch.setattr(evaluate_module, "evaluate_performance",
                        lambda *a, **k: dataclasses.replace(real(*a, **k), concept_drift=True))
    flagged = evaluate_module.evaluate(monitor, bundle, window, run)
    assert [e.estimated for e in flagged.estimates] == [e.estimated for e in plain.estimates]
    assert all(WarningCode.CONCEPT_DRIFT in {w.code for w in e.warnings} for e in flagged.estimates)
    body = RunDetail.from_domain(dataclasses.replace(flagged, concept_drift=True)).model_dump(mode="json")
    assert "concept_drift" in {w["code"] for w in body["estimate_warnings"]}
    assert not any(e["trusted"] for e in body["estimates"])
