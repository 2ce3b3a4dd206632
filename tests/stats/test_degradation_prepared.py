"""A prepared reference gives the direct computation's results to the last bit (issue 16).

The oracle is ``degradation_v1``, the frozen implementation that rebuilt the reference side on
every call; the point values are also checked against scikit-learn. One prepared reference is
reused across several windows and block sizes, so both the first (memo filled) and later calls
(memo hit) are compared.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pytest
from sklearn import metrics as skm

from monitor.stats.degradation import PreparedReference, ScoredSample, _merged_quantiles, degradation
from monitor.stats.performance import Metric, Task
from tests.stats import degradation_v1 as v1


def _same(new: object, old: object) -> None:
    """Every field equal, floats bit for bit (NaN equal to NaN)."""
    for f in dataclasses.fields(old):  # type: ignore[arg-type]
        a, b = getattr(new, f.name), getattr(old, f.name)
        if isinstance(b, float) and math.isnan(b):
            assert isinstance(a, float) and math.isnan(a), f.name
        else:
            assert a == b, (f.name, a, b)


def _binary(rng: np.random.Generator, n: int, noise: float, distinct: int | None) -> ScoredSample:
    y = rng.integers(0, 2, n)
    score = y + rng.normal(0, noise, n)
    if distinct is not None:  # few distinct scores: the bins are the pooled distinct values
        score = np.round(score * distinct / 4) / (distinct / 4)
    labels = np.array(["no", "yes"], dtype=object)
    return ScoredSample(y_true=labels[y], y_pred=labels[(score > 0.5).astype(int)], y_score=score)


def _windows(rng: np.random.Generator, make: object, n: int) -> list[tuple[ScoredSample, int | None]]:
    out = []
    for i, rows in enumerate((None, 7, 40, 40, 5000, None)):  # repeats hit the memo
        w: ScoredSample = make(rng, n + 37 * i)  # type: ignore[operator]
        buckets = np.sort(rng.integers(0, 30 + i, n + 37 * i)) if i % 2 else None
        out.append((dataclasses.replace(w, buckets=buckets), rows))
    return out


def _compare(ref: ScoredSample, windows: list[tuple[ScoredSample, int | None]], task: Task,
             metric: Metric | None = None, **kw: object) -> list[object]:
    prepared = PreparedReference(ref)
    results = []
    for cur, rows in windows:
        old = v1.degradation(ref, cur, task, rng=np.random.default_rng(7), metric=metric, block_rows=rows, **kw)
        new = degradation(prepared, cur, task, rng=np.random.default_rng(7), metric=metric, block_rows=rows, **kw)
        _same(new, old)
        _same(degradation(ref, cur, task, rng=np.random.default_rng(7), metric=metric, block_rows=rows, **kw), old)
        results.append(new)
    return results


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("distinct", [None, 40])
def test_roc_auc_equals_the_direct_computation_and_scikit_learn(seed: int, distinct: int | None) -> None:
    rng = np.random.default_rng(seed)
    ref = _binary(rng, 3000 + 500 * seed, 0.8, distinct)
    results = _compare(ref, _windows(rng, lambda r, n: _binary(r, n, 1.0 + 0.3 * seed, distinct), 900), Task.CLASSIFICATION)
    assert all(r.metric is Metric.ROC_AUC for r in results)  # type: ignore[attr-defined]
    truth = np.asarray(ref.y_true) == "yes"
    assert results[0].reference_value == pytest.approx(  # type: ignore[attr-defined]
        skm.roc_auc_score(truth, np.asarray(ref.y_score)), abs=1e-12)


@pytest.mark.parametrize("metric", [Metric.LOG_LOSS, Metric.BALANCED_ACCURACY, Metric.F1, Metric.ACCURACY])
def test_other_binary_metrics_equal_the_direct_computation(metric: Metric) -> None:
    rng = np.random.default_rng(11)

    def prob(r: np.random.Generator, n: int) -> ScoredSample:
        s = _binary(r, n, 0.9, None)
        return dataclasses.replace(s, y_score=1.0 / (1.0 + np.exp(-4.0 * (np.asarray(s.y_score) - 0.5))))

    _compare(prob(rng, 2500), _windows(rng, prob, 800), Task.CLASSIFICATION, metric=metric)


def test_multiclass_with_a_label_unseen_in_the_reference_equals_the_direct_computation() -> None:
    rng = np.random.default_rng(5)

    def sample(r: np.random.Generator, n: int, k: int) -> ScoredSample:
        y = r.integers(0, k, n)
        pred = np.where(r.random(n) < 0.7, y, r.integers(0, k, n))
        return ScoredSample(y_true=y, y_pred=pred)

    ref = sample(rng, 4000, 3)
    windows = _windows(rng, lambda r, n: sample(r, n, 4), 700)  # class 3 only in the windows
    results = _compare(ref, windows, Task.CLASSIFICATION)
    assert results[0].metric is Metric.BALANCED_ACCURACY  # type: ignore[attr-defined]
    assert results[0].reference_value == pytest.approx(  # type: ignore[attr-defined]
        skm.balanced_accuracy_score(ref.y_true, ref.y_pred), abs=1e-12)


@pytest.mark.parametrize("metric", [None, Metric.RMSE, Metric.R2, Metric.MAPE])
def test_regression_equals_the_direct_computation(metric: Metric | None) -> None:
    rng = np.random.default_rng(9)

    def sample(r: np.random.Generator, n: int) -> ScoredSample:
        t = r.normal(3.0, 2.0, n)
        return ScoredSample(y_true=t, y_pred=t + r.standard_t(3, n))

    ref = sample(rng, 5000)
    results = _compare(ref, _windows(rng, sample, 1000), Task.REGRESSION, metric=metric)
    if metric is None:
        assert results[0].reference_value == pytest.approx(  # type: ignore[attr-defined]
            skm.mean_absolute_error(ref.y_true, ref.y_pred), abs=1e-12)


def test_a_reference_with_its_own_buckets_and_unlabelled_rows_equals_the_direct_computation() -> None:
    rng = np.random.default_rng(3)
    ref = _binary(rng, 3000, 0.8, None)
    truth = np.asarray(ref.y_true).copy()
    truth[rng.random(3000) < 0.1] = None
    ref = dataclasses.replace(ref, y_true=truth, buckets=np.sort(rng.integers(0, 300, 3000)))
    _compare(ref, _windows(rng, lambda r, n: _binary(r, n, 1.2, None), 900), Task.CLASSIFICATION)


@pytest.mark.parametrize("seed", range(6))
def test_merged_quantiles_are_numpys_to_the_last_bit(seed: int) -> None:
    rng = np.random.default_rng(seed)
    digits = int(rng.integers(1, 4)) if seed % 2 else 17  # ties, or none (interpolation in the last bits)
    a = np.sort(np.round(rng.normal(size=rng.integers(1, 5000)) * np.pi, digits))
    b = np.sort(np.round(rng.normal(0.3, 1.5, size=rng.integers(1, 3000)) * np.e, digits))
    q = np.linspace(0.0, 1.0, 129)[1:-1]
    assert np.array_equal(_merged_quantiles(a, b, q), np.quantile(np.concatenate([a, b]), q))
    q = np.concatenate([[0.0, 1.0], rng.random(50)])
    assert np.array_equal(_merged_quantiles(a, b, q), np.quantile(np.concatenate([a, b]), q))
