"""Small HTML helpers shared by the report and the service's index page: escaping, numbers, the page shell.

Every string that reaches HTML goes through :func:`e` (``html.escape`` with quotes), so a column
named ``<script>`` is text, never markup. Pages carry a Content-Security-Policy that allows
inline styles and nothing else: no script runs and nothing is fetched, even if an escape were
ever missed, and the page renders the same offline, from a file or from the service.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from html import escape

__all__ = ["CSP", "attr_number", "e", "fmt", "page", "pct", "when"]

#: Inline styles only; ``img-src data:`` lets the empty favicon link stop a favicon request.
CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

_CSS = """
:root{--ink:#1f2328;--muted:#59636e;--line:#d0d7de;--bg:#f6f8fa;--ok:#1a7f37;--drift:#cf222e;
--warn:#9a6700;--ref:#7b93c4;--cur:#f08a4b;--new:#cf222e}
*{box-sizing:border-box}
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif;
color:var(--ink);margin:0;background:#fff}
main{max-width:1180px;margin:0 auto;padding:20px 28px 48px}
h1{font-size:22px;margin:0 0 8px}h2{font-size:18px;margin:28px 0 10px;padding-bottom:4px;
border-bottom:1px solid var(--line)}h3{font-size:15px;margin:0 0 4px}
dl.meta{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:0 0 12px}
dl.meta dt{color:var(--muted)}dl.meta dd{margin:0}
.verdict{padding:10px 14px;border-radius:6px;font-weight:600;border:1px solid var(--line);background:var(--bg)}
.verdict.drift{border-color:var(--drift);color:var(--drift);background:#ffebe9}
.verdict.ok{border-color:var(--ok);color:var(--ok);background:#dafbe1}
.status{font-weight:600}.status-drift,.status-error{color:var(--drift)}.status-ok{color:var(--ok)}
.status-insufficient_data{color:var(--warn)}
.notes{color:var(--warn)}
table{border-collapse:collapse;width:100%;margin:6px 0 10px;font-variant-numeric:tabular-nums}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid var(--line);vertical-align:top}
th{background:var(--bg);font-weight:600}td.num{text-align:right}
tr.drifted td{background:#fff5f5}.yes{color:var(--drift);font-weight:600}.no{color:var(--ok)}
.untested{color:var(--warn)}.muted{color:var(--muted)}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(480px,1fr));gap:14px}
article.feature{border:1px solid var(--line);border-radius:6px;padding:10px 12px}
article.feature.drifted{border-color:var(--drift)}
svg.dist-chart{width:100%;max-width:640px;height:auto;display:block}
svg .bar-ref{fill:var(--ref)}svg .bar-cur{fill:var(--cur)}svg .bar-cur.new{fill:var(--new)}
svg .grid{stroke:#eaeef2}svg .axis{stroke:#8c959f}
svg text{font-size:12px;fill:var(--muted)}svg .xlabel.new{fill:var(--new);font-weight:600}
svg .legend{fill:var(--ink)}
footer{margin-top:32px;color:var(--muted);font-size:12px}
a{color:#0969da}
"""


def e(text: object) -> str:
    """Escape any value for HTML text or a quoted attribute."""
    return escape(str(text), quote=True)


def fmt(value: float | None) -> str:
    """A statistic for people: four significant digits, ``–`` for none, ``∞`` for infinity."""
    if value is None or math.isnan(value):
        return "–"
    if math.isinf(value):
        return "∞" if value > 0 else "-∞"
    return f"{value:.3g}" if value != 0 and abs(value) < 1e-3 else f"{value:.4f}"


def attr_number(value: float | None) -> str:
    """A number for a ``data-*`` attribute: ``repr`` round-trips a float exactly; empty for none."""
    return "" if value is None else repr(float(value))


def pct(share: float | None) -> str:
    """A share as a percentage."""
    return "–" if share is None else f"{100 * share:.1f}%"


def when(value: datetime) -> str:
    """A time in UTC, to the second."""
    aware = value if value.tzinfo else value.replace(tzinfo=UTC)
    return aware.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def page(title: str, body: str) -> str:
    """A complete, self-contained HTML document around ``body`` (already HTML)."""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<link rel=\"icon\" href=\"data:,\">"
        f"<title>{e(title)}</title><style>{_CSS}</style></head>\n<body><main>\n{body}\n</main></body></html>\n"
    )
