"""The features as one numeric matrix: coded (for trees), encoded (for PCA and kernels), and hashed.

*Coded*: numerical columns as floats (missing stays NaN), categorical columns as the index of the
value among the reference's ``max_categories`` most frequent values, ``k`` for any other value
(rarer or unseen), NaN for missing. *Encoded*: numerical columns standardised by the reference's
mean and standard deviation (missing imputed by the mean, i.e. 0, as NannyML's mean imputer),
categorical columns one-hot over the reference's top values (missing imputed by the most frequent
value, as NannyML's; "other" is the all-zero pattern), every one-hot column standardised too.

Row hashes make every method independent of row order: the reference's held-out half, the
subsamples and the classifier's training half are chosen by a seeded hash of each row's coded values,
and rows are processed in hash order, so a shuffled file gives the same result.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from monitor.errors import InputError

__all__ = ["BLOCK_ROWS", "Encoding", "fit_encoding", "lowest", "row_hashes"]

#: Rows encoded at a time: a 1M-row window never holds its whole encoded matrix.
BLOCK_ROWS = 65_536

_F = NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class Encoding:
    """How a frame's features become a matrix; fitted on the reference (:func:`fit_encoding`)."""

    numerical: tuple[str, ...]
    categorical: tuple[str, ...]
    means: _F
    scales: _F
    categories: tuple[tuple[str, ...], ...]
    shares: tuple[_F, ...]  # the reference share of each top category

    @property
    def features(self) -> tuple[str, ...]:
        """The feature of each coded column."""
        return (*self.numerical, *self.categorical)

    @property
    def sources(self) -> tuple[str, ...]:
        """The feature each encoded column comes from."""
        out = list(self.numerical)
        for name, cats in zip(self.categorical, self.categories, strict=True):
            out.extend([name] * len(cats))
        return tuple(out)

    def coded(self, frame: pd.DataFrame) -> _F:
        """The coded matrix (rows × features) of ``frame``; a missing feature column is an :class:`InputError`."""
        absent = [c for c in self.features if c not in frame.columns]
        if absent:
            raise InputError(f"current data has no column {absent[0]!r}", field=absent[0])
        out = np.empty((len(frame), len(self.features)), dtype=np.float64)
        for j, name in enumerate(self.numerical):
            out[:, j] = pd.to_numeric(frame[name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        for j, (name, cats) in enumerate(zip(self.categorical, self.categories, strict=True), start=len(self.numerical)):
            values = frame[name]
            missing = values.isna().to_numpy()
            codes = pd.Categorical(_text(values), categories=list(cats)).codes.astype(np.float64)
            codes[codes < 0] = len(cats)
            codes[missing] = np.nan
            out[:, j] = codes
        return out

    def encoded(self, coded: _F) -> _F:
        """Standardised numericals and standardised one-hot categoricals of a coded block."""
        n_num = len(self.numerical)
        parts = [np.nan_to_num((coded[:, :n_num] - self.means) / self.scales, nan=0.0)]
        for j, (cats, shares) in enumerate(zip(self.categories, self.shares, strict=True), start=n_num):
            codes = coded[:, j].copy()
            codes[np.isnan(codes)] = 0  # the most frequent category (NannyML's imputer)
            onehot = (codes[:, None] == np.arange(len(cats))[None, :]).astype(np.float64)
            parts.append((onehot - shares) / np.sqrt(shares * (1.0 - shares)))
        return np.concatenate(parts, axis=1) if len(parts) > 1 else parts[0]

    def encoded_blocks(self, coded: _F) -> Iterator[_F]:
        """The encoded matrix of ``coded`` in blocks of :data:`BLOCK_ROWS` rows."""
        for start in range(0, coded.shape[0], BLOCK_ROWS):
            yield self.encoded(coded[start:start + BLOCK_ROWS])


def _text(values: pd.Series) -> pd.Series:
    if pd.api.types.is_string_dtype(values.dtype) or values.dtype == object:
        return values
    return values.astype(str).where(values.notna())


def fit_encoding(reference: pd.DataFrame, numerical: Sequence[str], categorical: Sequence[str], *,
                 max_categories: int) -> Encoding:
    """Fit the encoding on the reference: means, standard deviations and top categories."""
    absent = [c for c in (*numerical, *categorical) if c not in reference.columns]
    if absent:
        raise InputError(f"reference data has no column {absent[0]!r}", field=absent[0])
    means, scales = [], []
    for name in numerical:
        values = pd.to_numeric(reference[name], errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
        finite = values[np.isfinite(values)]
        mean = float(finite.mean()) if finite.size else 0.0
        sd = float(finite.std()) if finite.size > 1 else 0.0
        means.append(mean)
        scales.append(sd if sd > 0 else 1.0)  # a constant column stays 0 after centring
    categories, shares = [], []
    for name in categorical:
        counts = _text(reference[name]).value_counts(dropna=True)
        # most frequent first; ties broken by the value so the order never depends on row order
        frame = pd.DataFrame({"v": counts.index.astype(str), "n": counts.to_numpy()}).sort_values(
            ["n", "v"], ascending=[False, True])
        top = frame.head(max_categories)
        total = max(int(counts.sum()), 1)
        share = np.clip(top["n"].to_numpy(dtype=np.float64) / total, 1e-6, 1 - 1e-6)
        categories.append(tuple(top["v"].tolist()))
        shares.append(share)
    return Encoding(numerical=tuple(numerical), categorical=tuple(categorical),
                    means=np.asarray(means, dtype=np.float64), scales=np.asarray(scales, dtype=np.float64),
                    categories=tuple(categories), shares=tuple(shares))


def row_hashes(coded: _F, seed: int) -> NDArray[np.uint64]:
    """A seeded 64-bit hash of each coded row: equal rows hash equal, whatever their position."""
    frame = pd.DataFrame(coded)
    key = f"{seed:016d}"[-16:]
    hashes: NDArray[np.uint64] = np.asarray(pd.util.hash_pandas_object(frame, index=False, hash_key=key),
                                            dtype=np.uint64)
    return hashes


def lowest(hashes: NDArray[np.uint64], k: int) -> NDArray[np.intp]:
    """Indices of the ``k`` rows with the lowest hashes, in hash order: a seeded uniform subsample
    (every row when ``k`` is at least the row count) that does not depend on row order."""
    n = hashes.size
    if k < n:
        part = np.argpartition(hashes, k - 1)[:k]
        return part[np.argsort(hashes[part], kind="stable")]
    return np.argsort(hashes, kind="stable")
