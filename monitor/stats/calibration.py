"""The calibrated verdict: effect floors, size-free effect measures and null quantiles.

Why: a fixed distance threshold ignores the window size. A 30-row window drawn from the
reference's own population has a Wasserstein distance around 0.2 reference standard deviations
by chance alone, so a fixed 0.1 fires on noise; a p-value test on a million rows flags shifts
nobody would act on. The calibrated rule asks two questions of every column: is the difference
larger than chance at these two sizes (the null quantile, or the p-value), and is it large
enough to matter (the effect floor)? See docs/statistics.md, "Verdict rules".

Null distributions of distances are simulated from the fitted reference (no analytic form
exists for most of them) and cached in the profile per column, method and window-size bucket,
so a service that checks the same reference every few minutes simulates once.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import MutableMapping
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitor.stats.drift.energy_distance import energy_distance
from monitor.stats.drift.wasserstein import _MIN_SCALE
from monitor.stats.sample import SortedSample, ecdf_gaps
from monitor.stats.types import DriftMethod

__all__ = [
    "DEFAULT_EFFECT_FLOORS",
    "NullDraws",
    "count_effect",
    "count_null",
    "numerical_effect",
    "numerical_null",
    "size_bucket",
]

#: The default effect floor of every method, in the units of its effect measure (see
#: :func:`numerical_effect`). Distances keep Evidently's thresholds as floors (0.1: a
#: tenth of a reference standard deviation for Wasserstein), so on large windows both modes
#: agree; the p-value tests' floors are the same practical size in their own units.
DEFAULT_EFFECT_FLOORS: dict[DriftMethod, float] = {
    # distances: the statistic is its own effect
    DriftMethod.WASSERSTEIN: 0.1,
    DriftMethod.ENERGY_DISTANCE: 0.1,
    DriftMethod.PSI: 0.1,
    DriftMethod.JENSEN_SHANNON: 0.1,
    DriftMethod.KL_DIV: 0.1,
    DriftMethod.HELLINGER: 0.1,
    DriftMethod.TVD: 0.1,
    DriftMethod.L_INFINITY: 0.1,
    # numerical p-value tests: the KS distance D (0.05 is a 0.125-sigma shift of a normal)
    DriftMethod.KS: 0.05,
    DriftMethod.CRAMER_VON_MISES: 0.05,
    DriftMethod.ANDERSON: 0.05,
    DriftMethod.EPPS_SINGLETON: 0.05,
    DriftMethod.KUIPER: 0.05,  # Kuiper's V
    DriftMethod.T_TEST: 0.1,  # Cohen's d
    DriftMethod.MANN_WHITNEY: 0.05,  # rank-biserial |2 U / (n m) - 1|
    # categorical p-value tests: total variation distance of the shares (5 percentage points)
    DriftMethod.CHI_SQUARE: 0.05,
    DriftMethod.Z_TEST: 0.05,
    DriftMethod.FISHER_EXACT: 0.05,
    DriftMethod.G_TEST: 0.05,
}

#: How a distance's null quantile shrinks with the effective size n: ``n ** -exponent``
#: (root-n for distances of CDFs and of square-root divergences, 1/n for PSI and KL).
_EXPONENT: dict[DriftMethod, float] = {DriftMethod.PSI: 1.0, DriftMethod.KL_DIV: 1.0}
#: Numerical simulations draw at most this many values; above it the root-n law rescales.
_MAX_SIMULATED = 2048
#: The reference is thinned to this many quantiles for simulation (enough for a 95% quantile).
_MAX_SUPPORT = 4096


def size_bucket(n: int) -> int:
    """The window-size bucket of ``n`` (powers of sqrt(2)): ``round(2 log2 n)``.

    Examples
    --------
    >>> size_bucket(30), size_bucket(32), size_bucket(1000)
    (10, 10, 20)
    """
    return int(round(2.0 * math.log2(max(n, 1))))


def _effective(n: float, m: float) -> float:
    return n * m / (n + m)


@dataclass(frozen=True, slots=True)
class NullDraws:
    """Sorted null draws of a statistic, simulated at effective size ``n_effective``."""

    draws: NDArray[np.float64]
    n_effective: float
    exponent: float

    def at(self, n_effective: float) -> NDArray[np.float64]:
        """The draws rescaled to another effective size (the asymptotic scaling law)."""
        scaled: NDArray[np.float64] = self.draws * (self.n_effective / n_effective) ** self.exponent
        return scaled

    def quantile(self, n_effective: float, alpha: float) -> float:
        """The ``1 - alpha`` quantile of the statistic under no drift."""
        return float(np.quantile(self.at(n_effective), 1.0 - alpha))

    def p_value(self, statistic: float, n_effective: float) -> float:
        """Monte Carlo p-value ``(1 + #{draws >= statistic}) / (B + 1)``."""
        draws = self.at(n_effective)
        at_least = draws.size - int(np.searchsorted(draws, statistic * (1.0 - 1e-12), side="left"))
        return (1.0 + at_least) / (draws.size + 1.0)


def _rng(seed: int, column: str, method: DriftMethod, bucket: int) -> np.random.Generator:
    codes = list(DriftMethod)
    return np.random.default_rng([seed, zlib.crc32(column.encode()), codes.index(method), bucket])


CacheKey = tuple[str, DriftMethod, str, int, int, int]


def numerical_null(
    cache: MutableMapping[CacheKey, NullDraws], column: str, method: DriftMethod, reference: SortedSample,
    scale: float, n_current: int, *, seed: int, resamples: int,
) -> NullDraws:
    """Null draws of ``wasserstein`` (normed by ``scale``) or ``energy_distance`` on raw values.

    The current window is drawn from the reference's quantiles at the effective size
    ``n m / (n + m)``, not at ``m``: the reference is itself a finite sample, and for
    statistics of the two ECDFs the two-sample null at sizes (n, m) is the one-sample null
    at that size (both tend to the same Brownian-bridge functional).
    """
    bucket = size_bucket(n_current)
    key: CacheKey = (column, method, "values", bucket, seed, resamples)
    cached = cache.get(key)
    if cached is not None:
        return cached
    n = reference.size
    n_eff = _effective(n, 2.0 ** (bucket / 2.0))
    size = max(1, min(int(round(n_eff)), _MAX_SIMULATED))
    values = reference.values
    support = values if n <= _MAX_SUPPORT else values[((np.arange(_MAX_SUPPORT) + 0.5) * n / _MAX_SUPPORT).astype(np.int64)]
    rng = _rng(seed, column, method, bucket)
    idx = rng.integers(0, support.size, size=(resamples, size))
    if method is DriftMethod.WASSERSTEIN:
        stats = _w1_resampled(support, idx) / max(scale, _MIN_SCALE)
    else:
        drawn = support[np.sort(idx, axis=1)]  # each row sorted, because support is
        ref_sample = SortedSample.from_sorted(support)
        stats = np.array([energy_distance(ref_sample, SortedSample.from_sorted(row)).statistic for row in drawn])
    out = NullDraws(np.sort(stats), float(size), 0.5)
    cache[key] = out
    return out


#: :func:`_w1_resampled` handles this many resamples at a time (its temporaries stay in cache).
_ROW_BLOCK = 16


def _w1_resampled(support: NDArray[np.float64], idx: NDArray[np.int64]) -> NDArray[np.float64]:
    """Wasserstein-1 between the sorted ``support`` and each row of draws ``support[idx[r]]``.

    Both sides live on the support's points, so the distance is the area between the two CDFs
    on that grid, ``sum_k |(k + 1) / S - C_k / size| (x_{k+1} - x_k)`` with ``C`` the running
    count of draws at or below point ``k`` (tied points have zero width, so a partial count
    inside a run of ties adds nothing). Counting the draws with ``bincount`` replaces sorting
    every row, and blocks of rows keep the work in cache: the distances of the quantile form
    (:func:`~monitor.stats.drift.wasserstein._w1_sorted`) to rounding, in half the time.
    The gaps are kept as exact integers, ``|C_k S - (k + 1) size|`` (at most 4,096 x 2,048,
    inside int32), and scaled once in the widths: half the time of the float64 gaps again,
    and no rounding before the sum.
    """
    rows, size = idx.shape
    points = support.size
    # points <= _MAX_SUPPORT and size <= _MAX_SIMULATED: every gap is at most 2^23, int32 holds it.
    target = np.arange(1, points, dtype=np.int32) * np.int32(size)
    widths = np.diff(support) / (float(points) * size)
    offsets = (np.arange(_ROW_BLOCK, dtype=np.int64) * points)[:, None]
    out = np.empty(rows, dtype=np.float64)
    for lo in range(0, rows, _ROW_BLOCK):
        block = idx[lo:lo + _ROW_BLOCK]
        k = block.shape[0]
        counts = np.bincount((block + offsets[:k]).ravel(), minlength=k * points).reshape(k, points)
        gaps = np.cumsum(counts[:, :-1], axis=1, dtype=np.int32)
        gaps *= np.int32(points)
        gaps -= target
        np.abs(gaps, out=gaps)
        out[lo:lo + k] = np.einsum("ij,j->i", gaps, widths)  # not BLAS: no threads of its own
    return out


def count_null(
    cache: MutableMapping[CacheKey, NullDraws], column: str, method: DriftMethod, view: str,
    reference_counts: NDArray[np.float64], n_current: int, *, seed: int, resamples: int,
) -> NullDraws:
    """Null draws of a count distance: both sides multinomial from the reference shares.

    Both the reference (at its own size) and the window (at the bucket's size) are redrawn,
    so the reference's finite size is accounted for exactly, not asymptotically.
    """
    bucket = size_bucket(n_current)
    key: CacheKey = (column, method, view, bucket, seed, resamples)
    cached = cache.get(key)
    if cached is not None:
        return cached
    counts = np.asarray(reference_counts, dtype=np.float64)
    counts = counts[counts > 0]
    n_ref = int(counts.sum())
    m = max(1, int(round(2.0 ** (bucket / 2.0))))
    rng = _rng(seed, column, method, bucket)
    shares = counts / counts.sum()
    ref = rng.multinomial(n_ref, shares, size=resamples).astype(np.float64)
    cur = rng.multinomial(m, shares, size=resamples).astype(np.float64)
    stats = count_statistic_rows(method, ref, cur)
    out = NullDraws(np.sort(stats), _effective(n_ref, m), _EXPONENT.get(method, 0.5))
    cache[key] = out
    return out


def count_statistic_rows(method: DriftMethod, ref: NDArray[np.float64], cur: NDArray[np.float64]) -> NDArray[np.float64]:
    """A count distance for every row pair, with the definitions of the drift modules."""
    if method in (DriftMethod.PSI, DriftMethod.KL_DIV):
        keep = (ref > 0) | (cur > 0)
        add = 0.5 * keep
        p = (ref + add) / (ref + add).sum(axis=1, keepdims=True)
        q = (cur + add) / (cur + add).sum(axis=1, keepdims=True)
        with np.errstate(divide="ignore", invalid="ignore"):
            log = np.where(keep, np.log(np.where(keep, p, 1.0) / np.where(keep, q, 1.0)), 0.0)
        terms = (p - q) * log if method is DriftMethod.PSI else p * log
        result: NDArray[np.float64] = terms.sum(axis=1)
        return result
    p = ref / ref.sum(axis=1, keepdims=True)
    q = cur / cur.sum(axis=1, keepdims=True)
    out: NDArray[np.float64]
    if method is DriftMethod.TVD:
        out = 0.5 * np.abs(p - q).sum(axis=1)
        return out
    if method is DriftMethod.L_INFINITY:
        out = np.abs(p - q).max(axis=1)
        return out
    if method is DriftMethod.HELLINGER:
        out = np.sqrt(np.maximum(0.5 * np.square(np.sqrt(p) - np.sqrt(q)).sum(axis=1), 0.0))
        return out
    if method is DriftMethod.JENSEN_SHANNON:
        mid = 0.5 * (p + q)
        with np.errstate(divide="ignore", invalid="ignore"):
            left = np.where(p > 0, p * np.log(np.where(p > 0, p, 1.0) / np.where(p > 0, mid, 1.0)), 0.0)
            right = np.where(q > 0, q * np.log(np.where(q > 0, q, 1.0) / np.where(q > 0, mid, 1.0)), 0.0)
        out = np.sqrt(np.maximum(0.5 * (left.sum(axis=1) + right.sum(axis=1)), 0.0))
        return out
    raise ValueError(f"{method} is not a count distance")


def numerical_effect(method: DriftMethod, reference: SortedSample, current: SortedSample,
                     statistic: float) -> float:
    """The size-free effect measure of a numerical p-value test (the floor is in its units).

    Cohen's d for ``t_test``; the rank-biserial correlation ``|2 U / (n m) - 1|`` for
    ``mann_whitney`` (``statistic`` is U); Kuiper's V for ``kuiper``; the KS distance D for
    the other distribution tests (ks, cramer_von_mises, anderson, epps_singleton).
    """
    n, m = reference.size, current.size
    if method is DriftMethod.KUIPER or method is DriftMethod.KS:
        return statistic
    if method is DriftMethod.MANN_WHITNEY:
        return abs(2.0 * statistic / (n * m) - 1.0)
    if method is DriftMethod.T_TEST:
        r, c = reference.values, current.values
        pooled = ((n - 1) * float(r.var(ddof=1)) + (m - 1) * float(c.var(ddof=1))) / max(n + m - 2, 1)
        diff = abs(float(r.mean()) - float(c.mean()))
        if pooled <= 0.0:
            return 0.0 if diff == 0.0 else math.inf
        return diff / math.sqrt(pooled)
    return max(ecdf_gaps(reference, current))


def count_effect(reference: ArrayLike, current: ArrayLike) -> float:
    """Total variation distance of the two share vectors: the effect of categorical tests."""
    r = np.asarray(reference, dtype=np.float64)
    c = np.asarray(current, dtype=np.float64)
    return float(0.5 * np.abs(r / r.sum() - c / c.sum()).sum())
