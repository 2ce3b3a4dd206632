"""The band's sampling error: the realized metric's spread over reference chunks, at the window's size.

At fit time the labelled reference is cut, in its row order, into disjoint chunks of ``m`` rows for
a ladder of sizes ``m = 50, 100, 200, ...`` (every size that yields at least ``min_chunks`` whole
chunks; a small reference gets one size, ``n // min_chunks`` rows). For each size and metric the
table keeps the standard deviation (``ddof=1``) of the realized metric over the chunks where it is
defined. For a window of ``n`` rows the sampling error is ``std_m * sqrt(m / n)`` with ``m`` the
ladder size nearest ``n`` on a log scale (the ``1 / sqrt(n)`` law bridges the rest).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = ["SamplingTable", "chunk_sizes", "fit_sampling_table"]

#: Per-chunk metric values: given each row's chunk id and the number of chunks, one array per metric.
ChunkValues = Callable[[NDArray[np.intp], int], Mapping[str, NDArray[np.float64]]]


def chunk_sizes(n: int, *, smallest: int = 50, min_chunks: int = 10) -> tuple[int, ...]:
    """The ladder of chunk sizes for a reference of ``n`` rows.

    Examples
    --------
    >>> chunk_sizes(2000), chunk_sizes(300)
    ((50, 100, 200), (30,))
    """
    sizes = []
    m = smallest
    while n // m >= min_chunks:
        sizes.append(m)
        m *= 2
    if not sizes and n // min_chunks >= 2:
        sizes.append(n // min_chunks)
    return tuple(sizes)


@dataclass(frozen=True, slots=True, kw_only=True)
class SamplingTable:
    """Chunk sizes and, per metric, the realized metric's chunk-to-chunk std at each size."""

    sizes: tuple[int, ...]
    std: Mapping[str, tuple[float | None, ...]]

    def sampling_error(self, metric: str, n: int) -> float | None:
        """The metric's sampling error at ``n`` rows, or ``None`` when no size measured it."""
        stds = self.std.get(metric, ())
        levels = [(abs(math.log(m / n)), m, s) for m, s in zip(self.sizes, stds, strict=True) if s is not None]
        if not levels or n <= 0:
            return None
        _, m, s = min(levels)
        return s * math.sqrt(m / n)

    def to_dict(self) -> dict[str, Any]:
        return {"sizes": list(self.sizes), "std": {k: list(v) for k, v in self.std.items()}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SamplingTable:
        return cls(sizes=tuple(int(m) for m in data["sizes"]),
                   std={k: tuple(None if s is None else float(s) for s in v) for k, v in data["std"].items()})


def fit_sampling_table(n: int, metrics: tuple[str, ...], values: ChunkValues) -> SamplingTable:
    """Measure every metric's chunk-to-chunk std on a reference of ``n`` rows (see the module docstring)."""
    sizes = chunk_sizes(n)
    table: dict[str, list[float | None]] = {m: [] for m in metrics}
    for m in sizes:
        n_chunks = n // m
        chunk = np.arange(n_chunks * m, dtype=np.intp) // m
        per_chunk = values(chunk, n_chunks)
        for metric in metrics:
            v = per_chunk[metric]
            v = v[np.isfinite(v)]
            table[metric].append(float(np.std(v, ddof=1)) if v.size >= 2 else None)
    return SamplingTable(sizes=sizes, std={k: tuple(v) for k, v in table.items()})
