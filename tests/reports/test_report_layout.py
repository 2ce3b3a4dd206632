"""The report's layout at many columns: order, overview counts, open charts, the script's CSP hash, and wording.

The order is checked against the rule computed here from the check's JSON (statistic / threshold
for a distance, log p / log alpha for a p-value test), never against the page's own figures.
"""

from __future__ import annotations

import base64
import hashlib
import math
import re
from dataclasses import replace
from typing import Any

import pandas as pd
import pytest

from monitor.api._pages import PAGE_HEADERS
from monitor.domain import FeatureResult, Role
from monitor.reports import CONTENT_SECURITY_POLICY, render_report
from monitor.reports._html import SCRIPT
from monitor.reports.render import OPEN_CHARTS, TOP_DRIFTED
from monitor.stats.check import ColumnResult, Status
from monitor.stats.types import P_VALUE_METHODS, DriftMethod
from tests.reports._data import WIDE_COLUMNS, WIDE_EMPTY, Elements, Evaluated, evaluated
from tests.reports.conftest import Wide


@pytest.fixture(scope="module")
def case() -> Evaluated:
    return evaluated()


def _result(column: str, method: DriftMethod | None, *, statistic: float | None = None, p: float | None = None,
            adjusted: float | None = None, threshold: float | None = None, drifted: bool = False,
            tested: bool = True) -> FeatureResult:
    return FeatureResult.of(ColumnResult(
        column=column, type=None, method=method, reason="" if tested else "no values in the current data",
        statistic=statistic, p_value=p, adjusted_p_value=adjusted, threshold=threshold, drifted=drifted,
        status=Status.OK if tested else Status.NOT_TESTABLE, n_reference=100, n_current=100, missing_reference=0,
        missing_current=0, missing_p_value=None, missing_drifted=False), Role.FEATURE)


def test_rows_and_charts_are_ordered_by_how_far_past_the_threshold(case: Evaluated) -> None:
    ks, psi, wd = DriftMethod.KS, DriftMethod.PSI, DriftMethod.WASSERSTEIN
    features = (
        _result("not-tested", None, tested=False),
        _result("psi-5x", psi, statistic=0.5, threshold=0.1, drifted=True),                # 5
        _result("ks-p-1e-10", ks, statistic=0.3, p=1e-10, threshold=0.05, drifted=True),   # 10 / 1.301 = 7.69
        _result("wd-0.9x", wd, statistic=0.09, threshold=0.1),                             # 0.9
        _result("ks-p-0", ks, statistic=0.9, p=0.0, threshold=0.05, drifted=True),          # infinite
        _result("ks-p-0.2", ks, statistic=0.05, p=0.2, threshold=0.05),                    # 0.699 / 1.301 = 0.537
        _result("wd-1.5x", wd, statistic=0.15, threshold=0.1, drifted=True),                # 1.5
        # corrected: the adjusted p (0.01 -> 2 / 1.301 = 1.54) orders it, not the raw 1e-6 (4.6)
        _result("ks-adjusted", ks, statistic=0.2, p=1e-6, adjusted=0.01, threshold=0.05, drifted=True),
    )
    expected = ["ks-p-0", "ks-p-1e-10", "psi-5x", "ks-adjusted", "wd-1.5x", "wd-0.9x", "ks-p-0.2", "not-tested"]
    page = render_report(title="t", monitor="m", model="x", window=None, reference_version=1,
                         run=replace(case.run, features=features), bundle_profile=None, current=pd.DataFrame())
    elements = Elements(page)
    rows = elements.with_class("feature-row", "tr")
    assert [r["data-feature"] for r in rows] == expected
    assert [c["data-feature"] for c in elements.with_class("feature", "details")] == expected
    scores = {r["data-feature"]: r["data-exceedance"] for r in rows}
    assert float(scores["ks-p-1e-10"]) == pytest.approx(10 / -math.log10(0.05))
    assert float(scores["ks-adjusted"]) == pytest.approx(2 / -math.log10(0.05))
    assert scores["ks-p-0"] == "inf" and scores["not-tested"] == ""


def _oracle_score(column: dict[str, Any]) -> float | None:
    """How far past its threshold, from the check's JSON: statistic/threshold, or log p / log alpha."""
    if column["status"] != "ok":
        return None
    if DriftMethod(column["method"]) in P_VALUE_METHODS:
        p = column["adjusted_p_value"] if column["adjusted_p_value"] is not None else column["p_value"]
        alpha = column["alpha"] if column.get("alpha") is not None else column["threshold"]
        return math.inf if p == 0 else math.log10(p) / math.log10(alpha)
    return float(column["statistic"]) / float(column["threshold"])


def test_the_200_column_report_orders_its_rows_most_drifted_first(wide: Wide) -> None:
    checked = {c["column"]: c for c in wide.check["columns"]}
    rows = Elements(wide.page).with_class("feature-row", "tr")
    assert len(rows) == WIDE_COLUMNS == len(checked)
    groups = [0 if checked[r["data-feature"]]["drifted"] else (1 if checked[r["data-feature"]]["status"] == "ok" else 2)
              for r in rows]
    assert groups == sorted(groups)  # drifted, then tested, then not tested
    assert set(WIDE_EMPTY) == {r["data-feature"] for r, g in zip(rows, groups, strict=True) if g == 2}
    for group in (0, 1):
        scores = [_oracle_score(checked[r["data-feature"]]) for r, g in zip(rows, groups, strict=True) if g == group]
        assert all(s is not None for s in scores)
        assert scores == sorted(scores, reverse=True), f"group {group} is not ordered by exceedance"  # type: ignore[type-var]
    for r in rows:
        expected = _oracle_score(checked[r["data-feature"]])
        shown = r["data-exceedance"]
        assert (shown == "") if expected is None else float(shown) == pytest.approx(expected, rel=1e-9)


def test_the_overview_counts_are_the_checks(wide: Wide) -> None:
    columns = wide.check["columns"]
    drifted = [c["column"] for c in columns if c["drifted"]]
    tested = sum(c["status"] == "ok" for c in columns)
    elements = Elements(wide.page)
    counts = elements.by_id("counts")
    assert (int(counts["data-drifted"]), int(counts["data-tested"]), int(counts["data-not-tested"]),
            int(counts["data-columns"])) == (len(drifted), tested, len(columns) - tested, len(columns))
    assert 0 < len(drifted) < tested < len(columns)  # the case has all three kinds
    verdict = elements.by_id("dataset-verdict")
    assert verdict["data-dataset-drift"] == str(wide.check["dataset"]["dataset_drift"]).lower()
    assert f"{wide.check['dataset']['drifted_columns']} of {wide.check['dataset']['total_columns']} features" in wide.page
    top = [a["data-feature"] for a in elements.with_class("top-drifted", "li")]
    rows = [r["data-feature"] for r in elements.with_class("feature-row", "tr")]
    assert top == rows[:TOP_DRIFTED] and set(top) <= set(drifted)


def test_only_the_most_drifted_charts_are_open(wide: Wide) -> None:
    cards = Elements(wide.page).with_class("feature", "details")
    drifted = {c["column"] for c in wide.check["columns"] if c["drifted"]}
    assert len(drifted) > OPEN_CHARTS  # so the cap is exercised
    opened = [c["data-feature"] for c in cards if "open" in c]
    assert opened == [c["data-feature"] for c in cards[:OPEN_CHARTS]] and set(opened) <= drifted


def _inline_script(page: str) -> str:
    (script,) = re.findall(r"<script>(.*?)</script>", page, re.DOTALL)
    return script


def _meta_policy(page: str) -> str:
    (policy,) = re.findall(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', page)
    return policy


def test_the_csp_allows_exactly_the_inline_script_by_its_sha256(wide: Wide) -> None:
    script = _inline_script(wide.page)
    assert script == SCRIPT
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode()
    for policy in (_meta_policy(wide.page), PAGE_HEADERS["Content-Security-Policy"], CONTENT_SECURITY_POLICY):
        directives = dict(d.strip().split(" ", 1) for d in policy.split(";"))
        assert directives["script-src"] == f"'sha256-{digest}'"  # that script and nothing else
        assert directives["default-src"] == "'none'"
        assert "unsafe-inline" not in directives["script-src"] and "unsafe-eval" not in policy


def test_the_cli_report_speaks_of_files_and_rows(wide: Wide) -> None:
    page = wide.page
    meta = dict(re.findall(r"<dt>([^<]*)</dt><dd>(.*?)</dd>", page))
    assert meta["Reference file"] == "reference.csv (1,500 rows)"
    assert meta["Current file"] == "current.csv (800 rows)"
    text = page.replace(SCRIPT, "").lower()  # the page, less the script (which says window.addEventListener)
    for service_word in ("reference version", "run status", "labels have arrived", "labelled rows", "window",
                         "concept drift", "prediction and target drift", "run-"):
        assert service_word not in text, service_word
    assert "driftline check REFERENCE CURRENT --task" in page


def test_the_service_report_keeps_its_wording(case: Evaluated) -> None:
    run = replace(case.run, performance=())
    page = render_report(title="Driftline report: churn", monitor="churn", model="churn-v3",
                         window=(run.window_start, run.window_end), reference_version=3, run=run,
                         bundle_profile=case.bundle.profile, current=case.current)
    meta = dict(re.findall(r"<dt>([^<]*)</dt><dd>(.*?)</dd>", page))
    assert meta["Reference version"] == "3" and meta["Monitor"] == "churn"
    assert "Reference file" not in page
    assert "too few labels have arrived" in page and 'id="label-coverage"' in page
