"""Helpers shared by the count-based methods: smoothed shares and the 2 x k contingency test."""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from monitor.stats.types import DriftMethod, DriftResult, distance_drifted, p_value_drifted

__all__ = ["contingency_table", "contingency_test", "distance_result", "smoothed_shares"]


def smoothed_shares(counts: NDArray[np.float64], smoothing: float, name: str,
                    method: DriftMethod) -> NDArray[np.float64]:
    """Shares after adding ``smoothing`` to every count; refuse empty bins if it is 0."""
    if not (math.isfinite(smoothing) and smoothing >= 0.0):
        raise ValueError(f"smoothing ({smoothing}) must be a finite number >= 0")
    smoothed = counts + smoothing
    if smoothing == 0.0 and not smoothed.all():
        empty = int(np.flatnonzero(smoothed == 0)[0])
        raise ValueError(
            f"{method} with smoothing=0 needs every bin non-empty on both sides: {name} bin "
            f"{empty} has count 0; pass smoothing > 0 (the default is 0.5)"
        )
    shares: NDArray[np.float64] = smoothed / float(smoothed.sum())
    return shares


def contingency_table(ref: NDArray[np.float64], cur: NDArray[np.float64]) -> NDArray[np.float64]:
    """The 2 x k table [reference; current] without categories empty on both sides."""
    table = np.vstack([ref, cur])
    kept: NDArray[np.float64] = table[:, table.sum(axis=0) > 0]
    return kept


def contingency_test(ref: NDArray[np.float64], cur: NDArray[np.float64], alpha: float,
                     method: DriftMethod, lambda_: Literal["pearson", "log-likelihood"] | None = None) -> DriftResult:
    """Two-sample test of independence on the table (Pearson, or G with ``log-likelihood``).

    A single remaining category is no evidence of a difference: statistic 0, p-value 1.
    """
    table = contingency_table(ref, cur)
    if table.shape[1] < 2:
        statistic, p_value = 0.0, 1.0
    else:
        res = stats.chi2_contingency(table, correction=False, lambda_=lambda_)
        statistic, p_value = float(res.statistic), float(res.pvalue)
    return DriftResult(method=method, statistic=statistic, p_value=p_value, threshold=alpha,
                       drifted=p_value_drifted(method, p_value, alpha), n_reference=int(ref.sum()),
                       n_current=int(cur.sum()))


def distance_result(method: DriftMethod, distance: float, threshold: float, ref: NDArray[np.float64],
                    cur: NDArray[np.float64]) -> DriftResult:
    """The result of a distance on counts: no p-value, the shared distance rule, observed totals."""
    return DriftResult(method=method, statistic=distance, p_value=None, threshold=threshold,
                       drifted=distance_drifted(method, distance, threshold), n_reference=int(ref.sum()),
                       n_current=int(cur.sum()))
