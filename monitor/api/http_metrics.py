"""Per-process series for ``/metrics``: HTTP requests by route template, and the process itself.

The drift series are read from the store (every replica serves the same numbers); these are
counted in this process, so each replica reports its own. :class:`LiveMetrics` holds them in a
registry of its own (built by ``create_app``, never at import time): prometheus_client's
``ProcessCollector`` (``process_*``: CPU, memory, open files, start time) and
``PlatformCollector`` (``python_info``), and

- ``driftline_http_requests_total{route, method, status}``
- ``driftline_http_request_duration_seconds{route}`` (a histogram)

Bounded labels: ``route`` is the matched route's template (``/v1/runs/{run_id}``), never the
raw path, and every request no route matched is ``route="unmatched"``; ``method`` is one of
:data:`METHODS` or ``other``; ``status`` is the status the app sent. So the request counter has
at most (routes + 1) x 8 x (statuses the app sends) series (each with its ``_created``), and the
histogram (routes + 1) x (``len(BUCKETS)`` + 4): its buckets, ``+Inf``, ``_sum``, ``_count`` and
``_created``.

:class:`HttpMetricsMiddleware` is pure ASGI (no ``BaseHTTPMiddleware``): it reads the route
Starlette's router leaves in the scope, and adds one dictionary lookup, a counter increment and
a histogram observation to each request.
"""

from __future__ import annotations

import time
from typing import Final

from prometheus_client import CollectorRegistry, Counter, Histogram, PlatformCollector, ProcessCollector, generate_latest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["BUCKETS", "METHODS", "UNMATCHED", "HttpMetricsMiddleware", "LiveMetrics"]

#: The ``method`` label values; any other method is counted as ``other``.
METHODS: Final = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: The ``route`` label of a request that matched no route (404s, redirects to a slash).
UNMATCHED: Final = "unmatched"
#: Upper bounds (seconds) of the request-duration histogram.
BUCKETS: Final = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class LiveMetrics:
    """The per-process registry: process and platform collectors, and the HTTP request series."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        self._requests = Counter("driftline_http_requests", "HTTP requests served, by route template, method and status.",
                                 ["route", "method", "status"], registry=self.registry)
        self._duration = Histogram("driftline_http_request_duration_seconds",
                                   "Time to serve an HTTP request, by route template.", ["route"],
                                   buckets=BUCKETS, registry=self.registry)
        self._children: dict[tuple[str, str, int], tuple[Counter, Histogram]] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one request and its duration."""
        key = (route, method if method in METHODS else "other", status)
        children = self._children.get(key)
        if children is None:
            children = (self._requests.labels(key[0], key[1], str(status)), self._duration.labels(route))
            self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> bytes:
        """The exposition text of this registry (reads ``/proc``: call it off the event loop)."""
        return generate_latest(self.registry)


class HttpMetricsMiddleware:
    """Counts every HTTP request by its route template, method and status, and times it."""

    def __init__(self, app: ASGIApp, metrics: LiveMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # an exception before the response started: the server answers 500

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            # The router puts the matched route (or the one that matched the path but not the
            # method) into the scope it was given, which is this one.
            path = getattr(scope.get("route"), "path", None)
            route = path if isinstance(path, str) and path else UNMATCHED
            self.metrics.observe(route, scope["method"], status, time.perf_counter() - start)
