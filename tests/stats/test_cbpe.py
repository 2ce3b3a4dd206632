"""CBPE: calibration against scikit-learn, the estimate against a loop-based re-implementation of the
paper's expected confusion matrix, realized metrics against scikit-learn, and the method's promise on
synthetic data (tracks the realized metric under covariate shift, misses under concept shift and says so).
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, precision_score, recall_score, roc_auc_score

from monitor.errors import InputError, InsufficientData
from monitor.stats.estimation.calibration import (
    CalibrationMethod,
    calibrate,
    expected_calibration_error,
    fit_calibrator,
    fit_isotonic,
    fit_platt,
)
from monitor.stats.estimation.cbpe import CbpeModel, estimate, fit_cbpe
from monitor.stats.estimation.types import EstimateStatus, WarningCode, status_of

# --- synthetic data: a fixed P(y | x), x shifting -------------------------------------------------

_BETA = np.array([1.5, -1.0])


def _binary(rng: np.random.Generator, n: int, shift: float = 0.0, beta: np.ndarray = _BETA):
    """x ~ N(shift, 1)^2, P(y=1 | x) = sigmoid(x @ beta); the model's score is that probability,
    over-confident (x1.3 on the logit) so calibration has work to do."""
    x = rng.normal(shift, 1.0, size=(n, 2))
    true_logit = x @ beta
    y = (rng.uniform(size=n) < 1 / (1 + np.exp(-true_logit))).astype(int)
    score = 1 / (1 + np.exp(-1.3 * (x @ _BETA)))
    return y, (score > 0.5).astype(int), score


def _multiclass(rng: np.random.Generator, n: int, shift: float = 0.0):
    x = rng.normal(shift, 1.0, size=(n, 2))
    logits = np.column_stack([x[:, 0], x[:, 1], -x[:, 0] - x[:, 1]]) * 1.3
    p = np.exp(logits)
    p /= p.sum(axis=1, keepdims=True)
    y = (rng.uniform(size=(n, 1)) > p.cumsum(axis=1)).sum(axis=1)
    q = np.exp(0.8 * logits)
    q /= q.sum(axis=1, keepdims=True)
    labels = np.array(["a", "b", "c"])
    return labels[y], labels[q.argmax(axis=1)], q


# --- calibration ----------------------------------------------------------------------------------


def test_isotonic_matches_scikit_learn_with_ties_and_out_of_range() -> None:
    rng = np.random.default_rng(1)
    s = np.round(rng.uniform(size=3000), 2)  # many ties
    y = (rng.uniform(size=3000) < s ** 2).astype(float)
    xs, ys = fit_isotonic(s, y)
    oracle = IsotonicRegression(out_of_bounds="clip").fit(s, y)
    probe = np.concatenate([rng.uniform(-0.2, 1.2, size=500), s[:200]])
    np.testing.assert_allclose(np.interp(probe, xs, ys), oracle.predict(probe), rtol=0, atol=1e-12)


def test_platt_matches_unpenalised_logistic_regression() -> None:
    rng = np.random.default_rng(2)
    s = rng.normal(size=4000)
    y = (rng.uniform(size=4000) < 1 / (1 + np.exp(-(2.0 * s - 0.5)))).astype(int)
    a, b = fit_platt(s, y)
    oracle = LogisticRegression(C=np.inf, tol=1e-12, max_iter=10_000).fit(s.reshape(-1, 1), y)
    assert a == pytest.approx(oracle.coef_[0, 0], rel=1e-6)
    assert b == pytest.approx(oracle.intercept_[0], rel=1e-6, abs=1e-8)


def test_calibration_is_kept_only_when_it_lowers_the_ece() -> None:
    rng = np.random.default_rng(3)
    kept = []
    for _ in range(20):  # already calibrated scores on 300 rows: calibration often overfits
        s = rng.uniform(size=300)
        c = fit_calibrator(s, rng.uniform(size=300) < s, rng=rng)
        assert c.ece_calibrated is not None and c.ece_raw is not None
        assert (c.method is CalibrationMethod.NONE) == (c.ece_calibrated >= c.ece_raw)
        kept.append(c.helps)
    assert 0 < sum(kept) < 20  # both outcomes occur
    s = rng.uniform(size=20_000)
    skewed = fit_calibrator(s, rng.uniform(size=20_000) < s ** 3)
    assert skewed.method is not CalibrationMethod.NONE and skewed.ece_calibrated < skewed.ece_raw  # type: ignore[operator]
    # The chosen method has the lower out-of-fold Brier score.
    assert (skewed.brier_isotonic <= skewed.brier_platt) == (skewed.chosen is CalibrationMethod.ISOTONIC)  # type: ignore[operator]
    logits = rng.normal(size=5000)  # not probabilities: always calibrated
    assert fit_calibrator(logits, rng.uniform(size=5000) < 1 / (1 + np.exp(-logits))).helps


def test_ece_is_nannymls_equal_count_rule() -> None:
    rng = np.random.default_rng(4)
    p = rng.uniform(size=1003)
    y = (rng.uniform(size=1003) < p).astype(float)
    order = np.argsort(p)
    ps, ys = p[order], y[order]
    edges = list(range(0, 1003 + 1, 1003 // 10))
    edges[-1] = 1003
    loop = sum((b - a) / 1003 * abs(ps[a:b].mean() - ys[a:b].mean()) for a, b in zip(edges[:-1], edges[1:], strict=True))
    assert expected_calibration_error(y, p) == pytest.approx(loop, abs=1e-12)


def test_multiclass_calibration_renormalises_rows() -> None:
    rng = np.random.default_rng(5)
    y, _, q = _multiclass(rng, 5000)
    cals = tuple(fit_calibrator(q[:, j], y == "abc"[j]) for j in range(3))
    prob = calibrate(cals, q)
    np.testing.assert_allclose(prob.sum(axis=1), 1.0, atol=1e-12)


# --- the estimate against a loop-based re-implementation of the paper -----------------------------


def _loop_metrics(prob: np.ndarray, pred: np.ndarray, score: np.ndarray, k: int, positive: int | None):
    """CBPE by the paper, one row at a time: the expected confusion matrix, metrics from it, and the
    expected ROC curve (rows by descending score, ties one step) integrated by trapezoids."""
    c = [[0.0] * k for _ in range(k)]
    for i in range(len(pred)):
        for j in range(k):
            c[j][int(pred[i])] += prob[i][j]
    n = len(pred)

    def one(j: int) -> dict[str, float]:
        tp = c[j][j]
        fp = sum(c[r][j] for r in range(k)) - tp
        fn = sum(c[j]) - tp
        tn = n - tp - fp - fn
        return {"precision": tp / (tp + fp), "recall": tp / (tp + fn), "f1": 2 * tp / (2 * tp + fp + fn),
                "specificity": tn / (tn + fp)}

    def auc(p: list[float], s: list[float]) -> float:
        rows = sorted(range(len(s)), key=lambda i: -s[i])
        tps, fps, points, i = 0.0, 0.0, [(0.0, 0.0)], 0
        while i < len(rows):
            j = i
            while j < len(rows) and s[rows[j]] == s[rows[i]]:
                tps += p[rows[j]]
                fps += 1 - p[rows[j]]
                j += 1
            points.append((fps, tps))
            i = j
        area = 0.0
        for (x0, y0), (x1, y1) in zip(points[:-1], points[1:], strict=True):
            area += (x1 - x0) / fps * (y0 + y1) / 2 / tps
        return area

    out = {"accuracy": sum(c[j][j] for j in range(k)) / n}
    classes = [positive] if positive is not None else list(range(k))
    per = [one(j) for j in classes]
    for m in ("precision", "recall", "f1", "specificity"):
        out[m] = sum(d[m] for d in per) / len(per)
    cols = [score] if positive is not None else [score[:, j] for j in range(k)]
    out["roc_auc"] = sum(auc(list(prob[:, j]), list(s)) for j, s in zip(classes, cols, strict=True)) / len(classes)
    return out


def test_binary_estimate_equals_the_loop_reimplementation() -> None:
    rng = np.random.default_rng(6)
    y, yp, s = _binary(rng, 5000)
    model = fit_cbpe(y, yp, s)
    _, wp, ws = _binary(rng, 800, shift=0.5)
    ws = np.round(ws, 3)  # ties in the ranking score
    cal = calibrate(model.calibrators, ws)
    prob = np.column_stack([1 - cal, cal])
    expected = _loop_metrics(prob, wp, ws, 2, 1)
    got = {str(e.metric): e.estimated for e in estimate(model, wp, ws)}
    assert got == pytest.approx(expected, abs=1e-9)


def test_multiclass_estimate_equals_the_loop_reimplementation() -> None:
    rng = np.random.default_rng(7)
    y, yp, q = _multiclass(rng, 6000)
    model = fit_cbpe(y, yp, q, classes=["a", "b", "c"])
    assert model.positive is None and len(model.calibrators) == 3
    _, wp, wq = _multiclass(rng, 600, shift=0.7)
    prob = calibrate(model.calibrators, wq)
    pred_idx = np.searchsorted(np.array(["a", "b", "c"]), wp)
    expected = _loop_metrics(prob, pred_idx, wq, 3, None)
    got = {str(e.metric): e.estimated for e in estimate(model, wp, wq)}
    assert got == pytest.approx(expected, abs=1e-9)


def test_realized_metrics_match_scikit_learn() -> None:
    rng = np.random.default_rng(8)
    y, yp, s = _binary(rng, 4000)
    model = fit_cbpe(y, yp, s)
    wy, wp, ws = _binary(rng, 1000, shift=0.3)
    got = {str(e.metric): e.realized for e in estimate(model, wp, ws, y_true=wy)}
    tn, fp, _, _ = confusion_matrix(wy, wp).ravel()
    assert got == pytest.approx({"accuracy": accuracy_score(wy, wp), "precision": precision_score(wy, wp),
                                 "recall": recall_score(wy, wp), "f1": f1_score(wy, wp),
                                 "specificity": tn / (tn + fp), "roc_auc": roc_auc_score(wy, ws)}, abs=1e-12)
    my, mp, mq = _multiclass(rng, 3000)
    mmodel = fit_cbpe(my, mp, mq, classes=["a", "b", "c"])
    wy, wp, wq = _multiclass(rng, 900, shift=0.4)
    got = {str(e.metric): e.realized for e in estimate(mmodel, wp, wq, y_true=wy)}
    assert got["accuracy"] == pytest.approx(accuracy_score(wy, wp), abs=1e-12)
    assert got["f1"] == pytest.approx(f1_score(wy, wp, average="macro"), abs=1e-12)
    assert got["precision"] == pytest.approx(precision_score(wy, wp, average="macro"), abs=1e-12)
    assert got["roc_auc"] == pytest.approx(roc_auc_score(wy, wq, multi_class="ovr", average="macro"), abs=1e-12)


# --- the method's promise -------------------------------------------------------------------------


def test_estimate_tracks_realized_under_covariate_shift() -> None:
    rng = np.random.default_rng(9)
    y, yp, s = _binary(rng, 50_000)
    model = fit_cbpe(y, yp, s)
    inside = total = 0
    moved = []
    for w in range(40):
        shift = -1.0 + 2.0 * w / 39  # x's mean sweeps from -1 to +1: prevalence and accuracy move
        wy, wp, ws = _binary(rng, 1000, shift=shift)
        for e in estimate(model, wp, ws, y_true=wy):
            assert e.lower is not None and e.upper is not None and e.realized is not None
            total += 1
            inside += e.lower <= e.realized <= e.upper
            if str(e.metric) == "precision":
                moved.append(e.realized)
    assert max(moved) - min(moved) > 0.1  # the shift really moves the metric
    assert inside / total >= 0.9, f"{inside} of {total} window-metrics inside the band"


def test_concept_shift_is_missed_and_flagged() -> None:
    rng = np.random.default_rng(10)
    y, yp, s = _binary(rng, 50_000)
    model = fit_cbpe(y, yp, s)
    missed = flagged = 0
    for _ in range(10):
        # P(y | x) changes (the second coefficient flips sign); the model's scores do not.
        wy, wp, ws = _binary(rng, 1000, beta=np.array([1.5, 1.0]))
        results = estimate(model, wp, ws, y_true=wy, concept_drift=True)
        acc = next(e for e in results if str(e.metric) == "accuracy")
        assert acc.realized is not None and acc.lower is not None
        missed += not acc.lower <= acc.realized <= acc.upper  # type: ignore[operator]
        codes = {w.code for w in acc.warnings}
        assert WarningCode.CONCEPT_DRIFT in codes
        flagged += WarningCode.REALIZED_OUTSIDE_BAND in codes
    assert missed == 10 and flagged == 10


# --- honesty checks, status, storage --------------------------------------------------------------


def test_missing_probabilities_and_unseen_classes_are_warned() -> None:
    rng = np.random.default_rng(11)
    y, yp, s = _binary(rng, 3000)
    model = fit_cbpe(y, yp, s)
    none = estimate(model, yp[:100], None)
    assert all(e.estimated is None and e.n_estimated == 0 for e in none)
    assert {w.code for w in none[0].warnings} >= {WarningCode.PROBABILITIES_MISSING}
    ws = s[:100].copy()
    ws[:10] = np.nan
    part = estimate(model, yp[:100], ws)
    assert part[0].n_estimated == 90 and part[0].estimated is not None
    wp = yp[:100].astype(object)
    wp[:5] = 7  # a class the reference never had: a certain error
    unseen = estimate(model, wp, s[:100])
    assert WarningCode.UNSEEN_CLASS in {w.code for w in unseen[0].warnings}
    cal = calibrate(model.calibrators, s[:100])
    known = np.where(yp[:100] == 1, cal, 1 - cal)
    assert unseen[0].estimated == pytest.approx(known[5:].sum() / 100, abs=1e-12)


def test_status_follows_label_coverage() -> None:
    assert [status_of(c) for c in (0.0, 0.2, 0.95)] == [EstimateStatus.ESTIMATED, EstimateStatus.PARTIAL,
                                                         EstimateStatus.REALIZED]
    with pytest.raises(ValueError, match="coverage"):
        status_of(1.5)
    rng = np.random.default_rng(12)
    y, yp, s = _binary(rng, 3000)
    model = fit_cbpe(y, yp, s)
    wy = y[:200].astype(object)
    wy[100:] = None
    e = estimate(model, yp[:200], s[:200], y_true=wy)[0]
    assert (e.n_labelled, e.coverage, e.status) == (100, 0.5, EstimateStatus.PARTIAL)


def test_model_round_trips_through_plain_values() -> None:
    import json

    rng = np.random.default_rng(13)
    y, yp, q = _multiclass(rng, 3000)
    model = fit_cbpe(y, yp, q, classes=["a", "b", "c"])
    again = CbpeModel.from_dict(json.loads(json.dumps(model.to_dict())))
    _, wp, wq = _multiclass(rng, 500, shift=0.5)
    assert [e.to_dict() for e in estimate(again, wp, wq)] == [e.to_dict() for e in estimate(model, wp, wq)]


def test_bad_reference_is_refused_naming_the_field() -> None:
    rng = np.random.default_rng(14)
    y, yp, s = _binary(rng, 500)
    with pytest.raises(InsufficientData):
        fit_cbpe(y[:50], yp[:50], s[:50])
    with pytest.raises(InsufficientData):
        fit_cbpe(np.ones(500, dtype=int), yp, s)
    bad = s.copy()
    bad[3] = np.nan
    with pytest.raises(InputError, match="row 3") as info:
        fit_cbpe(y, yp, bad)
    assert info.value.field == "y_score"
    with pytest.raises(InputError, match="shape"):
        fit_cbpe(y, yp, s[:-1])


def test_chunked_realized_auc_matches_scikit_learn_per_chunk() -> None:
    """The sampling table's per-chunk AUC (equal blocks, and any other grouping) against roc_auc_score."""
    from monitor.stats.estimation.cbpe import _realized_auc

    rng = np.random.default_rng(11)
    n, size = 60_000, 4_000
    score = np.round(rng.random(n), 2)  # many ties: they count half
    y = rng.random(n) < score
    k = n // size
    blocks = np.arange(n) // size
    want = np.array([roc_auc_score(y[blocks == c], score[blocks == c]) for c in range(k)])
    np.testing.assert_allclose(_realized_auc(score, y, blocks, k), want, rtol=0, atol=1e-12)
    mixed = rng.permutation(blocks)  # not contiguous: the general path
    want = np.array([roc_auc_score(y[mixed == c], score[mixed == c]) for c in range(k)])
    np.testing.assert_allclose(_realized_auc(score, y, mixed, k), want, rtol=0, atol=1e-12)
    one_class = _realized_auc(score[:10], np.zeros(10, dtype=bool))
    assert np.isnan(one_class).all()
