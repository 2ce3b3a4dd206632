"""The HTML drift report of one run: a pure function from the run's results to one page.

Why our own templates rather than Evidently's report: the numbers on the page must be the
run's *stored* results (the verdicts the alerts, metrics and API already published), never a
second computation that could disagree with them; and the page must be one self-contained file
(inline CSS and SVG, one small script allowed by its hash, no CDN) that opens offline and is safe
to serve.

The page stays short at hundreds of columns: columns are ordered most drifted first
(:mod:`monitor.reports._order`), an overview at the top gives the counts and the most drifted
columns, the two long tables scroll in boxes of their own, and each chart sits in a
``<details>`` that is open only for the most drifted columns. A filter box and sortable headers
come from :data:`~monitor.reports._html.SCRIPT`.

A run of the service and a ``driftline report`` of two files share the page; ``files``
(:class:`ReportFiles`) switches the wording to files and rows, with no versions, labels or run
ids, which a file check does not have.

Only the charts are computed here, from the reference profile and the window's rows: they show
the distributions the stored statistics were computed on. Tables, ``data-*`` attributes and the
verdicts come from :class:`~monitor.domain.Run` as they are.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import pandas as pd

from monitor.domain import FeatureResult, PerformanceRecord, Role, Run
from monitor.reports._distribution import distribution
from monitor.reports._estimate import estimate_section
from monitor.reports._html import attr_number, e, fmt, page, pct, sort_number, when
from monitor.reports._multivariate import multivariate_section
from monitor.reports._order import by_drift, exceedance
from monitor.reports._segments import drivers_html, segments_section
from monitor.reports._svg import dist_chart
from monitor.stats.check import Status
from monitor.stats.profile import ReferenceProfile

__all__ = ["OPEN_CHARTS", "TOP_DRIFTED", "ReportFiles", "render_report"]

_NEW_SHOWN = 10

#: Drifted columns whose chart is open when the page loads (the most drifted); the rest are a click away.
OPEN_CHARTS = 8

#: Drifted columns named in the overview at the top.
TOP_DRIFTED = 5


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportFiles:
    """The two files of a ``driftline report``: their names and row counts, shown instead of a service's run."""

    reference: str
    reference_rows: int
    current: str
    current_rows: int


def _verdict(result: FeatureResult) -> str:
    if result.status is not Status.OK:
        return f'<span class="untested">not tested</span> <span class="muted">{e(result.reason)}</span>'
    return '<span class="yes">drift</span>' if result.drifted else '<span class="no">no drift</span>'


def _past(result: FeatureResult) -> str:
    """The exceedance for people: ``2.31×``, ``140×``, ``∞×``; ``–`` when there is none."""
    score = exceedance(result)
    if score is None:
        return "–"
    return "∞×" if math.isinf(score) else (f"{score:.0f}×" if abs(score) >= 100 else f"{score:.3g}×")


def _share(count: int, of: int) -> str:
    return f"{count} ({pct(count / of)})" if of else str(count)


def _header(*, title: str, monitor: str | None, model: str | None,
            window: tuple[datetime | None, datetime] | None, reference_version: int | None, run: Run,
            json_href: str | None, files: ReportFiles | None) -> str:
    meta: list[tuple[str, str]] = []
    if files is not None:
        meta.append(("Reference file", f"{e(files.reference)} ({files.reference_rows:,} rows)"))
        meta.append(("Current file", f"{e(files.current)} ({files.current_rows:,} rows)"))
        meta.append(("Checked", when(run.finished_at)))
    else:
        if monitor is not None:
            meta.append(("Monitor", e(monitor)))
        if model is not None:
            meta.append(("Model", e(model)))
        if window is not None:
            start, end = window
            meta.append(("Window", f"{when(start)} – {when(end)}" if start is not None
                         else f"the last rows before {when(end)}"))
        if run.reference_ranges:  # a dynamic reference: the time ranges it was read from
            meta.append(("Reference", "; ".join(f"{when(r.start) if r.start else '?'} – {when(r.end)}"
                                                for r in run.reference_ranges)))
        else:
            meta.append(("Reference version", "–" if reference_version is None else str(reference_version)))
        meta.append(("Run", e(run.id) + (f' (<a href="{e(json_href)}">JSON</a>)' if json_href else "")))
        meta.append(("Run status", f'<span class="status status-{e(run.status)}">{e(run.status)}</span>'))
        meta.append(("Rows", str(run.rows)))
        meta.append(("Finished", when(run.finished_at)))
    meta.append(("Drift driven by", drivers_html(run)))  # by effect size, as the alert payload names them
    if run.error:
        meta.append(("Error", e(run.error)))
    rows = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in meta)
    return f'<header><h1>{e(title)}</h1><dl class="meta">{rows}</dl></header>'


def _overview(run: Run, ordered: Sequence[FeatureResult]) -> str:
    """The dataset verdict, the counts of drifted, tested and untested columns, the most drifted ones."""
    d = run.dataset
    if d is None:
        verdict = (f'<div id="dataset-verdict" class="verdict none" data-dataset-drift="">No dataset verdict '
                   f'(run status {e(run.status)})</div>')
    else:
        word = "Dataset drift" if d.dataset_drift else "No dataset drift"
        verdict = (
            f'<div id="dataset-verdict" class="verdict {"drift" if d.dataset_drift else "ok"}" '
            f'data-dataset-drift="{str(d.dataset_drift).lower()}" data-drift-share="{attr_number(d.drift_share)}" '
            f'data-threshold="{attr_number(d.threshold)}">{word}: {d.drifted_features} of {d.total_features} '
            f'features drifted (share {d.drift_share:.2f}, threshold {d.threshold:.2f})</div>'
        )
    drifted = [r for r in ordered if r.drifted]
    tested = sum(r.status is Status.OK for r in ordered)
    untested = len(ordered) - tested
    counts = (f'<ul class="counts" id="counts" data-drifted="{len(drifted)}" data-tested="{tested}" '
              f'data-not-tested="{untested}" data-columns="{len(ordered)}">'
              f'<li><b class="yes">{len(drifted)}</b> drifted</li><li><b>{tested}</b> tested</li>'
              f'<li><b class="untested">{untested}</b> not tested</li>'
              f'<li class="muted">of {len(ordered)} columns</li></ul>')
    if drifted:
        top = "".join(
            f'<li class="top-drifted" data-feature="{e(r.column)}"><a href="#feature-{i}">{e(r.column)}</a> '
            f'<span class="muted">{e(r.method or "")} {fmt(r.statistic)}, {_past(r)} its threshold</span></li>'
            for i, r in enumerate(drifted[:TOP_DRIFTED]))
        more = f" ({len(drifted) - TOP_DRIFTED} more below)" if len(drifted) > TOP_DRIFTED else ""
        top = f'<p>Most drifted, by how far past their threshold{more}:</p><ol class="top">{top}</ol>'
    else:
        top = '<p class="muted">No column drifted.</p>'
    return f'<section id="overview"><h2>Overview</h2>{verdict}{counts}{top}</section>'


_CONTROLS = ('<div id="controls" hidden><input type="search" id="filter" placeholder="Filter columns by name" '
             'aria-label="Filter columns by name" autocomplete="off"><label><input type="checkbox" id="only-drifted">'
             ' drifted only</label><span id="filter-count" class="muted" aria-live="polite"></span></div>')


def _columns(ordered: Sequence[FeatureResult]) -> str:
    head: tuple[tuple[str, str], ...] = (
        ("Column", "text"), ("Role", "text"), ("Type", "text"), ("Method", "text"), ("Statistic", "number"),
        ("p-value", "number"), ("Threshold", "number"), ("Past threshold", "number"), ("Verdict", "number"),
        ("Missing (ref)", "number"), ("Missing (cur)", "number"))
    rows = []
    for i, r in enumerate(ordered):
        p = fmt(r.p_value) + (f' <span class="muted">(adj. {fmt(r.adjusted_p_value)})</span>'
                              if r.adjusted_p_value is not None else "")
        group = 0 if r.drifted else (1 if r.status is Status.OK else 2)
        score = exceedance(r)
        rows.append(
            f'<tr class="feature-row filterable{" drifted" if r.drifted else ""}" data-feature="{e(r.column)}" '
            f'data-role="{e(r.role)}" data-status="{e(r.status)}" data-drifted="{str(r.drifted).lower()}" '
            f'data-method="{e(r.method or "")}" data-statistic="{attr_number(r.statistic)}" '
            f'data-p-value="{attr_number(r.p_value)}" data-threshold="{attr_number(r.threshold)}" '
            f'data-exceedance="{attr_number(score)}">'
            f'<td><a href="#feature-{i}">{e(r.column)}</a></td><td>{e(r.role)}</td><td>{e(r.type or "–")}</td>'
            f'<td>{e(r.method or "–")}</td><td class="num" data-sort="{sort_number(r.statistic)}">{fmt(r.statistic)}</td>'
            f'<td class="num" data-sort="{sort_number(r.adjusted_p_value if r.adjusted_p_value is not None else r.p_value)}">'
            f'{p}</td><td class="num" data-sort="{sort_number(r.threshold)}">{fmt(r.threshold)}</td>'
            f'<td class="num" data-sort="{sort_number(score)}">{_past(r)}</td>'
            f'<td data-sort="{group}">{_verdict(r)}</td>'
            f'<td class="num">{r.missing_reference}</td><td class="num">{r.missing_current}</td></tr>'
        )
    ths = "".join(f'<th data-sort="{kind}" scope="col"><button type="button">{h}</button></th>' for h, kind in head)
    body = "".join(rows) or f'<tr><td colspan="{len(head)}" class="muted">No columns were tested.</td></tr>'
    note = ('<p class="muted">Most drifted first: drifted columns, then the other tested ones, then those not tested, '
            "each by how far past its threshold (statistic / threshold for a distance, log p / log alpha for a "
            "p-value test; 1 is the threshold).</p>")
    return (f'<section id="summary"><h2>Columns</h2>{_CONTROLS}{note}<div class="scroll">'
            f'<table id="columns-table"><thead><tr>{ths}</tr></thead><tbody>{body}</tbody></table></div></section>')


def _charts(ordered: Sequence[FeatureResult], profile: ReferenceProfile | None, current: pd.DataFrame) -> str:
    cards = []
    opened = 0
    for i, r in enumerate(ordered):
        column_profile = None if profile is None else profile.columns.get(r.column)
        series = current[r.column] if r.column in current.columns else None
        dist = None if column_profile is None else distribution(column_profile, series)
        if dist is None:
            chart = '<p class="muted">No distribution to chart: the reference has no values for this column.</p>'
        else:
            chart = dist_chart(dist, column=r.column, drifted=r.drifted)
            chart += (f'<p class="muted">{dist.n_reference} reference values, {dist.n_current} current values'
                      f'{" (reference quantile bins)" if dist.kind == "numerical" else ""}.</p>')
        stat = (f'{e(r.method)}: statistic {fmt(r.statistic)}, threshold {fmt(r.threshold)}'
                + (f", p-value {fmt(r.p_value)}" if r.p_value is not None else "")
                + f", {_past(r)} its threshold") if r.method else ""
        is_open = r.drifted and opened < OPEN_CHARTS
        opened += is_open
        cards.append(
            f'<details class="feature filterable{" drifted" if r.drifted else ""}" id="feature-{i}" '
            f'data-feature="{e(r.column)}" data-drifted="{str(r.drifted).lower()}"{" open" if is_open else ""}>'
            f'<summary><span class="name">{e(r.column)}</span> <span class="muted">({e(r.role)})</span> '
            f"{_verdict(r)}</summary><p>{stat}</p>{chart}</details>"
        )
    drifted = sum(r.drifted for r in ordered)
    hint = (f"The charts of the {min(drifted, OPEN_CHARTS)} most drifted columns are open; click any column to "
            "show or hide its chart." if drifted else "Click a column to show or hide its chart.")
    return (f'<section id="distributions"><h2>Distributions</h2><p class="muted">{hint}</p>'
            f'<div class="charts">{"".join(cards)}</div></section>')


def _quality(features: Sequence[FeatureResult]) -> str:
    rows = []
    for r in features:
        changed = ("–" if r.missing_p_value is None else
                   f'<span class="{"yes" if r.missing_drifted else "no"}">{"yes" if r.missing_drifted else "no"}'
                   f"</span> (p {fmt(r.missing_p_value)})")
        categories = r.new_categories or ()
        new = ", ".join(e(c) for c in categories[:_NEW_SHOWN])
        if len(categories) > _NEW_SHOWN:
            new += f" and {len(categories) - _NEW_SHOWN} more"
        rows.append(
            f'<tr class="quality-row filterable" data-feature="{e(r.column)}" data-drifted="{str(r.drifted).lower()}" '
            f'data-new-categories="{len(categories)}">'
            f"<td>{e(r.column)}</td>"
            f'<td class="num">{_share(r.missing_reference, r.n_reference + r.missing_reference)}</td>'
            f'<td class="num">{_share(r.missing_current, r.n_current + r.missing_current)}</td><td>{changed}</td>'
            f'<td class="num">{"–" if r.out_of_range_current is None else r.out_of_range_current}</td>'
            f'<td>{new or "–"}</td></tr>'
        )
    head = "".join(f"<th>{h}</th>" for h in ("Column", "Missing (ref)", "Missing (cur)", "Missing rate changed",
                                             "Out of reference range", "New categories"))
    return (f'<section id="data-quality"><h2>Data quality</h2><div class="scroll"><table><thead><tr>{head}</tr>'
            f'</thead><tbody>{"".join(rows)}</tbody></table></div></section>')


def _roles(features: Sequence[FeatureResult]) -> str:
    picked = [r for r in features if r.role in (Role.PREDICTION, Role.TARGET)]
    if not picked:
        return ('<section id="roles"><h2>Prediction and target drift</h2>'
                '<p class="muted">No prediction or target column was tested.</p></section>')
    rows = "".join(
        f'<tr class="role-row" data-feature="{e(r.column)}" data-role="{e(r.role)}" '
        f'data-drifted="{str(r.drifted).lower()}"><td>{e(r.role)}</td><td>{e(r.column)}</td>'
        f'<td>{e(r.method or "–")}</td><td class="num">{fmt(r.statistic)}</td><td class="num">{fmt(r.p_value)}</td>'
        f"<td>{_verdict(r)}</td></tr>" for r in picked)
    head = "".join(f"<th>{h}</th>" for h in ("Role", "Column", "Method", "Statistic", "p-value", "Verdict"))
    return (f'<section id="roles"><h2>Prediction and target drift</h2><table><thead><tr>{head}</tr></thead>'
            f"<tbody>{rows}</tbody></table></section>")


def _performance(run: Run) -> str:
    records: Sequence[PerformanceRecord] = run.performance
    coverage = (f'<p id="label-coverage">Labelled rows: {run.labelled_rows} of {run.rows} '
                f"(coverage {pct(run.label_coverage)}).</p>")
    if records:
        rows = "".join(
            f'<tr class="perf-row" data-metric="{e(p.metric)}" data-degraded="{str(p.degraded).lower()}">'
            f'<td>{e(p.metric)}</td><td class="num">{fmt(p.value)}</td><td class="num">{fmt(p.reference_value)}</td>'
            f'<td class="num">{fmt(p.p_value)}</td><td><span class="{"yes" if p.degraded else "no"}">'
            f'{"degraded" if p.degraded else "no"}</span></td></tr>' for p in records)
        head = "".join(f"<th>{h}</th>" for h in ("Metric", "Value", "Reference", "p-value", "Degraded"))
        table = f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
    else:
        table = '<p class="muted">No performance yet: too few labels have arrived for this window.</p>'
    if run.concept_drift is None:
        concept = "not enough labels to tell"
    else:
        concept = '<span class="yes">detected</span>' if run.concept_drift else '<span class="no">none</span>'
    points = ", ".join(when(t) for t in run.concept_change_points)
    return (f'<section id="performance"><h2>Performance</h2>{table}{coverage}'
            f'<p id="concept-drift">Concept drift: {concept}{f". Change points: {points}" if points else ""}.</p>'
            "</section>")


def _file_performance() -> str:
    return ('<section id="performance"><h2>Performance</h2><p class="muted">A file report tests drift only. '
            "<code>driftline check REFERENCE CURRENT --task … --target COLUMN --prediction COLUMN</code> also "
            "tests the model's performance on the two files.</p></section>")


def render_report(
    *,
    title: str,
    monitor: str | None,
    model: str | None,
    window: tuple[datetime | None, datetime] | None,
    reference_version: int | None,
    run: Run,
    bundle_profile: ReferenceProfile | None,
    current: pd.DataFrame,
    notes: Sequence[str] = (),
    json_href: str | None = None,
    files: ReportFiles | None = None,
) -> str:
    """One self-contained HTML page reporting ``run``.

    ``bundle_profile`` is the reference the run was tested against and ``current`` the window's
    rows (conformed to the schema's types); both only feed the charts. ``notes`` are shown under
    the header (e.g. that the window could not be re-read); ``json_href`` links the run's JSON.
    ``files`` makes it the report of two files (``driftline report``): the header names the files
    and their rows instead of a monitor, window, reference version and run, and the page has no
    prediction, target or performance sections, which a file check does not compute.
    """
    ordered = by_drift(run.features)
    body = [_header(title=title, monitor=monitor, model=model, window=window,
                    reference_version=reference_version, run=run, json_href=json_href, files=files)]
    if notes:
        body.append('<ul class="notes">' + "".join(f"<li>{e(n)}</li>" for n in notes) + "</ul>")
    body += [_overview(run, ordered), _columns(ordered), _charts(ordered, bundle_profile, current), _quality(ordered)]
    if run.segments is not None:
        body.append(segments_section(run))
    if run.multivariate:
        body.append(multivariate_section(run))
    if files is None:
        body += [_roles(ordered), _performance(run)]
        if run.estimates:
            body.append(estimate_section(run))
        body.append("<footer>Tables show the run's stored results; the charts are drawn from the reference "
                    "profile and the window's rows as read when this page was rendered.</footer>")
    else:
        body.append(_file_performance())
        body.append(f"<footer>Tables show the check of {e(files.current)} against {e(files.reference)}; the charts "
                    "are drawn from the reference file's profile and the current file's rows.</footer>")
    return page(title, "\n".join(body), script=True)
