"""The 200-column report driven in real headless Chromium: its height, the filter and sort a person uses,
the CSP enforcing the script's hash, and chart labels measured inside their svg.

Chromium is driven over the DevTools protocol (tests/reports/_chromium.py::Browser): clicks are
mouse events at an element's middle and typing is inserted text, so the page's own script does
the work, under the page's own CSP. Without Chromium these tests skip; under ``CI=true`` they fail.

``DRIFTLINE_WRITE_SCREENSHOT=1`` also writes docs/report-200-features.png (the top of the page
at 1280 px wide) from this run.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from monitor.reports._html import SCRIPT
from tests.reports._chromium import Browser, Tab, chromium_binary, png_pixels
from tests.reports.conftest import Wide

REPO = Path(__file__).resolve().parents[2]
SCREENSHOT = REPO / "docs" / "report-200-features.png"

#: The stated bound: the 200-column page, as it opens, is shorter than this (CSS px at 1280 px wide).
MAX_HEIGHT_PX = 6000
SCREENSHOT_HEIGHT_PX = 2400

_VISIBLE_ROWS = ("[...document.querySelectorAll('#columns-table tbody tr')]"
                 ".filter(r => r.getClientRects().length > 0).map(r => r.dataset.feature)")


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Browser]:
    with Browser(chromium_binary(), tmp_path_factory.mktemp("chromium")) as b:
        yield b


@pytest.fixture()
def tab(browser: Browser, wide: Wide) -> Tab:
    return browser.open(wide.report.as_uri())


def test_the_200_column_page_opens_short_and_quiet(tab: Tab, wide: Wide, tmp_path: Path) -> None:
    height = tab.height()
    # The same page with every chart open and the tables unboxed: what the old layout showed.
    tab.eval("document.querySelectorAll('details').forEach(d => { d.open = true; });"
             "document.querySelectorAll('.scroll').forEach(s => { s.style.maxHeight = 'none'; });")
    expanded = tab.height()
    print(f"200-column report: {height} px as it opens, {expanded} px with every chart open")
    assert height < MAX_HEIGHT_PX, f"{height} px"
    assert expanded > 5 * height  # the bound is the layout's doing, not a small case
    assert tab.problems() == []
    shot = tab.screenshot(tmp_path / "top.png")
    assert png_pixels(shot).shape[:2] == (900, 1280)


def test_the_docs_screenshot_is_taken(tab: Tab, tmp_path: Path) -> None:
    """The page's top 2,400 px as it opens (overview, table, the first charts); written over
    docs/report-200-features.png when DRIFTLINE_WRITE_SCREENSHOT is set, else to a scratch file."""
    target = SCREENSHOT if os.environ.get("DRIFTLINE_WRITE_SCREENSHOT") else tmp_path / "report-200-features.png"
    tab.screenshot(target, height=SCREENSHOT_HEIGHT_PX)
    height, width = png_pixels(target).shape[:2]
    assert height == SCREENSHOT_HEIGHT_PX and width >= 1200  # 1280 less the scrollbar


def test_typing_in_the_filter_hides_the_other_columns(tab: Tab, wide: Wide) -> None:
    names = [c["column"] for c in wide.check["columns"]]
    assert tab.eval("getComputedStyle(document.getElementById('controls')).display") != "none"  # the script ran
    tab.type("#filter", "NUM_01")
    expected = {n for n in names if "num_01" in n}
    assert len(expected) == 10
    assert set(tab.eval(_VISIBLE_ROWS)) == expected
    charts = tab.eval("[...document.querySelectorAll('details.feature')].filter(d => d.getClientRects().length)"
                      ".map(d => d.dataset.feature)")
    assert set(charts) == expected
    assert tab.eval("document.getElementById('filter-count').textContent") == f"10 of {len(names)} columns shown"
    tab.click("#only-drifted")
    drifted = {c["column"] for c in wide.check["columns"] if c["drifted"]}
    assert set(tab.eval(_VISIBLE_ROWS)) == expected & drifted
    assert tab.problems() == []


def test_clicking_a_header_sorts_the_table(tab: Tab, wide: Wide) -> None:
    checked = {c["column"]: c for c in wide.check["columns"]}
    tab.click("#columns-table thead th:nth-child(1) button")
    assert tab.eval(_VISIBLE_ROWS) == sorted(checked)
    assert tab.eval("document.querySelector('#columns-table thead th').getAttribute('aria-sort')") == "ascending"
    tab.click("#columns-table thead th:nth-child(1) button")
    assert tab.eval(_VISIBLE_ROWS) == sorted(checked, reverse=True)
    tab.click("#columns-table thead th:nth-child(5) button")  # Statistic, numerically; untested (no statistic) last
    order = tab.eval(_VISIBLE_ROWS)
    stats = [checked[n]["statistic"] for n in order]
    known = [s for s in stats if s is not None]
    assert known == sorted(known) and stats[len(known):] == [None] * (len(stats) - len(known))
    assert len(known) < len(stats)  # the case has columns without a statistic
    assert tab.problems() == []


def test_the_csp_runs_the_reports_script_and_refuses_an_edited_one(browser: Browser, wide: Wide,
                                                                   tmp_path: Path) -> None:
    edited = tmp_path / "edited.html"
    edited.write_text(wide.page.replace(SCRIPT, SCRIPT.replace("controls.hidden = false;", "controls.hidden = !1;")),
                      encoding="utf-8")
    tab = browser.open(edited.as_uri())
    assert tab.eval("document.getElementById('controls').hidden") is True  # the edited script never ran
    refused = [p for p in tab.problems() if "Content Security Policy" in p]
    assert refused, tab.problems()
    original = browser.open(wide.report.as_uri())
    assert original.eval("document.getElementById('controls').hidden") is False
    assert original.problems() == []


_TEXT_BOXES = """
[...document.querySelectorAll('svg.dist-chart')].flatMap(svg => {
  const view = svg.viewBox.baseVal, box = svg.getBoundingClientRect(), scale = box.width / view.width;
  return [...svg.querySelectorAll('text')].map(t => {
    const b = t.getBBox(), c = t.getBoundingClientRect();
    return {feature: svg.dataset.feature, cls: t.getAttribute('class'), text: t.firstChild.textContent,
            bbox: [b.x, b.y, b.x + b.width, b.y + b.height], view: [view.width, view.height],
            client: [(c.left - box.left) / scale, (c.top - box.top) / scale, (c.right - box.left) / scale,
                     (c.bottom - box.top) / scale]};
  });
})
"""


def test_no_chart_label_is_cut_by_the_svg_viewport(tab: Tab) -> None:
    tab.eval("document.querySelectorAll('details').forEach(d => { d.open = true; })")
    boxes = tab.eval(_TEXT_BOXES)
    ticks = [b for b in boxes if b["cls"] == "tick"]
    assert "100.0%" in {b["text"] for b in ticks}  # the constant column's axis reaches 100%
    for b in ticks:  # untransformed: getBBox is in the viewport's own units
        width, height = b["view"]
        x0, y0, x1, y1 = b["bbox"]
        assert 0 <= x0 and x1 <= width and 0 <= y0 and y1 <= height, b
    for b in boxes:  # every label, the rotated ones too, by its rendered box inside the svg's
        width, height = b["view"]
        x0, y0, x1, y1 = b["client"]
        assert -0.5 <= x0 and x1 <= width + 0.5 and -0.5 <= y0 and y1 <= height + 0.5, b
    assert {b["feature"] for b in boxes} >= {"cat_13", "constant", "num_000"}  # long names, 100%, numbers
