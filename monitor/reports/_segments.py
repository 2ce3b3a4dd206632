"""The report's segment table and the header's line of what drove the verdict.

Both read the run's stored results only: the segment rows as the run kept them (top K per
segment plus ``other``; monitor.domain.segments) and the ranking of
:func:`monitor.domain.localisation.localise` (features by effect size), the same ranking the
alert payload uses, so the page and the alert name the same drivers in the same order.
"""

from __future__ import annotations

import math

from monitor.domain import Run, SegmentKind, SegmentResult
from monitor.domain.localisation import localise
from monitor.reports._html import attr_number, e, pct

__all__ = ["drivers_html", "segments_section"]

_SHOWN = 5


def _ratio(value: float | None) -> str:
    if value is None:
        return "–"
    return "∞×" if math.isinf(value) else f"{value:.3g}×"


def drivers_html(run: Run) -> str:
    """The header's "Drift driven by": features by effect size, drifted segments, multivariate top features."""
    loc = localise(run)
    if loc.empty:
        return '<span id="drivers" class="muted" data-drivers="0">nothing drifted</span>'
    parts = []
    if loc.features:
        named = ", ".join(f'<span class="driver" data-feature="{e(d.feature)}" data-effect-ratio="'
                          f'{attr_number(d.effect_ratio)}">{e(d.feature)}</span> <span class="muted">'
                          f"({e(d.method or '')}, effect {_ratio(d.effect_ratio)})</span>"
                          for d in loc.features[:_SHOWN])
        more = loc.drifted_features - min(_SHOWN, len(loc.features))
        parts.append("features " + named + (f" and {more} more" if more > 0 else ""))
    if loc.segments:
        named = ", ".join(f'<a class="driver-segment" href="#segments" data-segment="{e(s.segment)}" '
                          f'data-value="{e(s.value)}">{e(s.segment)} = {e(s.value)}</a> <span class="muted">'
                          f"({s.drifted_features} of {s.total_features} features)</span>" for s in loc.segments[:_SHOWN])
        more = loc.drifted_segments - min(_SHOWN, len(loc.segments))
        parts.append("segments " + named + (f" and {more} more" if more > 0 else ""))
    for m in loc.multivariate:
        top = ", ".join(e(t.get("feature", t.get("name", "")) if isinstance(t, dict) else t)
                        for t in m.get("top_features", [])[:_SHOWN])
        parts.append(f"{e(m.get('method'))}" + (f" (top features {top})" if top else ""))
    return f'<span id="drivers" data-drivers="{loc.drifted_features + loc.drifted_segments}">{"; ".join(parts)}</span>'


def _row(r: SegmentResult) -> str:
    verdict = '<span class="yes">drift</span>' if r.drifted else '<span class="no">no drift</span>'
    drivers = ", ".join(e(f.feature) for f in r.features if f.drifted) or "–"
    value = (f"other ({r.values} values)" if r.kind is SegmentKind.OTHER else e(r.value))
    return (f'<tr class="segment-row{" drifted" if r.drifted else ""}" data-segment="{e(r.segment)}" '
            f'data-value="{e(r.value)}" data-kind="{e(r.kind)}" data-drifted="{str(r.drifted).lower()}" '
            f'data-drift-share="{attr_number(r.drift_share)}"><td>{e(r.segment)}</td><td>{value}</td>'
            f'<td class="num">{r.rows}</td><td class="num">{r.reference_rows}</td>'
            f'<td class="num">{r.drifted_features} of {r.total_features}</td><td class="num">{pct(r.drift_share)}</td>'
            f'<td class="num">{_ratio(r.effect)}</td><td>{verdict}</td><td>{drivers}</td></tr>')


def _listed(label: str, pairs: tuple[tuple[str, str], ...], total: int, key: str) -> str:
    if not total:
        return ""
    names = ", ".join(f"{e(a)} = {e(b)}" for a, b in pairs)
    more = f" and {total - len(pairs)} more" if total > len(pairs) else ""
    return f'<p id="segments-{key}" data-count="{total}">{label} ({total}): {names}{more}.</p>'


def segments_section(run: Run) -> str:
    """The segment table, drifted values first (by drift share, then effect), then new, gone and small values."""
    s = run.segments
    if s is None:
        return ""
    rows = sorted(s.results, key=lambda r: (not r.drifted, r.kind is SegmentKind.OTHER, -r.drift_share,
                                            -(r.effect if r.effect is not None else -math.inf), r.segment, r.value))
    head = "".join(f"<th>{h}</th>" for h in ("Segment", "Value", "Rows", "Reference rows", "Drifted features",
                                             "Share", "Effect", "Verdict", "Drifted"))
    body = "".join(_row(r) for r in rows) or f'<tr><td colspan="9" class="muted">No segment value had {s.min_rows} ' \
                                               "rows in both the window and the reference.</td></tr>"
    total = {k: sum(getattr(c, k) for c in s.counts) for k in ("tested", "drifted", "new", "gone", "small")}
    intro = (f'<p class="muted">{total["tested"]} segment values tested against the same values of the reference '
             f"(at least {s.min_rows} rows on both sides), {total['drifted']} drifted; Benjamini-Hochberg across "
             f"{s.tests} segment x feature tests. The {s.top_k} most drifted values of each segment are kept, the "
             "rest are summed as other.</p>")
    extra = (_listed("New in the window", s.new, total["new"], "new")
             + _listed("Gone from the window", s.gone, total["gone"], "gone")
             + _listed(f"Too few rows to test (fewer than {s.min_rows})", s.small, total["small"], "small"))
    note = f'<p class="notes">{e(s.note)}</p>' if s.note else ""
    return (f'<section id="segments"><h2>Segments</h2>{intro}{note}<div class="scroll"><table id="segments-table">'
            f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table></div>{extra}</section>")

