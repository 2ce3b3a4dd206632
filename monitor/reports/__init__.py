"""HTML drift reports: one self-contained page per run, drawn from the run's stored results."""

from monitor.reports._html import CSP as CONTENT_SECURITY_POLICY
from monitor.reports.index import MonitorEntry, render_index
from monitor.reports.render import render_report

__all__ = ["CONTENT_SECURITY_POLICY", "MonitorEntry", "render_index", "render_report"]
