"""Argument checks shared by the drift methods; messages echo the bad value and what was wanted."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitor.errors import InsufficientData

__all__ = ["check_alpha", "check_threshold", "counts_pair", "finite_1d", "require_size"]


def check_alpha(alpha: float) -> float:
    """Return ``alpha`` if it is a significance level in (0, 1), else raise ``ValueError``."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha ({alpha}) must be in the open interval (0, 1)")
    return float(alpha)


def check_threshold(threshold: float) -> float:
    """Return a distance threshold if it is finite and >= 0, else raise ``ValueError``."""
    if not (np.isfinite(threshold) and threshold >= 0.0):
        raise ValueError(f"threshold ({threshold}) must be a finite number >= 0")
    return float(threshold)


def require_size(values: NDArray[np.generic], name: str, needed: int) -> None:
    """Raise ``InsufficientData`` when ``values`` has fewer than ``needed`` elements."""
    if values.size < needed:
        raise InsufficientData(
            f"{name} has {values.size} finite values; this test needs at least {needed}",
            needed=needed,
            got=int(values.size),
        )


def finite_1d(values: ArrayLike, name: str, *, needed: int = 1) -> NDArray[np.float64]:
    """Return the finite values of a 1-d sample as float64.

    NaN and ±inf are dropped here because the callers (drift methods) test distributions of
    observed values; the column-level check counts and reports missing values before it
    gets here, so nothing is dropped silently.
    """
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        arr = arr[np.isfinite(arr)]
    require_size(arr, name, needed)
    return arr


def counts_pair(
    reference: ArrayLike, current: ArrayLike
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Validate two aligned count vectors (same length, finite, >= 0, each with a positive sum)."""
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(current, dtype=np.float64)
    if ref.ndim != 1 or cur.ndim != 1:
        raise ValueError("counts must be one-dimensional")
    if ref.shape != cur.shape:
        raise ValueError(
            f"reference counts ({ref.size} categories) and current counts ({cur.size}) "
            "must be aligned on the same categories"
        )
    for arr, name in ((ref, "reference"), (cur, "current")):
        if not np.isfinite(arr).all() or (arr < 0).any():
            raise ValueError(f"{name} counts must be finite and >= 0")
        total = arr.sum()
        if total <= 0:
            raise InsufficientData(f"{name} counts sum to {total}; need at least one observation",
                                   needed=1, got=0)
    return ref, cur
