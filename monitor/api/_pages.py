"""HTML pages as responses: the report's content policy, and headers that a ``<meta>`` cannot carry.

``frame-ancestors`` is ignored in a ``<meta>`` policy, and ``nosniff`` only exists as a header,
so both travel on the response: no other site may frame a report (clickjacking), and a browser
never reads a page as anything but the declared ``text/html``.

The API docs (``/docs``, ``/redoc``) run scripts, so they get a policy of their own
(:func:`docs_policy`): scripts only from this origin plus each inline script by its SHA-256 hash,
fetches only to this origin, and still nothing framed, nothing from another host.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Iterable
from typing import Final

from fastapi.responses import HTMLResponse

from monitor.reports import CONTENT_SECURITY_POLICY

__all__ = ["PAGE_HEADERS", "docs_policy", "html_page", "page_headers", "script_hash"]

_FRAMING: Final = "frame-ancestors 'none'"


def page_headers(policy: str) -> dict[str, str]:
    """The headers of an HTML page whose Content-Security-Policy is ``policy`` (plus frame-ancestors)."""
    return {
        "Content-Security-Policy": f"{policy}; {_FRAMING}",
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",  # frame-ancestors for browsers that predate CSP level 2
        "Referrer-Policy": "no-referrer",
    }


#: The headers of every HTML page the API serves (reports and the index: no script but the report's own, by hash).
PAGE_HEADERS: Final[dict[str, str]] = page_headers(CONTENT_SECURITY_POLICY)


def script_hash(source: str) -> str:
    """The CSP source expression allowing the inline script ``source`` (its exact text) by hash."""
    digest = hashlib.sha256(source.encode()).digest()
    return f"'sha256-{base64.b64encode(digest).decode()}'"


def docs_policy(inline_scripts: Iterable[str], *, workers: bool = False) -> str:
    """The policy of an API docs page: its scripts, styles, images and fetches from this origin only.

    ``style-src 'unsafe-inline'`` as on the reports (Swagger UI and ReDoc set styles at run time);
    ``workers`` allows ReDoc's search worker, which it starts from a ``blob:`` URL.
    """
    scripts = " ".join(["'self'", *(script_hash(s) for s in inline_scripts)])
    policy = (f"default-src 'none'; script-src {scripts}; style-src 'self' 'unsafe-inline'; "
              "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; base-uri 'none'; form-action 'none'")
    return f"{policy}; worker-src blob:" if workers else policy


def html_page(page: str, headers: dict[str, str] = PAGE_HEADERS) -> HTMLResponse:
    """``page`` as a ``text/html`` response with ``headers`` (:data:`PAGE_HEADERS` by default)."""
    return HTMLResponse(page, headers=headers)
