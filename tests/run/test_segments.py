"""Segment drift: a change inside one segment that the whole window dilutes is found and named;
Benjamini-Hochberg across segments x features keeps stationary runs within the false-alarm budget;
values new in the window or gone from it are reported; what is stored is bounded by top_k."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from monitor.config import DriftlineConfig
from monitor.domain import OTHER, Monitor, Run, RunStatus, SegmentKind
from monitor.domain.localisation import localise
from monitor.run import evaluate, fit_reference
from monitor.run.bundle import ReferenceBundle
from monitor.run.evaluate import conform
from monitor.run.segments import evaluate_segments, fit_segments

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
COUNTRIES = [f"c{i}" for i in range(10)]


def monitor(**extra: object) -> Monitor:
    return DriftlineConfig.model_validate({"monitors": [{
        "name": "churn", "model": "churn-v3", "every": "1h", "min_rows": 30,
        "schema": {"numerical": ["age", "income", "tenure"], "categorical": ["country", "device"], "target": None},
        "segments": ["country"], **extra}]}).to_domain().monitors[0]


def population(n: int, rng: np.random.Generator, *, countries: list[str] = COUNTRIES, shift: str | None = None,
               by: float = 8.0) -> pd.DataFrame:
    frame = pd.DataFrame({
        "prediction_id": [f"p{i}" for i in range(n)],
        "timestamp": pd.date_range(T0 - timedelta(hours=1), periods=n, freq="1s", tz="UTC"),
        "age": rng.normal(40, 10, n), "income": rng.lognormal(8, 0.6, n), "tenure": rng.exponential(3, n),
        "country": rng.choice(countries, n), "device": rng.choice(["ios", "android", "web"], n),
        "prediction": rng.choice(["stay", "churn"], n)})
    if shift is not None:
        frame.loc[frame["country"] == shift, "age"] += by
    return frame


def blank(m: Monitor, i: int = 0) -> Run:
    return Run(id=f"r{i}", monitor=m.name, model=m.model, status=RunStatus.OK, window_start=None, window_end=T0,
               rows=0, started_at=T0, finished_at=T0)


def test_a_shift_diluted_in_the_window_is_found_in_its_segment_and_named() -> None:
    m = monitor(segments=["country", ["country", "device"]], segment_min_rows=100)
    rng = np.random.default_rng(3)
    bundle = fit_reference(m, population(20_000, rng))
    run = evaluate(m, bundle, population(6_000, rng, shift="c3"), blank(m))
    # The whole window: one country of ten moved 0.8 sd, so age moves by a tenth of that; no dataset
    # drift, and age itself stays under its effect floor.
    assert run.dataset is not None and not run.dataset.dataset_drift
    age = next(f for f in run.features if f.column == "age")
    assert not age.drifted, (age.statistic, age.threshold)
    # ... but inside country c3 (and each c3 x device) age drifts, and nothing else does.
    assert run.segments is not None
    drifted = run.segments.drifted
    assert {(s.segment, s.value) for s in drifted} == {("country", "c3"), ("country,device", "c3,android"),
                                                       ("country,device", "c3,ios"), ("country,device", "c3,web")}
    top = drifted[0]
    assert (top.segment, top.value) == ("country", "c3")
    assert [f.feature for f in top.features if f.drifted] == ["age"]
    assert top.features[0].adjusted_p_value is not None and top.features[0].adjusted_p_value < 0.05
    assert run.status is RunStatus.DRIFT  # a drifted segment is a verdict of the run
    loc = localise(run)
    assert loc.features == () and loc.segments[0].value == "c3"
    assert "country=c3" in loc.summary()


def test_the_segment_statistic_and_the_correction_agree_with_scipy() -> None:
    m = monitor(segment_min_rows=100)
    rng = np.random.default_rng(5)
    reference, window = conform(m, population(8_000, rng)), conform(m, population(3_000, rng, shift="c1"))
    summary = evaluate_segments(m, fit_segments(m, reference), window)
    c1 = next(r for r in summary.results if r.value == "c1")
    age = next(f for f in c1.features if f.feature == "age")
    want = stats.ks_2samp(reference.loc[reference["country"] == "c1", "age"], window.loc[window["country"] == "c1", "age"])
    assert age.statistic == pytest.approx(want.statistic, abs=1e-12)
    assert age.p_value == pytest.approx(want.pvalue, rel=1e-6, abs=1e-300)
    # BH over every (value, feature) p-value of the run: SciPy's false_discovery_control on the same p-values.
    assert summary.tests == 10 * 4  # 10 countries x (3 numerical + device); country itself is not tested in it
    m10 = monitor(segment_min_rows=100, segment_top_k=10)
    every = evaluate_segments(m10, fit_segments(m10, reference), window)
    flat = [f for r in every.results for f in r.features]
    raw = np.array([f.p_value for f in flat], dtype=float)
    adjusted = np.array([f.adjusted_p_value for f in flat], dtype=float)
    np.testing.assert_allclose(adjusted, stats.false_discovery_control(raw, method="bh"), rtol=1e-12)


def test_stored_values_are_bounded_by_top_k_plus_other() -> None:
    m = monitor(segment_min_rows=50, segment_top_k=3)
    rng = np.random.default_rng(9)
    reference, window = conform(m, population(8_000, rng)), conform(m, population(4_000, rng, shift="c7", by=12))
    summary = evaluate_segments(m, fit_segments(m, reference), window)
    assert [r.kind for r in summary.results] == [SegmentKind.VALUE] * 3 + [SegmentKind.OTHER]
    assert summary.results[0].value == "c7" and summary.results[0].drifted
    other = summary.results[-1]
    assert other.value == OTHER and other.values == 7
    assert other.rows == sum(int((window["country"] == c).sum()) for c in COUNTRIES) - sum(
        r.rows for r in summary.results[:3])
    assert summary.counts[0].tested == 10 and summary.counts[0].drifted == 1


def test_new_gone_and_small_values_are_reported() -> None:
    m = monitor(segment_min_rows=100)
    rng = np.random.default_rng(11)
    reference = conform(m, population(6_000, rng, countries=COUNTRIES[:8]))
    window = conform(m, population(3_000, rng, countries=[*COUNTRIES[:6], "c8", "zz"]))
    window.loc[window.index[:40], "country"] = "c9"  # present nowhere in the reference either: new, small
    summary = evaluate_segments(m, fit_segments(m, reference), window)
    assert set(summary.new) == {("country", "c8"), ("country", "zz"), ("country", "c9")}
    assert set(summary.gone) == {("country", "c6"), ("country", "c7")}
    assert summary.counts[0].new == 3 and summary.counts[0].gone == 2 and summary.counts[0].tested == 6
    assert not summary.any_drift


def test_a_value_too_small_in_the_window_is_not_tested() -> None:
    m = monitor(segment_min_rows=100)
    rng = np.random.default_rng(12)
    reference = conform(m, population(6_000, rng))
    window = conform(m, population(600, rng))  # ~60 rows per country
    summary = evaluate_segments(m, fit_segments(m, reference), window)
    assert summary.results == () and summary.counts[0].small == 10 and len(summary.small) == 10


def test_segment_profiles_survive_the_bundle_round_trip() -> None:
    m = monitor(segments=["country", ["country", "device"]], segment_min_rows=100)
    bundle = fit_reference(m, population(8_000, np.random.default_rng(1)))
    back = ReferenceBundle.from_bytes(bundle.to_bytes())
    assert [s.columns for s in back.segments] == [("country",), ("country", "device")]
    assert back.segments[1].rows == bundle.segments[1].rows
    for a, b in zip(back.segments, bundle.segments, strict=True):
        assert {v: p.content_hash for v, p in a.profiles.items()} == {v: p.content_hash for v, p in b.profiles.items()}
    window = population(3_000, np.random.default_rng(2), shift="c0", by=12)
    assert evaluate(m, back, window, blank(m)).segments == evaluate(m, bundle, window, blank(m)).segments


def test_a_reference_fitted_before_the_segments_were_declared_says_so() -> None:
    m = monitor(segment_min_rows=100)
    bundle = fit_reference(monitor(segments=[]), population(4_000, np.random.default_rng(1)))
    run = evaluate(m, bundle, population(2_000, np.random.default_rng(2)), blank(m))
    assert run.segments is not None and run.segments.results == ()
    assert run.segments.note is not None and "register it again" in run.segments.note


@pytest.mark.slow
def test_stationary_runs_stay_within_the_false_alarm_budget() -> None:
    """Per run, 10 countries x 4 features = 40 tests. Under the complete null Benjamini-Hochberg's
    FDR is its family-wise rate, so at most alpha = 5% of stationary runs may call any segment drift
    (one-sided binomial test at 1%); without the correction the same tests alarm on most runs."""
    m = monitor(segment_min_rows=150, segment_top_k=10)  # every value kept, to count the uncorrected alarms too
    rng = np.random.default_rng(2026)
    profiles = fit_segments(m, conform(m, population(10_000, rng)))
    runs, alarms, uncorrected = 80, 0, 0
    for _ in range(runs):
        summary = evaluate_segments(m, profiles, conform(m, population(3_000, rng)))
        alarms += summary.any_drift
        m10 = [f for r in summary.results for f in r.features]
        uncorrected += any(f.p_value is not None and f.p_value < 0.05 and f.effect is not None
                           and f.effect_floor is not None and f.effect >= f.effect_floor for f in m10)
    print(f"stationary runs: {alarms}/{runs} with a segment alarm under BH, {uncorrected}/{runs} uncorrected")
    assert stats.binomtest(alarms, runs, 0.05, alternative="greater").pvalue > 0.01, alarms
    assert uncorrected > 3 * max(alarms, 1), (uncorrected, alarms)
