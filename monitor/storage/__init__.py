"""Driftline's own database: prediction logs, reference versions, runs and their results.

``Store.from_url(url, config)`` then ``store.upgrade()`` at start-up; see :mod:`monitor.storage.store`.
"""

from monitor.storage.store import Store

__all__ = ["Store"]
