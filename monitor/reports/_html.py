"""Small HTML helpers shared by the report and the service's index page: escaping, numbers, the page shell.

Every string that reaches HTML goes through :func:`e` (``html.escape`` with quotes), so a column
named ``<script>`` is text, never markup. Pages carry a Content-Security-Policy that allows
inline styles and exactly one script, the report's own :data:`SCRIPT` (filter and sort), by its
SHA-256 hash computed here from the same text the page embeds: nothing else runs and nothing is
fetched, even if an escape were ever missed, and the page renders the same offline, from a file
or from the service. Without the script (disabled, or an edited page) the report still reads:
ordered, summarised and with its charts in ``<details>``; only the filter box stays hidden.
"""

from __future__ import annotations

import base64
import hashlib
import math
from datetime import UTC, datetime
from html import escape

__all__ = ["CSP", "SCRIPT", "SCRIPT_HASH", "attr_number", "e", "fmt", "page", "pct", "sort_number", "when"]

#: The report's only script: reveals the filter controls, filters every ``.filterable`` element by
#: its ``data-feature`` (and ``data-drifted``), sorts ``#columns-table`` by a clicked header
#: (``data-sort`` of a cell when present, else its text), and opens a ``<details>`` chart that a
#: link points at. No user data is in it; it reads only the page's own attributes.
SCRIPT = """
(function () {
  "use strict";
  var doc = document, controls = doc.getElementById("controls");
  if (!controls) { return; }
  controls.hidden = false;
  var box = doc.getElementById("filter"), only = doc.getElementById("only-drifted");
  var count = doc.getElementById("filter-count"), items = doc.querySelectorAll(".filterable");
  function apply() {
    var q = box.value.trim().toLowerCase(), shown = 0, total = 0;
    items.forEach(function (el) {
      var ok = (!q || el.getAttribute("data-feature").toLowerCase().indexOf(q) >= 0) &&
        (!only.checked || el.getAttribute("data-drifted") === "true");
      el.hidden = !ok;
      if (el.classList.contains("feature-row")) { total += 1; if (ok) { shown += 1; } }
    });
    count.textContent = shown + " of " + total + " columns shown";
  }
  box.addEventListener("input", apply);
  only.addEventListener("change", apply);
  var table = doc.getElementById("columns-table");
  var heads = table ? Array.prototype.slice.call(table.querySelectorAll("th[data-sort]")) : [];
  heads.forEach(function (th) {
    th.querySelector("button").addEventListener("click", function () {
      var col = th.cellIndex, numeric = th.getAttribute("data-sort") === "number";
      var dir = th.getAttribute("aria-sort") === "ascending" ? -1 : 1;
      heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", dir > 0 ? "ascending" : "descending");
      var body = table.tBodies[0];
      var keyed = Array.prototype.slice.call(body.rows).map(function (row, i) {
        var cell = row.cells[col], raw = cell.getAttribute("data-sort");
        var v = raw !== null ? raw : cell.textContent.trim();
        return {row: row, i: i, v: numeric ? (v === "" ? NaN : Number(v)) : v.toLowerCase()};
      });
      keyed.sort(function (a, b) {
        if (numeric) {
          var an = isNaN(a.v), bn = isNaN(b.v);
          if (an || bn) { return an === bn ? a.i - b.i : (an ? 1 : -1); }
          if (a.v !== b.v) { return (a.v < b.v ? -1 : 1) * dir; }
        } else {
          var c = a.v.localeCompare(b.v);
          if (c !== 0) { return c * dir; }
        }
        return a.i - b.i;
      });
      keyed.forEach(function (k) { body.appendChild(k.row); });
    });
  });
  function reveal() {
    var el = location.hash.length > 1 ? doc.getElementById(decodeURIComponent(location.hash.slice(1))) : null;
    if (el && el.tagName === "DETAILS") { el.open = true; }
  }
  window.addEventListener("hashchange", reveal);
  reveal();
}());
"""

#: The CSP source expression of :data:`SCRIPT`: the SHA-256 of exactly the text between its tags.
SCRIPT_HASH = "'sha256-" + base64.b64encode(hashlib.sha256(SCRIPT.encode("utf-8")).digest()).decode("ascii") + "'"

#: Inline styles, and no script but :data:`SCRIPT` (by hash); ``img-src data:`` lets the empty
#: favicon link stop a favicon request.
CSP = f"default-src 'none'; style-src 'unsafe-inline'; img-src data:; script-src {SCRIPT_HASH}"

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
[hidden]{display:none!important}
.counts{display:flex;flex-wrap:wrap;gap:6px 22px;margin:10px 0 4px;padding:0;list-style:none}
.counts b{font-size:18px}
ol.top{margin:4px 0 0;padding-left:22px}
#controls{display:flex;flex-wrap:wrap;gap:6px 16px;align-items:center;margin:4px 0 6px}
#controls input[type=search]{font:inherit;padding:4px 8px;min-width:18rem;border:1px solid var(--line);border-radius:6px}
.scroll{max-height:30rem;overflow:auto;border:1px solid var(--line);border-radius:6px;margin:6px 0 10px}
.scroll table{margin:0}.scroll thead th{position:sticky;top:0;z-index:1}
th button{font:inherit;font-weight:600;color:inherit;background:none;border:0;padding:0;cursor:pointer;text-align:left}
th[aria-sort=ascending] button::after{content:" \\25B2"}th[aria-sort=descending] button::after{content:" \\25BC"}
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(265px,1fr));gap:8px 12px;grid-auto-flow:dense}
details.feature{border:1px solid var(--line);border-radius:6px;padding:5px 10px;min-width:0}
details.feature[open]{grid-column:span 2}details.feature.drifted{border-color:var(--drift)}
details.feature summary{cursor:pointer;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}
details.feature summary .name{font-weight:600}
@media (max-width:640px){details.feature[open]{grid-column:auto}}
svg.dist-chart{width:100%;max-width:640px;height:auto;display:block}
svg .bar-ref{fill:var(--ref)}svg .bar-cur{fill:var(--cur)}svg .bar-cur.new{fill:var(--new)}
svg .est-band{fill:var(--ref);opacity:.45}svg .est-point{fill:var(--cur)}svg .realized-point{fill:var(--new)}
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


def sort_number(value: float | None) -> str:
    """A number for a ``data-sort`` attribute, as JavaScript's ``Number()`` reads it; empty for none or NaN."""
    if value is None or math.isnan(value):
        return ""
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(float(value))


def page(title: str, body: str, *, script: bool = False) -> str:
    """A complete, self-contained HTML document around ``body`` (already HTML), with :data:`SCRIPT` if asked."""
    tail = f"<script>{SCRIPT}</script>" if script else ""
    return (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        f"<meta http-equiv=\"Content-Security-Policy\" content=\"{CSP}\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        "<link rel=\"icon\" href=\"data:,\">"
        f"<title>{e(title)}</title><style>{_CSS}</style></head>\n<body><main>\n{body}\n</main>{tail}</body></html>\n"
    )
