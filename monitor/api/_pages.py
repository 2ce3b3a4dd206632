"""HTML pages as responses: the report's content policy, and headers that a ``<meta>`` cannot carry.

``frame-ancestors`` is ignored in a ``<meta>`` policy, and ``nosniff`` only exists as a header,
so both travel on the response: no other site may frame a report (clickjacking), and a browser
never reads a page as anything but the declared ``text/html``.
"""

from __future__ import annotations

from typing import Final

from fastapi.responses import HTMLResponse

from monitor.reports import CONTENT_SECURITY_POLICY

__all__ = ["PAGE_HEADERS", "html_page"]

#: The headers of every HTML page the API serves.
PAGE_HEADERS: Final[dict[str, str]] = {
    "Content-Security-Policy": f"{CONTENT_SECURITY_POLICY}; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate CSP level 2
    "Referrer-Policy": "no-referrer",
}


def html_page(page: str) -> HTMLResponse:
    """``page`` as a ``text/html`` response with :data:`PAGE_HEADERS`."""
    return HTMLResponse(page, headers=PAGE_HEADERS)
