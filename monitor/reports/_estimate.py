"""The report's estimated-performance section: estimate, band and realized value on one axis.

One inline SVG (no script, no library): a row per metric on a shared [0, 1] axis (errors, MAE and
RMSE, on [0, the largest value]); the band is a bar from ``lower`` to ``upper``, the estimate a
circle, the realized value a diamond. A table below gives the numbers and the status; the honesty
checks that fired are listed, since they say when not to trust the estimate.
"""

from __future__ import annotations

from monitor.domain import Run
from monitor.reports._html import e, fmt, pct
from monitor.stats.estimation.types import Estimate

__all__ = ["estimate_section"]

_WIDTH, _ROW, _LEFT, _RIGHT, _TOP = 640, 26, 110, 20, 30
_UNTRUSTED = '<span class="yes">no</span>'
_BOUNDED = {"accuracy", "precision", "recall", "f1", "specificity", "roc_auc"}


def _scale(estimates: tuple[Estimate, ...]) -> float:
    if all(str(x.metric) in _BOUNDED for x in estimates):
        return 1.0
    values = [v for x in estimates for v in (x.estimated, x.upper, x.realized) if v is not None]
    return max([*values, 1e-12]) * 1.05


def _chart(estimates: tuple[Estimate, ...]) -> str:
    top = _scale(estimates)
    plot = _WIDTH - _LEFT - _RIGHT
    height = _TOP + _ROW * len(estimates) + 24

    def x(value: float) -> float:
        return _LEFT + plot * min(max(value / top, 0.0), 1.0)

    parts = []
    for tick in (0.0, top / 2, top):
        parts.append(f'<line class="grid" x1="{x(tick):.1f}" y1="{_TOP - 8}" x2="{x(tick):.1f}" '
                     f'y2="{height - 20}"/><text class="tick" x="{x(tick):.1f}" y="{height - 6}" '
                     f'text-anchor="middle">{tick:.2g}</text>')
    for i, est in enumerate(estimates):
        cy = _TOP + _ROW * i + _ROW / 2
        name = e(str(est.metric))
        parts.append(f'<text class="legend" x="{_LEFT - 8}" y="{cy + 4:.1f}" text-anchor="end">{name}</text>')
        if est.lower is not None and est.upper is not None:
            parts.append(f'<rect class="est-band" data-metric="{name}" x="{x(est.lower):.1f}" y="{cy - 6:.1f}" '
                         f'width="{max(x(est.upper) - x(est.lower), 1.0):.1f}" height="12"><title>{name}: band '
                         f'{fmt(est.lower)} to {fmt(est.upper)}</title></rect>')
        if est.estimated is not None:
            parts.append(f'<circle class="est-point" data-metric="{name}" cx="{x(est.estimated):.1f}" cy="{cy:.1f}" '
                         f'r="5"><title>{name}: estimated {fmt(est.estimated)}</title></circle>')
        if est.realized is not None:
            rx = x(est.realized)
            parts.append(f'<path class="realized-point" data-metric="{name}" d="M{rx:.1f},{cy - 7:.1f} '
                         f'L{rx + 7:.1f},{cy:.1f} L{rx:.1f},{cy + 7:.1f} L{rx - 7:.1f},{cy:.1f} Z"><title>{name}: '
                         f'realized {fmt(est.realized)} ({pct(est.coverage)} labelled)</title></path>')
    legend = ('<rect class="swatch est-band" x="110" y="6" width="14" height="10"/><text class="legend" x="128" '
              'y="15">band (3 SE)</text><circle class="est-point" cx="220" cy="11" r="5"/><text class="legend" '
              'x="230" y="15">estimated</text><path class="realized-point" d="M320,4 L327,11 L320,18 L313,11 Z"/>'
              '<text class="legend" x="332" y="15">realized</text>')
    return (f'<svg class="estimate-chart" role="img" aria-label="estimated and realized performance" '
            f'viewBox="0 0 {_WIDTH} {height}" width="{_WIDTH}" height="{height}">{legend}{"".join(parts)}</svg>')


def estimate_section(run: Run) -> str:
    """The section, or an empty string when the run estimated nothing."""
    if not run.estimates:
        return ""
    rows = "".join(
        f'<tr class="estimate-row" data-metric="{e(str(x.metric))}" data-status="{e(str(x.status))}">'
        f'<td>{e(str(x.metric))}</td><td class="num">{fmt(x.estimated)}</td><td class="num">{fmt(x.lower)}</td>'
        f'<td class="num">{fmt(x.upper)}</td><td class="num">{fmt(x.realized)}</td><td class="num">{pct(x.coverage)}</td>'
        f'<td>{e(str(x.status))}</td><td>{_UNTRUSTED if x.warnings else "yes"}</td></tr>'
        for x in run.estimates)
    head = "".join(f"<th>{h}</th>" for h in ("Metric", "Estimated", "Lower", "Upper", "Realized", "Labelled",
                                              "Status", "Trusted"))
    warnings = run.estimate_warnings
    listed = ("" if not warnings else '<ul class="estimate-warnings">' + "".join(
        f'<li data-code="{e(w["code"])}"><strong>{e(w["code"])}</strong>: {e(w["message"])}</li>' for w in warnings)
        + "</ul>")
    return (f'<section id="estimated-performance"><h2>Estimated performance</h2>'
            f'<p class="muted">Estimated on every row of the window before the labels arrive (CBPE or DLE, fitted '
            f"on the labelled reference), with the realized value over the rows labelled so far.</p>"
            f"{_chart(run.estimates)}<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>"
            f"{listed}</section>")
