"""Inline SVG bar charts of a :class:`~monitor.reports._distribution.Distribution`.

Hand-written SVG rather than a plotting library: a chart is a few dozen rectangles, the page
must stay self-contained (no CDN, no image files, nothing drawn by script), and hover text comes free from
SVG ``<title>`` elements. Every label is escaped here, since category names are user data.
"""

from __future__ import annotations

import math
from html import escape

from monitor.reports._distribution import Distribution

__all__ = ["dist_chart"]

_WIDTH, _HEIGHT = 640, 240
# The left margin holds the widest tick label, "100.0%" (about 42 px at the page's 12 px): the
# tick text ends 6 px left of the axis, so 64 leaves it 16 px to spare. Measured in Chromium by
# tests/reports/test_report_browser.py (every text's box inside the svg).
_LEFT, _RIGHT, _TOP, _BOTTOM = 64, 10, 26, 88
_TICK_GAP = 6
_LABEL_CHARS = 15
# Rotated x labels end at their bar and run down-left at 35 degrees: a label near the left edge is
# cut to what fits between its bar and the edge, at a generous 9 px per character (cos 35 = 0.82).
_CHAR_PX, _COS_35 = 9.0, 0.82


def _nice_max(value: float) -> float:
    """The y-axis top: the largest share rounded up to 1, 2 or 5 times a power of ten."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    return next(step * power for step in (1, 2, 2.5, 5, 10) if value <= step * power)


def _pct(share: float) -> str:
    return f"{100 * share:.1f}%"


def _short(label: str, room_px: float) -> str:
    """``label`` cut with an ellipsis to at most :data:`_LABEL_CHARS`, and to what ``room_px`` to the left holds."""
    chars = max(3, min(_LABEL_CHARS, int(room_px / (_CHAR_PX * _COS_35))))
    return label if len(label) <= chars else label[: chars - 1] + "…"


def dist_chart(dist: Distribution, *, column: str, drifted: bool) -> str:
    """One ``<svg class="dist-chart">``: reference and current share per bin or category."""
    plot_w, plot_h = _WIDTH - _LEFT - _RIGHT, _HEIGHT - _TOP - _BOTTOM
    top = _nice_max(max([*dist.reference, *(dist.current or ())], default=0.0))
    n = max(len(dist.labels), 1)
    group = plot_w / n
    bar = group * (0.38 if dist.current is not None else 0.7)
    base_y = _TOP + plot_h

    def y(share: float) -> float:
        return base_y - plot_h * (share / top)

    parts: list[str] = []
    for tick in (0.0, top / 2, top):
        ty = y(tick)
        parts.append(f'<line class="grid" x1="{_LEFT}" y1="{ty:.1f}" x2="{_WIDTH - _RIGHT}" y2="{ty:.1f}"/>'
                     f'<text class="tick" x="{_LEFT - _TICK_GAP}" y="{ty + 3:.1f}" text-anchor="end">{_pct(tick)}</text>')
    for i, label in enumerate(dist.labels):
        x0 = _LEFT + i * group + (group - (2 * bar if dist.current is not None else bar)) / 2
        name = escape(label)
        ref = dist.reference[i]
        parts.append(f'<rect class="bar-ref" x="{x0:.1f}" y="{y(ref):.1f}" width="{bar:.1f}" '
                     f'height="{base_y - y(ref):.1f}"><title>{name}: reference {_pct(ref)}</title></rect>')
        if dist.current is not None:
            cur = dist.current[i]
            cls = "bar-cur new" if dist.new[i] else "bar-cur"
            parts.append(f'<rect class="{cls}" x="{x0 + bar:.1f}" y="{y(cur):.1f}" width="{bar:.1f}" '
                         f'height="{base_y - y(cur):.1f}"><title>{name}: current {_pct(cur)}'
                         f'{" (new category)" if dist.new[i] else ""}</title></rect>')
        cx = _LEFT + (i + 0.5) * group
        cls = "xlabel new" if dist.new[i] else "xlabel"
        parts.append(f'<text class="{cls}" transform="translate({cx:.1f},{base_y + 10:.1f}) rotate(-35)" '
                     f'text-anchor="end">{escape(_short(label, cx - 4))}<title>{name}</title></text>')
    parts.append(f'<line class="axis" x1="{_LEFT}" y1="{base_y}" x2="{_WIDTH - _RIGHT}" y2="{base_y}"/>')
    legend = [("bar-ref", "reference"), ("bar-cur", "current" if dist.current is not None else "current: no values")]
    if any(dist.new):
        legend.append(("bar-cur new", "new category"))
    lx = _LEFT
    for cls, text in legend:
        parts.append(f'<rect class="swatch {cls}" x="{lx}" y="6" width="10" height="10"/>'
                     f'<text class="legend" x="{lx + 14}" y="15">{escape(text)}</text>')
        lx += 24 + 7 * len(text)
    label = escape(f"{column}: reference vs current distribution")
    cls = "dist-chart drifted" if drifted else "dist-chart"
    return (f'<svg class="{cls}" data-feature="{escape(column)}" data-kind="{dist.kind}" role="img" '
            f'aria-label="{label}" viewBox="0 0 {_WIDTH} {_HEIGHT}" width="{_WIDTH}" height="{_HEIGHT}">'
            + "".join(parts) + "</svg>")
