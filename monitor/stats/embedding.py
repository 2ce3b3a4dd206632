"""Drift of embedding columns: one fixed-length vector per row, projected by a PCA fitted on the reference.

A column declared ``type: embedding`` (with its ``dim``) is fitted into an
:class:`EmbeddingProfile`: the reference's mean and principal axes (NumPy's SVD of at most
``max_rows`` centred rows), keeping the fewest components that explain ``variance`` (90%) of the
variance, at most ``max_components`` (32); the share actually kept is stored and reported.
The reference's projected rows (a seeded sample of at most ``max_rows``) are kept for the tests.
No model is downloaded or run: the vectors arrive computed.

Methods (``ColumnOptions.method``):

* ``embedding_mmd`` (default; the features and bandwidth of :mod:`monitor.stats.multivariate.mmd`,
  whose ``mmd`` works on a frame's encoded features): the Gaussian-kernel MMD² (Gretton et al., JMLR 13, 2012) on
  ``D = 256`` random Fourier features (Rahimi & Recht, NIPS 2007), ``|mean z(ref) - mean z(cur)|²``,
  linear in rows. Bandwidth: the median heuristic on the projected reference (``sigma² = median
  |x - y|² / 2`` over at most 1,000 rows). Null: ``permutations`` (200) seeded relabellings of the
  pooled rows; threshold ``max(floor, null 1 - alpha quantile)``, ``p = (1 + #{null >= obs}) / (B + 1)``.
* ``embedding_classifier``: a logistic regression on the standardised projection, trained on half
  the rows, its ROC AUC on the other half with the exact Mann-Whitney null (:mod:`monitor.stats._domain`);
  floor 0.55.
  Needs scikit-learn (the ``ml`` extra).

Cells: a list, tuple or NumPy array per row (Parquet list columns, the store's float32 vectors), or
a JSON array as text (CSV and JSON files). A column of NumPy vectors and missing cells only is
stacked at once; the others are read cell by cell. A missing cell, or a vector with a NaN or
infinite value, counts as missing (and the missing rate is tested like any column's); a vector of
another length than ``dim`` is an :class:`~monitor.errors.InputError` naming the column and row.
Rows are chosen and ordered by a seeded order of their contents' hashes, so results do not depend
on row order.
"""

from __future__ import annotations

import json
import zlib
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from monitor.errors import InputError, InsufficientData
from monitor.stats._domain import holdout_auc, sklearn_module
from monitor.stats.multivariate.mmd import fourier_features, median_bandwidth
from monitor.stats.types import ColumnType, DriftMethod, Rule

if TYPE_CHECKING:
    from monitor.stats.check import ColumnOptions, ColumnResult

__all__ = [
    "AUC_FLOOR",
    "MAX_DIM",
    "MMD_FLOOR",
    "EmbeddingOptions",
    "EmbeddingProfile",
    "check_embedding",
    "embedding_matrix",
    "fit_embedding",
    "mmd_permutation",
]

#: The longest vector accepted (a bound for hostile input as much as a sanity check).
MAX_DIM = 8_192
#: ``embedding_mmd``'s effect floor (MMD² on the random features; see docs/statistics.md).
MMD_FLOOR = 0.002
#: ``embedding_classifier``'s effect floor.
AUC_FLOOR = 0.55
MIN_ROWS = 20
_FOURIER = 256
_BATCH = 50
_F = NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class EmbeddingOptions:
    """Fit and test options of an embedding column (defaults as the module docstring says)."""

    variance: float = 0.9
    max_components: int = 32
    max_rows: int = 5_000
    permutations: int = 200
    seed: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class EmbeddingProfile:
    """An embedding reference column: its PCA, a projected sample of its rows and the kernel bandwidth."""

    column: str
    reason: str
    n_rows: int
    n_missing: int
    dim: int
    mean: _F
    components: _F  # (k, dim)
    explained: float  # the share of the reference's variance the k components keep
    sample: _F  # (m, k) projected reference rows, in seeded hash order
    sigma: float
    options: EmbeddingOptions = EmbeddingOptions()

    type = ColumnType.EMBEDDING

    def project(self, matrix: _F) -> _F:
        out: _F = (matrix - self.mean) @ self.components.T
        return out


def _cell(value: Any) -> Any:
    if isinstance(value, str | bytes):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _stacked(series: pd.Series, dim: int | None) -> tuple[_F, int, int] | None:
    """The fast case: every cell a 1-D NumPy vector of numbers of one length (Parquet lists, the
    store's float32 vectors) or missing. One ``np.concatenate``, no per-row Python work beyond the
    type and length checks (100,000 x 384: 0.3 s instead of 1-2 s); None for anything else."""
    cells = series.to_numpy(dtype=object)
    if not cells.size or not set(map(type, cells)) <= {np.ndarray, type(None), float}:
        return None
    present = ~pd.isna(series).to_numpy(dtype=bool)
    if not present.any():
        return None
    vectors = list(cells[present])
    if {(v.ndim, v.dtype.kind in "iuf") for v in vectors if isinstance(v, np.ndarray)} != {(1, True)} or \
            len(vectors) != sum(isinstance(v, np.ndarray) for v in vectors):
        return None  # a stray number, a nested or non-numeric array: the general path says which
    lengths = np.fromiter(map(len, vectors), dtype=np.int64, count=len(vectors))
    width = int(lengths[0])
    if (lengths != width).any() or (dim is not None and width != dim) or not 1 <= width <= MAX_DIM:
        return None
    stacked = np.concatenate(vectors).reshape(len(vectors), width)
    finite = np.isfinite(stacked).all(axis=1)  # before widening: one pass over the narrower values
    matrix: _F = (stacked if finite.all() else stacked[finite]).astype(np.float64)
    return matrix, int(cells.size - int(finite.sum())), width


def embedding_matrix(series: pd.Series, name: str, dim: int | None) -> tuple[_F, int, int]:
    """The vectors of a column as a float64 ``(n, dim)`` matrix, the number missing, and ``dim``.

    ``dim`` ``None``: taken from the first vector (every other must match).

    >>> m, missing, d = embedding_matrix(pd.Series(["[1, 2]", None, [3.0, 4.0]]), "v", 2)
    >>> m.tolist(), missing, d
    ([[1.0, 2.0], [3.0, 4.0]], 1, 2)
    """
    fast = _stacked(series, dim)
    if fast is not None:
        return fast
    cells = series.to_numpy(dtype=object)
    present = np.fromiter((c is not None and not (isinstance(c, float) and np.isnan(c)) for c in cells),
                          dtype=bool, count=cells.size)
    values = [_cell(c) for c in cells[present]]
    rows = np.flatnonzero(present)
    lengths = np.fromiter((len(v) if isinstance(v, list | tuple | np.ndarray) else -1 for v in values),
                          dtype=np.int64, count=len(values))
    if dim is None and lengths.size:
        dim = int(lengths[0])
    if dim is None:
        return np.zeros((0, 0)), int(cells.size), 0
    if not 1 <= dim <= MAX_DIM:
        raise InputError(f"column {name!r}: an embedding has 1 to {MAX_DIM} values, not {dim}", field=name)
    bad = np.flatnonzero(lengths != dim)
    if bad.size:
        i = int(bad[0])
        what = f"{lengths[i]} values" if lengths[i] >= 0 else f"not an array ({str(cells[rows[i]])[:40]!r})"
        raise InputError(f"column {name!r} row {int(rows[i])}: {what}; the embedding has dim {dim}",
                         field=name, row=int(rows[i]))
    try:
        matrix = np.asarray(values, dtype=np.float64).reshape(len(values), dim)
    except (TypeError, ValueError):
        for i, v in enumerate(values):  # find the row
            try:
                np.asarray(v, dtype=np.float64).reshape(dim)
            except (TypeError, ValueError):
                raise InputError(f"column {name!r} row {int(rows[i])}: the embedding holds a value that is not "
                                 "a number", field=name, row=int(rows[i])) from None
        raise
    finite = np.isfinite(matrix).all(axis=1)
    return matrix[finite], int(cells.size - int(finite.sum())), dim


def _order(matrix: _F, seed: int) -> NDArray[np.intp]:
    """A seeded order of rows that depends on their contents only: a hash of each row's bytes, then a shuffle."""
    if matrix.shape[0] == 0:
        return np.zeros(0, dtype=np.intp)
    raw = np.ascontiguousarray(matrix).view(np.uint64).reshape(matrix.shape[0], -1)
    weights = np.random.default_rng(12345).integers(1, 2**63, size=raw.shape[1], dtype=np.uint64) | np.uint64(1)
    with np.errstate(over="ignore"):
        hashes = (raw * weights).sum(axis=1, dtype=np.uint64)
    order = np.lexsort((matrix[:, 0], hashes))
    digest = int(np.bitwise_xor.reduce(hashes)) & 0xFFFFFFFF
    shuffled: NDArray[np.intp] = order[np.random.default_rng([seed, digest]).permutation(order.size)]
    return shuffled


def fit_embedding(series: pd.Series, name: str, reason: str, dim: int | None,
                  options: EmbeddingOptions | None = None) -> EmbeddingProfile:
    """Fit an embedding column: PCA on the reference (NumPy SVD), a projected sample, the bandwidth."""
    options = options or EmbeddingOptions()
    matrix, n_missing, dim = embedding_matrix(series, name, dim)
    if matrix.shape[0] < 2:
        raise InputError(f"column {name!r}: an embedding reference needs at least 2 vectors, got {matrix.shape[0]}",
                         field=name)
    sample = matrix[_order(matrix, options.seed)[:options.max_rows]]
    mean = sample.mean(axis=0)
    _, s, vt = np.linalg.svd(sample - mean, full_matrices=False)
    var = s * s
    total = float(var.sum())
    if total <= 0:
        k, explained = 1, 1.0
    else:
        cum = np.cumsum(var) / total
        k = int(min(np.searchsorted(cum, options.variance - 1e-12) + 1, options.max_components, vt.shape[0]))
        explained = float(cum[k - 1])
    components = vt[:k].copy()
    projected = (sample - mean) @ components.T
    return EmbeddingProfile(column=name, reason=reason, n_rows=int(series.size), n_missing=n_missing, dim=dim,
                            mean=mean, components=components, explained=explained, sample=projected,
                            sigma=median_bandwidth(projected), options=options)


def _rng(profile: EmbeddingProfile, salt: int) -> np.random.Generator:
    return np.random.default_rng([profile.options.seed, zlib.crc32(profile.column.encode()), salt])


def mmd_permutation(reference: _F, current: _F, sigma: float, *, permutations: int, rng: np.random.Generator
                    ) -> tuple[float, _F]:
    """MMD² on random Fourier features and its permutation null draws (sorted)."""
    n0, n1 = reference.shape[0], current.shape[0]
    z = fourier_features(np.concatenate([reference, current]), sigma, _FOURIER, rng)
    total = z.sum(axis=0)

    def mmd2(first: _F) -> _F:  # first: sums of the "current" group, one row per labelling
        diff = first / n1 - (total - first) / n0
        out: _F = np.maximum(np.einsum("ij,ij->i", diff, diff), 0.0)
        return out

    statistic = float(mmd2(z[n0:].sum(axis=0)[None, :])[0])
    labels = np.zeros(n0 + n1)
    labels[n0:] = 1.0
    draws = []
    for start in range(0, permutations, _BATCH):
        masks = rng.permuted(np.broadcast_to(labels, (min(_BATCH, permutations - start), labels.size)), axis=1)
        draws.append(mmd2(masks @ z))
    return statistic, np.sort(np.concatenate(draws))


def check_embedding(profile: EmbeddingProfile, series: pd.Series, *, alpha: float, column_options: ColumnOptions,
                    base: Callable[[int, int], ColumnResult]) -> ColumnResult:
    """An embedding column's result under ``embedding_mmd`` (default) or ``embedding_classifier``."""
    from monitor.stats.check import Status

    matrix, n_missing, _ = embedding_matrix(series, profile.column, profile.dim)
    start = base(int(matrix.shape[0]), n_missing)
    method = column_options.method or DriftMethod.EMBEDDING_MMD
    n_cur = matrix.shape[0]
    for side, rows in (("reference", profile.sample.shape[0]), ("current", n_cur)):
        if rows < MIN_ROWS:
            return replace(start, method=method, reason=f"{side} has {rows} vectors; {method} needs at least {MIN_ROWS}")
    current = profile.project(matrix[_order(matrix, profile.options.seed)[:profile.options.max_rows]])
    a = column_options.alpha if column_options.alpha is not None else alpha
    kept = (f"PCA on the reference: {profile.components.shape[0]} of {profile.dim} dimensions, "
            f"{profile.explained:.1%} of the variance kept")
    used = f"{profile.sample.shape[0]:,} reference and {current.shape[0]:,} of {n_cur:,} current vectors"
    if method is DriftMethod.EMBEDDING_CLASSIFIER:
        floor = column_options.effect_floor if column_options.effect_floor is not None else (
            column_options.threshold if column_options.threshold is not None else AUC_FLOOR)
        linear = sklearn_module("linear_model", "embedding drift (embedding_classifier)")
        x = np.concatenate([profile.sample, current])
        x = (x - x.mean(axis=0)) / np.where(x.std(axis=0) > 0, x.std(axis=0), 1.0)
        y = np.arange(x.shape[0]) >= profile.sample.shape[0]

        def score(train: NDArray[np.intp], test: NDArray[np.intp]) -> _F:
            model = linear.LogisticRegression(C=1.0, class_weight="balanced", max_iter=300)
            model.fit(x[train], y[train])
            out: _F = model.decision_function(x[test]).astype(np.float64)
            return out

        try:
            t = holdout_auc(profile.sample.shape[0], current.shape[0], score, alpha=a, floor=floor,
                            what=profile.column)
        except InsufficientData as exc:
            return replace(start, method=method, reason=str(exc))
        return replace(start, method=method, statistic=t.auc, p_value=t.p_value, threshold=t.threshold,
                       drifted=t.drifted, status=Status.OK, effect=t.auc, effect_floor=floor,
                       null_threshold=t.null_threshold, alpha=a, rule=Rule.CALIBRATED,
                       reason=f"logistic regression, trained on half, ROC AUC on the other half; {kept}; {used}")
    if method is not DriftMethod.EMBEDDING_MMD:
        raise InputError(f"method {method} does not apply to embedding column {profile.column!r}", field=profile.column)
    floor = column_options.effect_floor if column_options.effect_floor is not None else (
        column_options.threshold if column_options.threshold is not None else MMD_FLOOR)
    statistic, draws = mmd_permutation(profile.sample, current, profile.sigma,
                                       permutations=profile.options.permutations, rng=_rng(profile, 1))
    null_q = float(np.quantile(draws, 1.0 - a))
    p = float((1 + draws.size - np.searchsorted(draws, statistic, side="left")) / (draws.size + 1))
    return replace(start, method=method, statistic=statistic, p_value=p, threshold=max(floor, null_q),
                   drifted=bool(statistic >= floor and statistic > null_q), status=Status.OK, effect=statistic,
                   effect_floor=floor, null_threshold=null_q, alpha=a, rule=Rule.CALIBRATED,
                   reason=f"MMD² on {_FOURIER} random Fourier features, {draws.size} permutations; {kept}; {used}")


# --- persistence (the profile's .npz: arrays plus a JSON header entry) ----------------------------


def embedding_to_entry(profile: EmbeddingProfile, prefix: str) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
    """The header entry and arrays of an embedding profile."""
    o = profile.options
    entry = {"type": "embedding", "n_missing": profile.n_missing, "dim": profile.dim, "explained": profile.explained,
             "sigma": profile.sigma, "options": {k: getattr(o, k) for k in EmbeddingOptions.__dataclass_fields__}}
    return entry, {f"{prefix}_mean": profile.mean, f"{prefix}_components": profile.components,
                   f"{prefix}_sample": profile.sample}


def embedding_from_entry(entry: dict[str, Any], arrays: dict[str, NDArray[Any]], prefix: str) -> EmbeddingProfile:
    """Read what :func:`embedding_to_entry` wrote."""
    return EmbeddingProfile(
        column=entry["column"], reason=entry["reason"], n_rows=entry["n_rows"], n_missing=entry["n_missing"],
        dim=entry["dim"], mean=arrays[f"{prefix}_mean"], components=arrays[f"{prefix}_components"],
        explained=entry["explained"], sample=arrays[f"{prefix}_sample"], sigma=entry["sigma"],
        options=EmbeddingOptions(**entry["options"]),
    )
