"""Performance metrics and the degradation test: scikit-learn and SciPy as oracles, properties.

scikit-learn is imported here only, as the oracle; ``monitor.stats.performance`` never uses it.
Our undefined metrics are ``None`` where scikit-learn (with ``zero_division=np.nan``) gives NaN.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy import stats
from sklearn import metrics as skm

from monitor.errors import InputError, InsufficientData
from monitor.stats.performance import (
    LabelledSample,
    Metric,
    PerformanceResult,
    Task,
    classification_metrics,
    performance_degradation,
    regression_metrics,
)

REL = 1e-9
SEEDS = [0, 1, 2, 3, 4]


def _nan_to_none(value: float) -> float | None:
    return None if math.isnan(value) else float(value)


def _assert_metric(result: PerformanceResult, metric: Metric, expected: float | None) -> None:
    got = result.metrics[metric]
    if expected is None:
        assert got is None, f"{metric}: expected None, got {got}"
        assert metric in result.reasons
    else:
        assert got == pytest.approx(expected, rel=REL, abs=1e-15), metric


def _binary_data(seed: int, labels: tuple[Any, Any], n: int = 400) -> tuple[NDArray[Any], ...]:
    rng = np.random.default_rng(seed)
    pos = rng.random(n) < 0.3
    # Scores rounded to one decimal: many ties, which the rank-based AUC must average.
    raw = np.where(pos, rng.normal(0.65, 0.2, n), rng.normal(0.4, 0.2, n))
    score = np.clip(np.round(raw, 1), 0.0, 1.0)
    pred = score >= 0.5
    lab = np.asarray(labels, dtype=object if isinstance(labels[0], str) else None)
    return lab[pos.astype(int)], lab[pred.astype(int)], score


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("labels", [(0, 1), (False, True), ("no", "yes")],
                         ids=["int", "bool", "str"])
def test_binary_metrics_equal_sklearn(seed: int, labels: tuple[Any, Any]) -> None:
    y_true, y_pred, score = _binary_data(seed, labels)
    pos = labels[1]
    r = classification_metrics(y_true, y_pred, score)
    assert r.task is Task.CLASSIFICATION and r.n_rows == r.n_labelled == y_true.size
    kw: dict[str, Any] = {"pos_label": pos, "zero_division": np.nan}
    _assert_metric(r, Metric.ACCURACY, skm.accuracy_score(y_true, y_pred))
    _assert_metric(r, Metric.PRECISION, _nan_to_none(skm.precision_score(y_true, y_pred, **kw)))
    _assert_metric(r, Metric.RECALL, _nan_to_none(skm.recall_score(y_true, y_pred, **kw)))
    _assert_metric(r, Metric.F1, _nan_to_none(skm.f1_score(y_true, y_pred, **kw)))
    _assert_metric(r, Metric.ROC_AUC, skm.roc_auc_score(y_true == pos, score))
    _assert_metric(r, Metric.LOG_LOSS, skm.log_loss(y_true == pos, score, labels=[False, True]))


def test_log_loss_clips_certain_wrong_predictions_like_sklearn() -> None:
    y_true, score = np.array([0, 1, 1, 0]), np.array([0.0, 1.0, 0.0, 0.3])
    r = classification_metrics(y_true, (score >= 0.5).astype(int), score)
    _assert_metric(r, Metric.LOG_LOSS, skm.log_loss(y_true, score))


def _multiclass_data(seed: int, classes: list[Any], n: int = 500) -> tuple[NDArray[Any], ...]:
    rng = np.random.default_rng(seed)
    k = len(classes)
    truth = rng.integers(0, k, n)
    # Rows drawn from a few fixed probability vectors: exact ties within every column.
    palette = rng.dirichlet(np.ones(k), size=6)
    palette[:, :] = palette / palette.sum(axis=1, keepdims=True)
    proba = palette[rng.integers(0, 6, n)]
    informative = rng.random(n) < 0.6
    proba[informative] = 0.5 * proba[informative] + 0.5 * np.eye(k)[truth[informative]]
    pred = proba.argmax(axis=1)
    lab = np.asarray(classes, dtype=object if isinstance(classes[0], str) else None)
    return lab[truth], lab[pred], proba


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("classes", [[0, 1, 2, 3], ["ant", "bee", "cat"]], ids=["int4", "str3"])
def test_multiclass_macro_metrics_equal_sklearn(seed: int, classes: list[Any]) -> None:
    y_true, y_pred, proba = _multiclass_data(seed, classes)
    r = classification_metrics(y_true, y_pred, proba, classes=classes)
    kw: dict[str, Any] = {"average": "macro", "zero_division": np.nan}
    _assert_metric(r, Metric.ACCURACY, skm.accuracy_score(y_true, y_pred))
    _assert_metric(r, Metric.PRECISION, _nan_to_none(skm.precision_score(y_true, y_pred, **kw)))
    _assert_metric(r, Metric.RECALL, _nan_to_none(skm.recall_score(y_true, y_pred, **kw)))
    _assert_metric(r, Metric.F1, _nan_to_none(skm.f1_score(y_true, y_pred, **kw)))
    _assert_metric(r, Metric.ROC_AUC, skm.roc_auc_score(y_true, proba, multi_class="ovr",
                                                         average="macro", labels=classes))
    _assert_metric(r, Metric.LOG_LOSS, skm.log_loss(y_true, proba, labels=classes))


def test_score_columns_follow_the_order_of_classes() -> None:
    y_true, y_pred, proba = _multiclass_data(8, ["ant", "bee", "cat"])
    order = ["cat", "ant", "bee"]  # a model whose columns are not in sorted order
    cols = proba[:, [2, 0, 1]]
    r = classification_metrics(y_true, y_pred, cols, classes=order)
    # scikit-learn insists on sorted labels: the oracle sees the same data with sorted columns.
    ordered = ["ant", "bee", "cat"]
    _assert_metric(r, Metric.ROC_AUC, skm.roc_auc_score(y_true, proba, multi_class="ovr",
                                                         labels=ordered))
    _assert_metric(r, Metric.LOG_LOSS, skm.log_loss(y_true, proba, labels=ordered))
    with pytest.raises(InputError, match="repeats"):
        classification_metrics(y_true, y_pred, cols, classes=["cat", "ant", "cat"])


def test_multiclass_class_never_predicted_is_left_out_of_macro_precision() -> None:
    y_true, y_pred = np.array([0, 1, 2, 2, 0, 3]), np.array([0, 2, 2, 2, 0, 0])
    r = classification_metrics(y_true, y_pred)
    kw: dict[str, Any] = {"average": "macro", "zero_division": np.nan}
    for metric, fn in ((Metric.PRECISION, skm.precision_score), (Metric.RECALL, skm.recall_score),
                       (Metric.F1, skm.f1_score)):
        _assert_metric(r, metric, fn(y_true, y_pred, **kw))


def test_missing_labels_are_excluded_and_counted() -> None:
    y_true, y_pred, score = _binary_data(7, (0, 1), n=200)
    t = y_true.astype(float)
    t[::5] = np.nan
    r = classification_metrics(t, y_pred, score)
    keep = ~np.isnan(t)
    assert (r.n_rows, r.n_labelled) == (200, int(keep.sum()))
    _assert_metric(r, Metric.ACCURACY, skm.accuracy_score(y_true[keep], y_pred[keep]))
    _assert_metric(r, Metric.ROC_AUC, skm.roc_auc_score(y_true[keep], score[keep]))
    with_none = y_true.astype(object)
    with_none[~keep] = None
    s = classification_metrics(with_none, y_pred, score)
    assert s.metrics == r.metrics


@pytest.mark.parametrize("seed", SEEDS)
def test_regression_metrics_equal_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    y_true = np.round(rng.normal(10, 5, 300), 0)  # rounding makes some truths exactly 0
    y_true[:3] = 0.0
    y_pred = y_true + rng.normal(0.5, 2, 300)
    r = regression_metrics(y_true, y_pred)
    nz = y_true != 0
    assert r.task is Task.REGRESSION and r.n_mape_excluded == int((~nz).sum()) >= 3
    _assert_metric(r, Metric.MAE, skm.mean_absolute_error(y_true, y_pred))
    _assert_metric(r, Metric.RMSE, skm.root_mean_squared_error(y_true, y_pred))
    _assert_metric(r, Metric.MAPE, skm.mean_absolute_percentage_error(y_true[nz], y_pred[nz]))
    _assert_metric(r, Metric.R2, skm.r2_score(y_true, y_pred))
    _assert_metric(r, Metric.BIAS, float(np.mean(y_pred - y_true)))


@pytest.mark.parametrize(
    ("call", "metric"),
    [
        (lambda: classification_metrics([1, 1, 1], [1, 0, 1], [0.9, 0.2, 0.8]), Metric.ROC_AUC),
        (lambda: classification_metrics([0, 1, 1], [0, 0, 0]), Metric.PRECISION),
        (lambda: classification_metrics([0, 0, 0], [0, 1, 0]), Metric.RECALL),
        (lambda: classification_metrics([0, 0], [0, 0]), Metric.F1),
        (lambda: classification_metrics([0, 1], [0, 1], [-2.0, 3.0]), Metric.LOG_LOSS),
        (lambda: classification_metrics([0, 1], [0, 1]), Metric.ROC_AUC),
        (lambda: regression_metrics([2.0, 2.0], [1.0, 3.0]), Metric.R2),
        (lambda: regression_metrics([0.0, 0.0], [1.0, 3.0]), Metric.MAPE),
    ],
    ids=["auc-one-class", "precision-no-positive-pred", "recall-no-positive", "f1-no-positive",
         "logloss-not-proba", "auc-no-score", "r2-constant", "mape-all-zero"],
)
def test_undefined_metric_is_none_with_reason(call: Any, metric: Metric) -> None:
    r = call()
    _assert_metric(r, metric, None)
    assert all(v is None or math.isfinite(v) for v in r.metrics.values())


def test_score_on_decision_scale_gives_auc_but_no_log_loss() -> None:
    r = classification_metrics([0, 1, 0, 1], [0, 1, 1, 1], [-2.0, 3.0, 0.5, 1.0])
    _assert_metric(r, Metric.ROC_AUC, 1.0)
    assert r.metrics[Metric.LOG_LOSS] is None


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: classification_metrics([0, 1, 1], [0, 1]), "y_pred"),
        (lambda: classification_metrics([0, 1], [0, None]), "y_pred"),
        (lambda: classification_metrics([0, 1], [0, 1], [0.5]), "y_score"),
        (lambda: classification_metrics([0, 1, 2], [0, 1, 2], [0.1, 0.2, 0.3]), "y_score"),
        (lambda: classification_metrics([0, 1], [0, 1], [0.1, np.inf]), "y_score"),
        (lambda: classification_metrics([0, 5], [0, 1], classes=[0, 1]), "y_true"),
        (lambda: classification_metrics(np.array(["a", "b"], dtype=object), [0, 1]), "y_pred"),
        (lambda: regression_metrics([1.0, 2.0], [1.0, np.nan]), "y_pred"),
        (lambda: regression_metrics([1.0, np.inf], [1.0, 2.0]), "y_true"),
    ],
    ids=["length", "missing-pred", "score-length", "score-1d-multiclass", "score-inf",
         "unknown-label", "incomparable-labels", "regression-nan-pred", "regression-inf-truth"],
)
def test_bad_input_raises_input_error_naming_the_field(call: Any, field: str) -> None:
    with pytest.raises(InputError) as info:
        call()
    assert info.value.field == field
    assert field in str(info.value)


def test_no_labelled_row_is_insufficient_data() -> None:
    with pytest.raises(InsufficientData):
        classification_metrics([np.nan, np.nan], [0, 1])
    with pytest.raises(InsufficientData, match="current"):
        performance_degradation(LabelledSample(y_true=[1.0], y_pred=[1.0]),
                                LabelledSample(y_true=[np.nan], y_pred=[1.0]), Task.REGRESSION)


def test_results_are_frozen() -> None:
    r = regression_metrics([1.0, 2.0], [1.0, 3.0])
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.n_rows = 3  # type: ignore[misc]
    with pytest.raises(TypeError):
        r.metrics[Metric.MAE] = 0.0  # type: ignore[index]


# --- degradation -------------------------------------------------------------------------


def _classifier(rng: np.random.Generator, n: int, error_rate: float) -> LabelledSample:
    y = rng.integers(0, 2, n)
    wrong = rng.random(n) < error_rate
    return LabelledSample(y_true=y, y_pred=np.where(wrong, 1 - y, y))


def _regressor(rng: np.random.Generator, n: int, noise: float) -> LabelledSample:
    y = rng.normal(0, 10, n)
    return LabelledSample(y_true=y, y_pred=y + rng.normal(0, noise, n))


def test_z_test_p_value_equals_hand_computation() -> None:
    rng = np.random.default_rng(11)
    ref, cur = _classifier(rng, 1500, 0.10), _classifier(rng, 900, 0.13)
    e_ref = np.mean(np.asarray(ref.y_true) != np.asarray(ref.y_pred))
    e_cur = np.mean(np.asarray(cur.y_true) != np.asarray(cur.y_pred))
    pooled = (e_ref * 1500 + e_cur * 900) / 2400
    z = (e_cur - e_ref) / math.sqrt(pooled * (1 - pooled) * (1 / 1500 + 1 / 900))
    r = performance_degradation(ref, cur, Task.CLASSIFICATION)
    assert r.metric is Metric.ERROR_RATE
    assert r.statistic == pytest.approx(z, rel=REL)
    assert r.p_value == pytest.approx(stats.norm.sf(z), rel=REL)
    assert (r.reference_value, r.current_value) == pytest.approx((e_ref, e_cur), rel=REL)
    assert r.delta == pytest.approx(e_cur - e_ref, rel=REL)
    assert (r.n_reference, r.n_current, r.threshold) == (1500, 900, 0.05)


def test_mann_whitney_p_value_equals_scipy() -> None:
    rng = np.random.default_rng(12)
    ref, cur = _regressor(rng, 800, 1.0), _regressor(rng, 600, 1.1)
    abs_ref = np.abs(np.asarray(ref.y_pred) - np.asarray(ref.y_true))
    abs_cur = np.abs(np.asarray(cur.y_pred) - np.asarray(cur.y_true))
    expected = stats.mannwhitneyu(abs_cur, abs_ref, alternative="greater")
    r = performance_degradation(ref, cur, Task.REGRESSION)
    assert r.metric is Metric.MAE
    assert r.statistic == pytest.approx(expected.statistic, rel=REL)
    assert r.p_value == pytest.approx(expected.pvalue, rel=REL)
    assert r.current_value == pytest.approx(abs_cur.mean(), rel=REL)


@pytest.mark.parametrize("task", list(Task))
def test_degraded_model_is_flagged_equal_or_better_one_is_not(task: Task) -> None:
    rng = np.random.default_rng(2024)
    make = _classifier if task is Task.CLASSIFICATION else _regressor
    good, bad = (0.10, 0.20) if task is Task.CLASSIFICATION else (1.0, 2.0)
    ref = make(rng, 2000, good)
    worse = performance_degradation(ref, make(rng, 2000, bad), task)
    same = performance_degradation(ref, make(rng, 2000, good), task)
    better = performance_degradation(make(rng, 2000, bad), make(rng, 2000, good), task)
    assert worse.drifted and worse.delta > 0 and worse.p_value < 1e-6
    assert not same.drifted and same.p_value > 0.05
    # One-sided: a large improvement is not an alert.
    assert not better.drifted and better.delta < 0 and better.p_value > 0.99


def test_perfect_windows_have_p_value_one() -> None:
    both = LabelledSample(y_true=[0, 1, 1], y_pred=[0, 1, 1])
    r = performance_degradation(both, both, Task.CLASSIFICATION)
    assert (r.statistic, r.p_value, r.drifted) == (0.0, 1.0, False)


def test_alpha_is_checked() -> None:
    s = LabelledSample(y_true=[0, 1], y_pred=[0, 1])
    with pytest.raises(ValueError, match=r"alpha \(1.5\)"):
        performance_degradation(s, s, Task.CLASSIFICATION, alpha=1.5)


# --- properties --------------------------------------------------------------------------


@st.composite
def _labelled_rows(
    draw: st.DrawFn,
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    n = draw(st.integers(1, 60))
    k = draw(st.integers(2, 4))
    codes = st.lists(st.integers(0, k - 1), min_size=n, max_size=n).map(np.asarray)
    score = st.lists(st.sampled_from([0.0, 0.25, 0.5, 0.75, 1.0]), min_size=n, max_size=n)
    return draw(codes), draw(codes), np.asarray(draw(score), dtype=np.float64)


BOUNDED = (Metric.ACCURACY, Metric.PRECISION, Metric.RECALL, Metric.F1, Metric.ROC_AUC)


@settings(deadline=None, max_examples=150)
@given(rows=_labelled_rows(), seed=st.integers(0, 2**32 - 1))
def test_metrics_bounded_and_permutation_invariant(
    rows: tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]], seed: int
) -> None:
    y_true, y_pred, score = rows
    binary = np.unique(np.concatenate([y_true, y_pred])).size <= 2
    kwargs: dict[str, Any] = {"y_score": score} if binary else {}
    r = classification_metrics(y_true, y_pred, **kwargs)
    for m in BOUNDED:
        v = r.metrics[m]
        assert v is None or 0.0 <= v <= 1.0, (m, v)
    loss = r.metrics[Metric.LOG_LOSS]
    assert loss is None or loss >= 0.0
    perm = np.random.default_rng(seed).permutation(y_true.size)
    shuffled = classification_metrics(y_true[perm], y_pred[perm],
                                      **({"y_score": score[perm]} if binary else {}))
    for m, v in r.metrics.items():
        w = shuffled.metrics[m]
        assert (v is None and w is None) or w == pytest.approx(v, rel=1e-12, abs=1e-15), m


_reals = st.floats(-1e3, 1e3)


@settings(deadline=None, max_examples=100)
@given(
    values=st.lists(st.tuples(_reals, _reals), min_size=1, max_size=60),
    seed=st.integers(0, 2**32 - 1),
)
def test_regression_metrics_permutation_invariant_and_nonnegative(
    values: list[tuple[float, float]], seed: int
) -> None:
    t, p = np.asarray(values).T
    r = regression_metrics(t, p)
    mae, rmse = r.metrics[Metric.MAE], r.metrics[Metric.RMSE]
    assert mae is not None and rmse is not None and mae >= 0.0
    assert rmse >= mae * (1 - 1e-12) or mae < 1e-150  # squares of tiny errors underflow to 0
    perm = np.random.default_rng(seed).permutation(t.size)
    s = regression_metrics(t[perm], p[perm])
    for m, v in r.metrics.items():
        w = s.metrics[m]
        assert (v is None and w is None) or w == pytest.approx(v, rel=1e-9, abs=1e-9), m
