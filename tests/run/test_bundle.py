"""The fitted reference's compact labels: codes give scikit-learn's metrics, old blobs still load."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as skm

from monitor.config import DriftlineConfig
from monitor.domain import Monitor
from monitor.errors import InputError
from monitor.run import ReferenceBundle, evaluate_performance, fit_reference
from monitor.stats.profile import profile_to_bytes

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def monitor(score: bool = True) -> Monitor:
    schema: dict[str, object] = {"numerical": ["x"], "target": "label"}
    if score:
        schema["prediction_score"] = "score"
    return DriftlineConfig.model_validate({"monitors": [{
        "name": "m", "model": "m", "every": "1h", "schema": schema}]}).to_domain().monitor("m")


def frame(seed: int, n: int, labels: tuple[str, str] = ("no", "yes"), unlabelled: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n)
    p = 1.0 / (1.0 + np.exp(-2.0 * x))
    y = np.where(rng.random(n) < p, labels[1], labels[0]).astype(object)
    y[rng.random(n) < unlabelled] = None
    return pd.DataFrame({"prediction_id": [f"p{seed}-{i}" for i in range(n)],
                         "timestamp": pd.date_range(T0, periods=n, freq="10s", tz="UTC"),
                         "x": x, "score": p, "prediction": np.where(p > 0.5, labels[1], labels[0]), "label": y})


def test_reference_metrics_from_codes_equal_scikit_learns_on_the_labels() -> None:
    # "yes" > "no": the positive label is the larger one, on codes as on text.
    ref = frame(1, 3000, unlabelled=0.2)
    bundle = ReferenceBundle.from_bytes(fit_reference(monitor(), ref).to_bytes())
    assert bundle.classes is not None and bundle.classes.tolist() == ["no", "yes"]
    assert bundle.y_true is not None and bundle.y_true.dtype == np.int32
    labelled = ref[ref["label"].notna()]
    assert bundle.y_true.size == len(labelled)  # unlabelled rows are not kept
    outcome = evaluate_performance(monitor(), bundle, frame(2, 2000))
    got = {r.metric: r.reference_value for r in outcome.records}
    y, pred = labelled["label"].astype(str), labelled["prediction"].astype(str)
    assert got["accuracy"] == pytest.approx(skm.accuracy_score(y, pred), abs=1e-12)
    assert got["precision"] == pytest.approx(skm.precision_score(y, pred, pos_label="yes"), abs=1e-12)
    assert got["recall"] == pytest.approx(skm.recall_score(y, pred, pos_label="yes"), abs=1e-12)
    assert got["roc_auc"] == pytest.approx(skm.roc_auc_score(y == "yes", labelled["score"]), abs=1e-12)


def test_window_labels_unseen_in_the_reference_are_coded_into_the_union() -> None:
    ref = frame(3, 2000, labels=("a", "c"))
    cur = frame(4, 2000, labels=("a", "b"))  # "b" sorts between the reference's two labels
    outcome = evaluate_performance(monitor(score=False), fit_reference(monitor(score=False), ref), cur)
    got = {r.metric: (r.value, r.reference_value) for r in outcome.records}
    y, pred = cur["label"].astype(str), cur["prediction"].astype(str)
    assert got["accuracy"][0] == pytest.approx(skm.accuracy_score(y, pred), abs=1e-12)
    assert got["recall"][0] == pytest.approx(skm.recall_score(y, pred, pos_label="b"), abs=1e-12)
    assert got["accuracy"][1] == pytest.approx(skm.accuracy_score(ref["label"], ref["prediction"]), abs=1e-12)


def test_a_bundle_written_with_text_labels_still_loads() -> None:
    # The form before label codes: fixed-width strings, "None" for a missing truth, every row kept.
    ref = frame(5, 1000, unlabelled=0.1)
    profile = fit_reference(monitor(), ref).profile
    buffer = io.BytesIO()
    np.savez(buffer, allow_pickle=False, profile=np.frombuffer(profile_to_bytes(profile), dtype=np.uint8),
             y_true=np.asarray([None if pd.isna(v) else str(v) for v in ref["label"]], dtype=np.str_),
             y_pred=np.asarray(ref["prediction"].to_numpy(), dtype=np.str_), y_score=ref["score"].to_numpy())
    bundle = ReferenceBundle.from_bytes(buffer.getvalue())
    labelled = ref[ref["label"].notna()]
    assert bundle.y_true is not None and bundle.y_true.size == len(labelled)
    outcome = evaluate_performance(monitor(), bundle, frame(6, 500))
    accuracy = next(r for r in outcome.records if r.metric == "accuracy")
    assert accuracy.reference_value == pytest.approx(skm.accuracy_score(labelled["label"], labelled["prediction"]))


def test_a_labelled_reference_row_without_a_prediction_is_refused_at_fit() -> None:
    ref = frame(7, 300)
    ref.loc[17, "prediction"] = None
    with pytest.raises(InputError, match="row 17"):
        fit_reference(monitor(), ref)


def test_the_reference_metrics_are_computed_once_per_bundle(monkeypatch: pytest.MonkeyPatch) -> None:
    import monitor.run.bundle as bundle_module

    calls = []
    real = bundle_module.classification_metrics
    monkeypatch.setattr(bundle_module, "classification_metrics", lambda *a, **k: calls.append(1) or real(*a, **k))
    bundle = fit_reference(monitor(), frame(8, 1000))
    for seed in range(3):
        evaluate_performance(monitor(), bundle, frame(9 + seed, 500).assign(
            timestamp=lambda f: f["timestamp"] + timedelta(days=1)))
    assert len(calls) == 1
