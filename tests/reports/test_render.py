"""The report page: it shows the run's stored results as they are, escapes user data, fetches nothing."""

from __future__ import annotations

import math
import re
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from monitor.domain import PerformanceRecord, Role, RunStatus
from monitor.reports import render_index, render_report
from monitor.reports._distribution import OTHER, TOP_CATEGORIES, distribution
from monitor.reports._html import SCRIPT
from monitor.reports.index import MonitorEntry
from monitor.stats.binning import bin_counts
from monitor.stats.profile import fit_profile, numerical_values
from tests.reports._data import EVIL, EVIL_CATEGORY, Elements, Evaluated, evaluated


@pytest.fixture(scope="module")
def case() -> Evaluated:
    return evaluated()


def _page(case: Evaluated, **overrides: object) -> str:
    args: dict[str, object] = dict(
        title="Driftline report: churn", monitor=case.monitor.name, model=case.monitor.model,
        window=(case.run.window_start, case.run.window_end), reference_version=case.run.reference_version,
        run=case.run, bundle_profile=case.bundle.profile, current=case.current)
    args.update(overrides)
    return render_report(**args)  # type: ignore[arg-type]


def _number(text: str) -> float | None:
    return None if text == "" else float(text)


def test_every_feature_row_carries_the_runs_stored_result(case: Evaluated) -> None:
    rows = Elements(_page(case)).with_class("feature-row", "tr")
    assert len(rows) == len(case.run.features)
    roles = {r.role for r in case.run.features}
    assert roles == {Role.FEATURE, Role.PREDICTION, Role.TARGET}  # the case covers every role
    by_name = {row["data-feature"]: row for row in rows}
    assert set(by_name) == {r.column for r in case.run.features}
    for result in case.run.features:
        row = by_name[result.column]
        assert row["data-role"] == str(result.role)
        assert row["data-drifted"] == str(result.drifted).lower()
        assert row["data-method"] == (result.method or "")
        assert _number(row["data-statistic"]) == result.statistic
        assert _number(row["data-p-value"]) == result.p_value
        assert _number(row["data-threshold"]) == result.threshold
        assert row["data-status"] == result.status


def test_the_page_shows_stored_values_and_never_recomputes_them(case: Evaluated) -> None:
    # Results that the data could never produce: the page must still show exactly these.
    forged = tuple(replace(f, statistic=0.123456789 + i, p_value=None, drifted=not f.drifted, threshold=7.5)
                   for i, f in enumerate(case.run.features))
    run = replace(case.run, features=forged)
    page = _page(case, run=run)
    rows = {r["data-feature"]: r for r in Elements(page).with_class("feature-row", "tr")}
    assert {c: float(r["data-statistic"]) for c, r in rows.items()} == {f.column: f.statistic for f in forged}
    assert {c: r["data-drifted"] for c, r in rows.items()} == {f.column: str(f.drifted).lower() for f in forged}
    assert {r["data-threshold"] for r in rows.values()} == {"7.5"}
    assert "0.1235" in page and "7.5000" in page


def test_the_dataset_verdict_is_the_runs(case: Evaluated) -> None:
    dataset = case.run.dataset
    assert dataset is not None and dataset.dataset_drift
    verdict = Elements(_page(case)).by_id("dataset-verdict")
    assert verdict["data-dataset-drift"] == "true"
    assert float(verdict["data-drift-share"]) == dataset.drift_share
    assert float(verdict["data-threshold"]) == dataset.threshold


def test_a_hostile_column_name_and_category_are_escaped(case: Evaluated) -> None:
    page = _page(case)
    assert EVIL not in page and EVIL_CATEGORY not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    tags = Elements(page).tags
    assert not [t for t, _ in tags if t in ("img", "iframe", "object", "embed")]
    assert [t for t, _ in tags if t == "script"] == ["script"]  # the report's own, and no other
    assert page.count("<script") == 1 and page.count(f"<script>{SCRIPT}</script>") == 1
    assert not [a for _, a in tags for k in a if k.startswith("on")]  # no event handler attributes
    plan = next(f for f in case.run.features if f.column == "plan")
    assert EVIL_CATEGORY in plan.new_categories  # the hostile category reached the page's data


def test_the_page_fetches_nothing_and_runs_only_its_own_script(case: Evaluated) -> None:
    page = _page(case, json_href="/v1/runs/run-1")
    assert "http://" not in page and "https://" not in page
    for _, attrs in Elements(page).tags:
        for key in ("src", "href"):
            if key in attrs:
                assert attrs[key].startswith(("#", "/v1/", "data:")), attrs
    rest = page.replace(f"<script>{SCRIPT}</script>", "")
    assert not re.search(r"<script|javascript:|@import|url\(", rest, re.IGNORECASE)
    assert "Content-Security-Policy" in page


def test_one_chart_per_tested_column_with_its_distributions(case: Evaluated) -> None:
    elements = Elements(_page(case))
    charts = elements.with_class("dist-chart", "svg")
    tested = [f.column for f in case.run.features if f.status == "ok"]
    assert sorted(c["data-feature"] for c in charts) == sorted(tested)
    new_bars = [a for a in elements.with_class("new", "rect") if "swatch" not in a["class"]]
    assert len(new_bars) == 2  # enterprise and the hostile category, in the plan chart


def test_numerical_chart_is_the_profiles_bins_against_the_window(case: Evaluated) -> None:
    profile = case.bundle.profile.columns["age"]
    dist = distribution(profile, case.current["age"])
    assert dist is not None and dist.current is not None
    sample, _ = numerical_values(case.current["age"], "age")
    cur = bin_counts(sample, profile.bin_edges)  # type: ignore[union-attr]
    ref = profile.bin_counts  # type: ignore[union-attr]
    keep = (ref > 0) | (cur > 0)
    assert dist.reference == pytest.approx((ref / ref.sum())[keep].tolist())
    assert dist.current == pytest.approx((cur / cur.sum())[keep].tolist())
    assert math.isclose(sum(dist.current), 1.0) and dist.n_current == sample.size


def test_categorical_chart_keeps_the_top_categories_and_folds_the_rest() -> None:
    ref = pd.DataFrame({"c": [f"k{i:02d}" for i in range(30) for _ in range(30 - i)]})
    cur = pd.Series(["brand-new"] * 200 + [f"k{i:02d}" for i in range(30)])
    dist = distribution(fit_profile(ref).columns["c"], cur)
    assert dist is not None and dist.current is not None
    assert len(dist.labels) == TOP_CATEGORIES + 1 and dist.labels[-1] == OTHER
    assert dist.labels[0] == "brand-new" and dist.new[0] and not any(dist.new[1:])
    assert sum(dist.reference) == pytest.approx(1.0) and sum(dist.current) == pytest.approx(1.0)


def test_performance_roles_and_data_quality_sections(case: Evaluated) -> None:
    run = replace(case.run, performance=(
        PerformanceRecord(metric="accuracy", value=0.71, reference_value=0.8, p_value=0.001, degraded=True),))
    page = _page(case, run=run)
    elements = Elements(page)
    (perf,) = elements.with_class("perf-row", "tr")
    assert (perf["data-metric"], perf["data-degraded"]) == ("accuracy", "true")
    roles = {a["data-role"] for a in elements.with_class("role-row", "tr")}
    assert roles == {"prediction", "target"}
    quality = {a["data-feature"]: a for a in elements.with_class("quality-row", "tr")}
    assert quality["plan"]["data-new-categories"] == "2"
    assert 'id="label-coverage"' in page and 'id="concept-drift"' in page


def test_a_run_without_results_still_renders(case: Evaluated) -> None:
    run = replace(case.run, status=RunStatus.ERROR, dataset=None, features=(), performance=(),
                  error="reading the window failed: <b>boom</b>")
    page = _page(case, run=run, bundle_profile=None, current=pd.DataFrame())
    elements = Elements(page)
    assert elements.by_id("dataset-verdict")["data-dataset-drift"] == ""
    assert not elements.with_class("feature-row") and not elements.with_class("dist-chart")
    assert "&lt;b&gt;boom&lt;/b&gt;" in page


def test_a_column_missing_from_the_window_charts_the_reference_only(case: Evaluated) -> None:
    page = _page(case, current=case.current.drop(columns=["income"]))
    chart = next(a for a in Elements(page).with_class("dist-chart", "svg") if a["data-feature"] == "income")
    assert chart["data-kind"] == "numerical"
    assert "current: no values" in page


def test_the_index_lists_monitors_with_links_to_reports_and_json(case: Evaluated) -> None:
    error_run = replace(case.run, id="run-0", status=RunStatus.ERROR, dataset=None, features=())
    page = render_index([MonitorEntry(name="churn", model="churn-v3", reference_version=3,
                                      runs=[case.run, error_run]),
                         MonitorEntry(name=EVIL, model="m", reference_version=None, runs=[])], version="1.2.3")
    elements = Elements(page)
    hrefs = {a["href"] for t, a in elements.tags if t == "a"}
    assert {"/v1/runs/run-1/report", "/v1/runs/run-1", "/v1/runs/run-0", "/docs", "/metrics",
            "/v1/monitors/churn/report"} <= hrefs
    assert "/v1/runs/run-0/report" not in hrefs  # an error run has no report
    statuses = {a["data-monitor"]: a["data-status"] for a in elements.with_class("monitor", "section")}
    assert statuses == {"churn": "drift", EVIL: "never_run"}
    assert EVIL not in page and "http://" not in page


def test_numbers_round_trip_exactly_in_data_attributes(case: Evaluated) -> None:
    tricky = (1 / 3, 1e-300, float("inf"), np.float64(0.1) + np.float64(0.2))
    features = tuple(replace(case.run.features[0], column=f"c{i}", statistic=float(v))
                     for i, v in enumerate(tricky))
    rows = Elements(_page(case, run=replace(case.run, features=features))).with_class("feature-row", "tr")
    assert {r["data-feature"]: float(r["data-statistic"]) for r in rows} == {
        f"c{i}": float(v) for i, v in enumerate(tricky)}
