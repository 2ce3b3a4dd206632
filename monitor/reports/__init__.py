"""HTML drift reports: one self-contained page per run, drawn from the run's stored results."""

from monitor.reports._html import CSP as CONTENT_SECURITY_POLICY
from monitor.reports.index import MonitorEntry, render_index
from monitor.reports.pages import REPORT_CACHE_SIZE, ReportPages
from monitor.reports.render import ReportFiles, render_report

__all__ = ["CONTENT_SECURITY_POLICY", "REPORT_CACHE_SIZE", "MonitorEntry", "ReportFiles", "ReportPages", "render_index",
           "render_report"]
