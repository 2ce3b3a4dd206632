"""The reference registry: fits references, stores each content once, and caches fitted ones.

A fitted reference holds a sorted copy of every numerical column, so the cache is bounded
(:data:`DEFAULT_CACHE_SIZE` entries, least recently used dropped first) instead of growing with
every version ever promoted. Versions are read one at a time by ``(monitor, version)``; listing
versions never reads their profiles.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable

import pandas as pd

from monitor.domain import Monitor, PredictionSource, ReferenceRecord, ReferenceStore, WindowSpec
from monitor.errors import InputError
from monitor.run.evaluate import ReferenceBundle, fit_reference
from monitor.run.seasonal import DynamicReference, DynamicReferences
from monitor.stats.profile import FORMAT_VERSION as PROFILE_FORMAT

__all__ = ["DEFAULT_CACHE_SIZE", "ReferenceRegistry", "input_hash"]

#: Fitted references kept in memory: a few per monitor of a typical deployment.
DEFAULT_CACHE_SIZE = 16


def input_hash(monitor: Monitor, chunks: Iterable[bytes]) -> str:
    """What a fit depends on, hashed: the input's bytes, the monitor's schema and the fit's code.

    A change of file, of declared columns and roles, of the multivariate methods or segments
    fitted with the profile, or of the profile format (a new release fitting differently) gives
    a new hash, hence a refit; anything else does not.
    """
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    digest.update(repr(monitor.schema).encode())
    # What else is fitted with the profile (monitor.run.bundle.ReferenceBundle.content_hash).
    digest.update(repr((monitor.multivariate, monitor.segments, monitor.segment_min_rows)).encode())
    digest.update(f"profile-format:{PROFILE_FORMAT}".encode())
    return f"sha256:{digest.hexdigest()}"


class ReferenceRegistry:
    """Fitted references of every monitor, by version, over a :class:`ReferenceStore`.

    Thread-safe: runs of different monitors fetch references from worker threads at once.
    """

    def __init__(self, store: ReferenceStore, *, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        if cache_size < 1:
            raise ValueError(f"cache_size ({cache_size}) must be at least 1")
        self._store = store
        self._cache_size = cache_size
        self._cache: OrderedDict[tuple[str, int], ReferenceBundle] = OrderedDict()
        self._lock = threading.Lock()
        self._dynamic = DynamicReferences(cache_size)

    @property
    def dynamic(self) -> DynamicReferences:
        """Fits of dynamic references (previous_window, rolling, same_period), by their ranges."""
        return self._dynamic

    def of_run(self, monitor: Monitor, version: int | None, ranges: tuple[WindowSpec, ...],
               source: PredictionSource) -> ReferenceBundle | None:
        """The reference a stored run used: its version, or its dynamic ranges refitted (or cached)."""
        if ranges:
            fitted: DynamicReference = self._dynamic.fit(monitor, ranges, source)
            return fitted.bundle
        return self.version(monitor.name, version)

    @property
    def cached(self) -> int:
        """How many fitted references are in memory now (at most the cache size)."""
        return len(self._cache)

    def _remember(self, key: tuple[str, int], bundle: ReferenceBundle) -> ReferenceBundle:
        with self._lock:
            self._cache[key] = bundle
            self._cache.move_to_end(key)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return bundle

    def _cached(self, key: tuple[str, int]) -> ReferenceBundle | None:
        with self._lock:
            bundle = self._cache.get(key)
            if bundle is not None:
                self._cache.move_to_end(key)
            return bundle

    def active(self, monitor: Monitor) -> tuple[int, ReferenceBundle]:
        """The monitor's active reference version and its fit; :class:`InputError` if it has none yet.

        Only the version number is read when its fit is cached: the profile blob (megabytes for a
        large reference) is read once per version, not once per run.
        """
        version = self._store.active_reference_version(monitor.name)
        bundle = self.version(monitor.name, version)
        if version is None or bundle is None:
            raise InputError(f"monitor {monitor.name!r} has no active reference; upload one with "
                             f"POST /v1/monitors/{monitor.name}/reference", field="reference")
        return version, bundle

    def version(self, monitor: str, version: int | None) -> ReferenceBundle | None:
        """A stored version's fitted reference (``None``: no such version is stored)."""
        if version is None:
            return None
        key = (monitor, version)
        bundle = self._cached(key)
        if bundle is not None:
            return bundle
        record = self._store.reference(monitor, version)
        return None if record is None else self._remember(key, ReferenceBundle.from_bytes(record.profile))

    def register(self, monitor: Monitor, frame: pd.DataFrame, source: str) -> ReferenceRecord:
        """Fit ``frame`` and make it the active version (the active one itself if its content is equal)."""
        bundle = fit_reference(monitor, frame)
        active = self._store.active_reference(monitor.name)
        if active is not None and active.content_hash == bundle.content_hash:
            return active
        return self._add(monitor, bundle, source, len(frame))

    def register_once(self, monitor: Monitor, frame: pd.DataFrame | Callable[[], pd.DataFrame], source: str,
                      *, input_hash: str | None = None) -> ReferenceRecord | None:
        """Fit ``frame`` and store it, active, unless a version with the same content was ever stored.

        For references named in the configuration: a restart must not re-activate the file over a
        reference promoted since (by an upload or a retraining job); a changed file is new.

        With ``input_hash`` (:func:`input_hash` of the file's bytes and the monitor) nothing is
        read or fitted when a version was already fitted from that input: ``frame`` may then be
        a function that reads it, called only when needed.
        """
        if input_hash is not None and self._store.has_reference_input(monitor.name, input_hash):
            return None
        bundle = fit_reference(monitor, frame() if callable(frame) else frame)
        if self._store.has_reference_hash(monitor.name, bundle.content_hash):
            if input_hash is not None:
                self._store.remember_reference_input(monitor.name, bundle.content_hash, input_hash)
            return None
        return self._add(monitor, bundle, source, bundle.profile.n_rows, input_hash=input_hash)

    def _add(self, monitor: Monitor, bundle: ReferenceBundle, source: str, n_rows: int,
             *, input_hash: str | None = None) -> ReferenceRecord:
        record = self._store.add_reference(monitor.name, bundle.to_bytes(), bundle.content_hash, source,
                                           n_rows, activate=True, input_hash=input_hash)
        self._remember((monitor.name, record.version), bundle)
        return record
