"""The HTTP API (``/v1``): routes, response schemas, dependencies, API keys and error mapping.

:func:`monitor.app.create_app` assembles it; nothing here is created per process.
"""

from __future__ import annotations

from monitor.api.deps import ServiceLike, StoreLike
from monitor.api.errors import install_error_handlers
from monitor.api.routes import ROUTERS

__all__ = ["ROUTERS", "ServiceLike", "StoreLike", "install_error_handlers"]
