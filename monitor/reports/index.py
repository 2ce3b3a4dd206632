"""The service's HTML index page: every monitor, its status and its latest runs, with links.

A pure function like :func:`~monitor.reports.render.render_report`: the route reads the store,
this draws. Links are absolute paths on the same service (no host name), so the page works
under any host name and fetches nothing itself.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from monitor.domain import Run, RunStatus
from monitor.reports._html import e, page, when

__all__ = ["MonitorEntry", "render_index"]

#: Runs whose report can be drawn (the others have no results to show).
_REPORTABLE = (RunStatus.OK, RunStatus.DRIFT)


@dataclass(frozen=True, slots=True, kw_only=True)
class MonitorEntry:
    """One monitor on the index: its identity, active reference version and newest runs (newest first)."""

    name: str
    model: str
    reference_version: int | None
    runs: Sequence[Run]


def _run_row(run: Run) -> str:
    verdict = "–" if run.dataset is None else (
        f"{run.dataset.drifted_features} of {run.dataset.total_features} drifted")
    report = (f'<a class="report-link" href="/v1/runs/{e(run.id)}/report">report</a> · '
              if run.status in _REPORTABLE else "")
    return (f'<tr class="run-row" data-run="{e(run.id)}" data-status="{e(run.status)}"><td>{when(run.window_end)}</td>'
            f'<td><span class="status status-{e(run.status)}">{e(run.status)}</span></td><td>{verdict}</td>'
            f'<td class="num">{run.rows}</td><td>{report}<a href="/v1/runs/{e(run.id)}">JSON</a></td></tr>')


def _monitor(entry: MonitorEntry) -> str:
    status = entry.runs[0].status if entry.runs else "never_run"
    name = e(entry.name)
    links = [f'<a href="/v1/monitors/{name}/runs">runs (JSON)</a>',
             f'<a href="/v1/monitors/{name}/references">references (JSON)</a>']
    if any(r.status in _REPORTABLE for r in entry.runs):
        links.insert(0, f'<a href="/v1/monitors/{name}/report">latest report</a>')
    if entry.runs:
        head = "".join(f"<th>{h}</th>" for h in ("Window end", "Status", "Verdict", "Rows", "Links"))
        runs = (f"<table><thead><tr>{head}</tr></thead><tbody>"
                + "".join(_run_row(r) for r in entry.runs) + "</tbody></table>")
    else:
        runs = '<p class="muted">No runs yet.</p>'
    version = "–" if entry.reference_version is None else str(entry.reference_version)
    return (f'<section class="monitor" id="monitor-{name}" data-monitor="{name}" data-status="{e(status)}">'
            f'<h2>{name} <span class="status status-{e(status)}">{e(status)}</span></h2>'
            f'<p>Model {e(entry.model)} · active reference version {version} · {" · ".join(links)}</p>'
            f"{runs}</section>")


def render_index(monitors: Sequence[MonitorEntry], *, version: str, links: Mapping[str, str] | None = None) -> str:
    """The index page: one section per monitor, then links to the API docs and metrics."""
    extra = links if links is not None else {"API docs": "/docs", "Prometheus metrics": "/metrics",
                                             "Monitors (JSON)": "/v1/monitors"}
    nav = " · ".join(f'<a href="{e(href)}">{e(text)}</a>' for text, href in extra.items())
    body = [f'<header><h1>Driftline</h1><p class="muted">Drift monitoring · version {e(version)}</p>'
            f'<p id="links">{nav}</p></header>']
    body += [_monitor(m) for m in monitors] or ['<p class="muted">No monitors are configured.</p>']
    return page("Driftline", "\n".join(body))
