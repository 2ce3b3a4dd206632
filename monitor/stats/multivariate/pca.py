"""PCA reconstruction error: NannyML's data-reconstruction drift, with a held-out, size-aware null.

The method (NannyML, ``nannyml/drift/multivariate/data_reconstruction/calculator.py``; "Data
Reconstruction with PCA", https://nannyml.readthedocs.io/en/stable/how_it_works/data_reconstruction.html):
the reference's features are imputed, encoded and standardised, a PCA keeps the components that
explain 65% of the variance, and a row's *reconstruction error* is the Euclidean distance between
the row and its projection back from those components. A window's statistic is the mean error of
its rows. A change in how features relate to each other (a correlation that flips, two columns
swapped) moves rows off the reference's principal subspace and raises the error, even when every
marginal is unchanged.

Where we differ, and why:

- **Held-out null.** NannyML fits the PCA on the whole reference and sets its thresholds (mean ±
  3 sd) from the same reference's chunks, whose errors are biased low (the PCA saw them). Here
  the PCA is fitted on one half of the reference (chosen by row hash) and the null is the other
  half's errors, which are distributed as a stationary window's are.
- **At the window's size.** NannyML's chunks have one fixed size; the null here is the mean error
  of a chunk of exactly the window's size, drawn from the held-out errors (``resamples`` chunks,
  seeded; above 4,000 rows the chunk spread is rescaled by the root-n law). The threshold is the
  ``1 - alpha`` quantile of those chunk means (their spread widened by the held-out mean's own
  sampling error, ``sqrt(1/m + 1/n_heldout)``) or ``(1 + pca_floor)`` times the reference's mean
  error, whichever is larger (the calibrated rule: beyond chance *and* large enough to matter).
  One-sided: a window that reconstructs *better* than the reference is not flagged.
- **One-hot categoricals** (the reference's top values) instead of NannyML's frequency encoding,
  so two categories of equal frequency stay distinguishable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from monitor.errors import InsufficientData
from monitor.stats.multivariate._encode import Encoding
from monitor.stats.multivariate.types import FeatureScore, MultivariateMethod, MultivariateOptions, MultivariateResult

__all__ = ["MIN_REFERENCE", "PcaFit", "fit_pca", "pca_test", "reconstruction"]

_F = NDArray[np.float64]

#: Reference rows needed (half fit the PCA, half make the null).
MIN_REFERENCE = 100
#: Window rows needed.
MIN_CURRENT = 10
#: Chunks above this size are simulated at it and rescaled (root-n law), bounding the null's cost.
_MAX_SIMULATED = 4_000


@dataclass(frozen=True, slots=True, kw_only=True)
class PcaFit:
    """A fitted PCA reconstruction: centre, kept components, and the held-out reference's errors."""

    center: _F  # (d,)
    components: _F  # (d, k), orthonormal columns
    explained: float  # share of variance the kept components explain
    errors: _F  # held-out reference errors (sorted; at most max_rows, a hash-chosen subsample)
    error_mean: float  # mean error of every held-out row
    residual: _F  # (d,) mean squared residual per encoded column on the held-out rows
    n_fit: int
    n_heldout: int


def reconstruction(encoded: _F, center: _F, components: _F) -> tuple[_F, _F]:
    """Each row's reconstruction error and its squared residual per column (rows × d)."""
    centred = encoded - center
    residual = centred - (centred @ components) @ components.T
    squared = residual * residual
    return np.sqrt(squared.sum(axis=1)), squared


def fit_pca(encoding: Encoding, coded: _F, hashes: NDArray[np.uint64], options: MultivariateOptions) -> PcaFit:
    """Fit the PCA on the reference rows whose hash has its top bit clear; errors of the others make the null."""
    n = coded.shape[0]
    if n < MIN_REFERENCE:
        raise InsufficientData(f"reference has {n} rows; pca_reconstruction needs at least {MIN_REFERENCE}",
                               needed=MIN_REFERENCE, got=n)
    held = (hashes >> np.uint64(63)).astype(bool)
    if held.all() or not held.any():  # every row identical: split by position instead
        held = np.arange(n) % 2 == 1
    fit_rows, null_rows = np.flatnonzero(~held), np.flatnonzero(held)
    d = len(encoding.sources)
    gram, total = np.zeros((d, d)), np.zeros(d)
    for block in encoding.encoded_blocks(coded[fit_rows]):  # O(rows × d²), never the whole matrix
        gram += block.T @ block
        total += block.sum(axis=0)
    m = fit_rows.size
    center = total / m
    cov = gram / m - np.outer(center, center)
    values, vectors = np.linalg.eigh((cov + cov.T) / 2)
    values, vectors = np.clip(values[::-1], 0.0, None), vectors[:, ::-1]
    share = np.cumsum(values) / values.sum() if values.sum() > 0 else np.ones(d)
    k = int(np.searchsorted(share, options.variance - 1e-12) + 1)
    k = min(k, d)
    # A deterministic sign per component (largest loading positive): eigh's signs are arbitrary.
    vectors = vectors[:, :k] * np.where(vectors[np.abs(vectors[:, :k]).argmax(axis=0), np.arange(k)] < 0, -1.0, 1.0)
    errors, residual = _errors(encoding, coded[null_rows], center, vectors)
    keep = np.argsort(hashes[null_rows], kind="stable")[:options.max_rows]
    return PcaFit(center=center, components=vectors, explained=float(share[k - 1]), errors=np.sort(errors[keep]),
                  error_mean=float(errors.mean()), residual=residual, n_fit=m, n_heldout=null_rows.size)


def _errors(encoding: Encoding, coded: _F, center: _F, components: _F) -> tuple[_F, _F]:
    errors, residual = [], np.zeros(center.size)
    for block in encoding.encoded_blocks(coded):
        e, sq = reconstruction(block, center, components)
        errors.append(e)
        residual += sq.sum(axis=0)
    return np.concatenate(errors) if errors else np.zeros(0), residual / max(coded.shape[0], 1)


def pca_test(encoding: Encoding, fit: PcaFit, coded: _F, options: MultivariateOptions,
             rng: np.random.Generator) -> MultivariateResult:
    """The window's mean reconstruction error against chunks of its size from the held-out reference."""
    m = coded.shape[0]
    if m < MIN_CURRENT:
        raise InsufficientData(f"current has {m} rows; pca_reconstruction needs at least {MIN_CURRENT}",
                               needed=MIN_CURRENT, got=m)
    errors, residual = _errors(encoding, coded, fit.center, fit.components)
    statistic = float(errors.mean())
    m_sim = min(m, _MAX_SIMULATED, max(1, 4_000_000 // options.resamples))
    draws = fit.errors[rng.integers(0, fit.errors.size, size=(options.resamples, m_sim))].mean(axis=1)
    # The window's mean is compared with the held-out reference's, itself an estimate from n_heldout rows:
    # the difference has variance sigma² (1/m + 1/n_heldout), so the chunk deviations are scaled to it
    # (with m_sim < m this is also the root-n rescaling).
    null = fit.error_mean + (draws - fit.errors.mean()) * np.sqrt(m_sim * (1.0 / m + 1.0 / fit.n_heldout))
    quantile = float(np.quantile(null, 1.0 - options.alpha))
    threshold = max(quantile, fit.error_mean * (1.0 + options.pca_floor))
    p_value = float((1 + np.count_nonzero(null >= statistic)) / (options.resamples + 1))
    warnings = [f"{fit.components.shape[1]} of {fit.center.size} components kept ({fit.explained:.0%} of the variance)"]
    if fit.components.shape[1] == fit.center.size:
        warnings.append("the PCA keeps every dimension, so the reconstruction error is 0 and cannot drift; "
                        "pca_reconstruction needs at least two correlated features")
    increase = residual - fit.residual
    by_feature: dict[str, float] = {}
    for source, value in zip(encoding.sources, increase, strict=True):
        by_feature[source] = by_feature.get(source, 0.0) + float(value)
    ranked = sorted(((v, f) for f, v in by_feature.items() if v > 0), key=lambda t: (-t[0], t[1]))
    top = tuple(FeatureScore(feature=f, score=v) for v, f in ranked[:options.top])
    return MultivariateResult(method=MultivariateMethod.PCA_RECONSTRUCTION, statistic=statistic, threshold=threshold,
                              p_value=p_value, drifted=statistic > threshold, top_features=top,
                              warnings=tuple(warnings), n_reference=fit.n_fit + fit.n_heldout, n_current=m)
