"""Every alert names what drove it: features ranked by effect size, the drifted segments, the
multivariate tests' top features, and the link to the run's report."""

from __future__ import annotations

import dataclasses
import json

import numpy as np

from alerts.rules import evaluate_rules
from alerts.service import AlertService
from monitor.config import DriftlineConfig
from monitor.domain import FeatureResult, Monitor, Role, RunStatus
from monitor.run import evaluate, fit_reference
from monitor.stats.check import Status
from monitor.stats.multivariate.types import FeatureScore, MultivariateMethod, MultivariateResult
from monitor.stats.types import ColumnType, DriftMethod, Rule
from tests.run.test_segments import blank, population

URL = "https://driftline.example.org/"


def monitor() -> Monitor:
    return DriftlineConfig.model_validate({
        "webhooks": [{"name": "ops", "url": "https://hooks.example.org/x"}],
        "monitors": [{
            "name": "churn", "model": "churn-v3", "every": "1h", "min_rows": 30,
            "schema": {"numerical": ["age", "income", "tenure"], "categorical": ["country", "device"], "target": None},
            "segments": ["country"], "segment_min_rows": 100,
            "alerts": [{"name": "segments", "when": "segment_drift", "webhooks": ["ops"]},
                       {"name": "dataset", "when": "dataset_drift", "webhooks": ["ops"]}]}]}).to_domain().monitors[0]


def test_a_segment_drift_diluted_in_the_window_fires_and_is_named_in_the_payload() -> None:
    m = monitor()
    rng = np.random.default_rng(3)
    run = evaluate(m, fit_reference(m, population(20_000, rng)), population(6_000, rng, shift="c3"), blank(m))
    assert run.dataset is not None and not run.dataset.dataset_drift
    events = evaluate_rules(m, run, [], URL)
    assert [e.rule for e in events] == ["segments"]  # the whole-window rule stays quiet
    payload = events[0].payload
    loc = payload["localisation"]
    assert [(s["segment"], s["value"]) for s in loc["segments"]] == [("country", "c3")]
    assert loc["segments"][0]["features"] == ["age"]
    assert "country=c3" in loc["summary"]
    assert payload["report_url"] == f"https://driftline.example.org/v1/runs/{run.id}/report"
    assert payload["segments"]["counts"][0] == {"segment": "country", "tested": 10, "drifted": 1, "new": 0, "gone": 0,
                                                "small": 0}
    # The outbox carries it as JSON (what the receiver gets).
    body = json.loads(AlertService.messages(events)[0].payload)
    assert body["localisation"]["segments"][0]["value"] == "c3"


def _feature(name: str, *, effect: float, floor: float, drifted: bool = True) -> FeatureResult:
    return FeatureResult(column=name, role=Role.FEATURE, type=ColumnType.NUMERICAL, method=DriftMethod.KS, reason="",
                         statistic=effect, p_value=1e-9, adjusted_p_value=None, threshold=0.05, drifted=drifted,
                         status=Status.OK, n_reference=1000, n_current=1000, missing_reference=0, missing_current=0,
                         missing_p_value=None, missing_drifted=False, effect=effect, effect_floor=floor, alpha=0.05,
                         rule=Rule.CALIBRATED)


def test_features_are_ranked_by_effect_size_and_the_classifier_top_features_are_named() -> None:
    m = dataclasses.replace(monitor(), segments=())
    # KS distance 0.2 over a floor of 0.05 (4x) outranks a total variation of 0.3 over 0.1 (3x); p-values tie.
    features = (_feature("a", effect=0.3, floor=0.1), _feature("b", effect=0.2, floor=0.05),
                _feature("c", effect=0.9, floor=0.05, drifted=False), _feature("d", effect=0.06, floor=0.05))
    mv = MultivariateResult(method=MultivariateMethod.DOMAIN_CLASSIFIER, statistic=0.71, threshold=0.55, p_value=1e-6,
                            drifted=True, top_features=(FeatureScore(feature="b", score=0.2),
                                                        FeatureScore(feature="a", score=0.05)))
    run = dataclasses.replace(blank(m), status=RunStatus.DRIFT, features=features, multivariate=(mv,))
    rule = dataclasses.replace(m.alerts[0], name="any", when=m.alerts[0].when.FEATURE_DRIFT)
    payload = evaluate_rules(dataclasses.replace(m, alerts=(rule,)), run, [], URL)[0].payload
    loc = payload["localisation"]
    assert [f["feature"] for f in loc["features"]] == ["b", "a", "d"]
    assert [round(f["effect_ratio"], 6) for f in loc["features"]] == [4.0, 3.0, 1.2]
    assert loc["multivariate"][0]["method"] == "domain_classifier"
    assert [t["feature"] for t in loc["multivariate"][0]["top_features"]] == ["b", "a"]
    assert loc["segments"] == [] and payload["segments"] is None
