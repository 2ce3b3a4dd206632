"""Kernel maximum mean discrepancy on random Fourier features, with a permutation p-value.

The Gaussian-kernel MMD² (Gretton et al., "A Kernel Two-Sample Test", JMLR 13, 2012) between the
encoded reference and window is estimated with ``D`` random Fourier features (Rahimi & Recht,
"Random Features for Large-Scale Kernel Machines", NIPS 2007): ``z(x) = sqrt(2/D) cos(x W + b)``,
``W ~ N(0, 1/sigma²)``, ``b ~ U(0, 2 pi)``, so ``k(x, y) ≈ z(x)·z(y)`` and the (biased, V-statistic)
MMD² is ``|mean z(reference) - mean z(current)|²``. Time and memory are linear in rows (rows × D),
never the ``n²`` kernel matrix of Evidently's ``empirical_mmd``; each side is further capped at
``max_rows`` hash-chosen rows, so the cost stops growing with the window.

Bandwidth: the median heuristic on the reference (``sigma² = median |x - y|² / 2`` over pairs of
at most 1,000 reference rows, alibi-detect's convention), fixed at fit time.

The null: ``permutations`` seeded relabellings of the pooled rows (each costs one matrix product
of a label mask with the features). The threshold is the null's ``1 - alpha`` quantile or
``mmd_floor``, whichever is larger; ``p = (1 + #{null >= observed}) / (permutations + 1)``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.spatial.distance import pdist

from monitor.errors import InsufficientData
from monitor.stats.multivariate._encode import Encoding, lowest, row_hashes
from monitor.stats.multivariate.types import MultivariateMethod, MultivariateOptions, MultivariateResult

__all__ = ["MIN_ROWS", "fourier_features", "median_bandwidth", "mmd_test"]

_F = NDArray[np.float64]

MIN_ROWS = 10
_BANDWIDTH_ROWS = 1_000
_BATCH = 50


def median_bandwidth(encoded: _F) -> float:
    """``sigma`` of the Gaussian kernel: the root of half the median squared distance between rows."""
    rows = encoded[:_BANDWIDTH_ROWS]
    if rows.shape[0] < 2:
        return 1.0
    median = float(np.median(pdist(rows, "sqeuclidean")))
    return float(np.sqrt(median / 2.0)) if median > 0 else 1.0


def fourier_features(x: _F, sigma: float, n_features: int, rng: np.random.Generator) -> _F:
    """Random Fourier features of the Gaussian kernel ``exp(-|x - y|² / (2 sigma²))``."""
    w = rng.normal(0.0, 1.0 / sigma, size=(x.shape[1], n_features))
    b = rng.uniform(0.0, 2.0 * np.pi, size=n_features)
    out: _F = np.sqrt(2.0 / n_features) * np.cos(x @ w + b)
    return out


def mmd_test(encoding: Encoding, reference: _F, current: _F, sigma: float, options: MultivariateOptions,
             rng: np.random.Generator) -> MultivariateResult:
    """MMD² of the reference sample (coded, hash-ordered) against the window (coded), permutation null."""
    n_cur_all = current.shape[0]
    current = current[lowest(row_hashes(current, options.seed), options.max_rows)]
    for name, rows in (("reference", reference), ("current", current)):
        if rows.shape[0] < MIN_ROWS:
            raise InsufficientData(f"{name} has {rows.shape[0]} rows; mmd needs at least {MIN_ROWS}",
                                   needed=MIN_ROWS, got=int(rows.shape[0]))
    n0, n1 = reference.shape[0], current.shape[0]
    z = fourier_features(np.concatenate([encoding.encoded(reference), encoding.encoded(current)]), sigma,
                         options.fourier_features, rng)
    total = z.sum(axis=0)
    first = z[n0:].sum(axis=0)
    statistic = _mmd2(first[None, :], total, n1, n0)[0]
    labels = np.zeros(n0 + n1, dtype=np.float64)
    labels[n0:] = 1.0
    null = []
    for start in range(0, options.permutations, _BATCH):
        batch = min(_BATCH, options.permutations - start)
        masks = rng.permuted(np.broadcast_to(labels, (batch, labels.size)), axis=1)
        null.append(_mmd2(masks @ z, total, n1, n0))
    draws = np.concatenate(null)
    threshold = max(float(np.quantile(draws, 1.0 - options.alpha)), options.mmd_floor)
    p_value = float((1 + np.count_nonzero(draws >= statistic)) / (options.permutations + 1))
    warnings = []
    if n_cur_all > n1:
        warnings.append(f"mmd used {n1:,} of the window's {n_cur_all:,} rows (max_rows)")
    return MultivariateResult(method=MultivariateMethod.MMD, statistic=float(statistic), threshold=threshold,
                              p_value=p_value, drifted=bool(statistic > threshold), warnings=tuple(warnings),
                              n_reference=n0, n_current=n_cur_all)


def _mmd2(first_sums: _F, total: _F, n1: int, n0: int) -> _F:
    """MMD² from the sums of the features of the first group (one row per labelling)."""
    diff = first_sums / n1 - (total - first_sums) / n0
    out: _F = np.maximum((diff * diff).sum(axis=1), 0.0)
    return out
