"""A CUSUM on bucketed error counts, standardised by the baseline's rate and each bucket's size.

The chart is the log-likelihood-ratio CUSUM of the per-row errors (Page 1954). Its unit is *nats
of evidence per row*: a bucket of 500 rows moves it 500 times as far as a bucket of one row, so
it means the same whatever the traffic or the bucket size, and it is checked at every row, so a
large bucket does not delay an alarm. Buckets set the resolution of the reported change point.

Classification (0/1 errors): Bernoulli LLR of rate ``p0`` (the baseline) against ``p1``, the
rate whose odds are ``odds_ratio`` times ``p0``'s::

    s <- max(0, s + e ln(p1/p0) + (1 - e) ln((1-p1)/(1-p0)))      per row, e in {0, 1}

Regression (absolute errors): Gaussian LLR of mean ``mu0`` (sd ``sigma0``) against
``mu1 = mae_ratio * mu0``::

    s <- max(0, s + d (e - mu0) / sigma0**2 - d**2 / (2 sigma0**2)),   d = mu1 - mu0

It fires when ``s >= threshold``. Lorden's bound gives an in-control run length of at least
``exp(threshold)`` rows for the Bernoulli chart whatever ``p0``; the Gaussian one is approximate
for skewed absolute errors. After an alarm the chart *relearns*: the next ``relearn_rows`` rows
are averaged into a new baseline (no alarms meanwhile), so a lasting change is reported once and
a further change on top of it is reported again. While the baseline is above the reference's, a
second, downward chart (odds divided by ``odds_ratio``) watches for a recovery and relearns,
silently, when it fires. See docs/statistics.md ("Concept drift").
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import NDArray

from monitor.stats.performance import Task

__all__ = ["Baseline", "CusumChart", "CusumParams", "baseline_of", "update_chart"]

_P_MIN = 1e-6  # rates are kept inside (0, 1) so the log-likelihood ratio is finite


@dataclass(frozen=True, slots=True, kw_only=True)
class CusumParams:
    """The chart's tuning; the defaults meet docs/statistics.md's SEA target (benchmarks/bench_concept.py)."""

    threshold: float = 9.0
    odds_ratio: float = 2.0
    mae_ratio: float = 1.5
    relearn_rows: int = 1000

    def __post_init__(self) -> None:
        if not self.threshold > 0:
            raise ValueError(f"threshold ({self.threshold}) must be positive")
        if not self.odds_ratio > 1:
            raise ValueError(f"odds_ratio ({self.odds_ratio}) must be above 1")
        if not self.mae_ratio > 1:
            raise ValueError(f"mae_ratio ({self.mae_ratio}) must be above 1")
        if self.relearn_rows < 1:
            raise ValueError(f"relearn_rows ({self.relearn_rows}) must be at least 1")


@dataclass(frozen=True, slots=True, kw_only=True)
class Baseline:
    """The in-control error level: a rate (classification) or a mean and sd of absolute errors."""

    mean: float
    sd: float = 0.0


def baseline_of(task: Task, errors: NDArray[np.float64]) -> Baseline | None:
    """The baseline of reference errors (NaN skipped); ``None`` without any.

    A rate is shrunk as ``(errors + 0.5) / (n + 1)``, so a reference without a single error still
    gives a finite chart. A regression sd of zero is raised to 1e-9 of the mean (or 1e-9).

    >>> baseline_of(Task.CLASSIFICATION, np.array([0.0, 1.0, 0.0, 0.0]))
    Baseline(mean=0.3, sd=0.0)
    """
    e = errors[~np.isnan(errors)]
    if e.size == 0:
        return None
    if Task(task) is Task.CLASSIFICATION:
        return Baseline(mean=float((e.sum() + 0.5) / (e.size + 1)))
    mean = float(e.mean())
    sd = float(e.std(ddof=1)) if e.size > 1 else 0.0
    return Baseline(mean=mean, sd=max(sd, 1e-9 * abs(mean), 1e-9))


@dataclass(frozen=True, slots=True, kw_only=True)
class CusumChart:
    """The chart's whole state (plain numbers, so it is stored as JSON).

    ``onset`` is the start (the caller's unit: epoch nanoseconds) of the bucket of the row after
    which the upward statistic last stood at zero: the CUSUM's estimate of when a change began. ``learn_*`` accumulate
    the rows of a relearning phase; ``learning`` is True while one runs.
    """

    reference: Baseline | None
    baseline: Baseline | None
    up: float = 0.0
    down: float = 0.0
    onset: int | None = None
    learning: bool = False
    learn_n: int = 0
    learn_sum: float = 0.0
    learn_sumsq: float = 0.0

    @classmethod
    def start(cls, reference: Baseline | None) -> CusumChart:
        """A chart on the reference's baseline; without one, it learns its baseline first."""
        return cls(reference=reference, baseline=reference, learning=reference is None)

    def to_json(self) -> dict[str, Any]:
        """The state as JSON-safe values."""
        def b(x: Baseline | None) -> list[float] | None:
            return None if x is None else [x.mean, x.sd]
        return {"reference": b(self.reference), "baseline": b(self.baseline), "up": self.up, "down": self.down,
                "onset": self.onset, "learning": self.learning, "learn_n": self.learn_n,
                "learn_sum": self.learn_sum, "learn_sumsq": self.learn_sumsq}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CusumChart:
        """The state :meth:`to_json` wrote; ``KeyError``/``TypeError``/``ValueError`` if it is not one."""
        def b(x: Any) -> Baseline | None:
            return None if x is None else Baseline(mean=float(x[0]), sd=float(x[1]))
        return cls(reference=b(data["reference"]), baseline=b(data["baseline"]), up=float(data["up"]),
                   down=float(data["down"]), onset=None if data["onset"] is None else int(data["onset"]),
                   learning=bool(data["learning"]), learn_n=int(data["learn_n"]),
                   learn_sum=float(data["learn_sum"]), learn_sumsq=float(data["learn_sumsq"]))


def _rate(p: float) -> float:
    return min(max(p, _P_MIN), 1.0 - _P_MIN)


def _shifted(p0: float, odds_ratio: float) -> float:
    odds = p0 / (1.0 - p0) * odds_ratio
    return _rate(odds / (1.0 + odds))


def _increments(task: Task, base: Baseline, params: CusumParams, e: NDArray[np.float64], up: bool) -> NDArray[np.float64]:
    """Each row's log-likelihood ratio of the shifted level against the baseline (vectorised)."""
    if task is Task.CLASSIFICATION:
        p0 = _rate(base.mean)
        p1 = _shifted(p0, params.odds_ratio if up else 1.0 / params.odds_ratio)
        return np.where(e > 0.5, math.log(p1 / p0), math.log((1.0 - p1) / (1.0 - p0)))
    mu1 = base.mean * (params.mae_ratio if up else 1.0 / params.mae_ratio)
    d, var = mu1 - base.mean, base.sd**2
    return np.asarray(d * (e - base.mean) / var - d * d / (2.0 * var), dtype=np.float64)


def _learnt(task: Task, n: int, total: float, total_sq: float) -> Baseline:
    mean = total / n
    if task is Task.CLASSIFICATION:
        return Baseline(mean=(total + 0.5) / (n + 1))
    var = (total_sq - n * mean * mean) / (n - 1) if n > 1 else 0.0
    return Baseline(mean=mean, sd=max(math.sqrt(max(var, 0.0)), 1e-9 * abs(mean), 1e-9))


def _first_crossing(s0: float, x: NDArray[np.float64], h: float) -> tuple[int | None, NDArray[np.float64]]:
    """The reflected walk ``s_t = max(0, s_{t-1} + x_t)`` from ``s0`` (Lindley, vectorised) and its first ``>= h``."""
    walk = s0 + np.cumsum(x)
    chart = walk - np.minimum(0.0, np.minimum.accumulate(walk))
    hits = np.flatnonzero(chart >= h)
    return (int(hits[0]) if hits.size else None), chart


def update_chart(
    chart: CusumChart, task: Task, params: CusumParams, *, errors: NDArray[np.float64], starts: NDArray[np.int64],
) -> tuple[CusumChart, list[tuple[int, int]]]:
    """Feed labelled rows' errors in time order; ``starts`` is each row's bucket start (e.g. epoch ns).

    The chart moves row by row and is checked at every row (the recursion is vectorised, the
    loop is over alarms), so a bucket's size never delays an alarm; buckets give the resolution
    of the reported change point. Returns the new chart and, per alarm, the start of the bucket
    where the change began (the row after the chart last stood at zero, possibly fed by an
    earlier call) and the index (into ``errors``) of the row that crossed the threshold.

    >>> chart = CusumChart.start(Baseline(mean=0.1))
    >>> errors = np.tile([1.0] + [0.0] * 9, 100)  # 10 % errors ...
    >>> errors = np.concatenate([errors, np.tile([1.0, 1.0, 1.0] + [0.0] * 7, 100)])  # ... then 30 %
    >>> starts = np.arange(errors.size) // 100  # buckets of 100 rows, numbered
    >>> chart, alarms = update_chart(chart, Task.CLASSIFICATION, CusumParams(), errors=errors, starts=starts)
    >>> alarms, chart.learning
    ([(10, 1071)], True)
    """
    task = Task(task)
    e = np.asarray(errors, dtype=np.float64)
    sq = e * e
    alarms: list[tuple[int, int]] = []
    st, i, m = chart, 0, e.size
    while i < m:
        if st.learning:
            take = min(m - i, max(params.relearn_rows - st.learn_n, 0))
            st = replace(st, learn_n=st.learn_n + take, learn_sum=st.learn_sum + float(e[i:i + take].sum()),
                         learn_sumsq=st.learn_sumsq + float(sq[i:i + take].sum()))
            i += take
            if st.learn_n >= params.relearn_rows:
                st = replace(st, baseline=_learnt(task, st.learn_n, st.learn_sum, st.learn_sumsq), learning=False,
                             learn_n=0, learn_sum=0.0, learn_sumsq=0.0, up=0.0, down=0.0, onset=None)
            continue
        assert st.baseline is not None
        rest = e[i:]
        hit_up, up = _first_crossing(st.up, _increments(task, st.baseline, params, rest, up=True), params.threshold)
        watch_down = st.reference is not None and st.baseline.mean > st.reference.mean
        hit_down, down = (None, np.zeros(0))
        if watch_down:
            hit_down, down = _first_crossing(st.down, _increments(task, st.baseline, params, rest, up=False),
                                             params.threshold)
        stop = min(h for h in (hit_up, hit_down, rest.size - 1) if h is not None)
        zeros = np.flatnonzero(up[:stop + 1] <= 0.0)
        onset = int(starts[i + zeros[-1] + 1]) if zeros.size and zeros[-1] + 1 <= stop else (
            None if zeros.size else (st.onset if st.up > 0.0 else int(starts[i])))
        if hit_up is not None and hit_up == stop:
            alarms.append((onset if onset is not None else int(starts[i + stop]), i + stop))
        if stop in (hit_up, hit_down):  # an alarm up, or a recovery down: relearn from the next row
            st = replace(st, up=0.0, down=0.0, onset=None, learning=True, learn_n=0, learn_sum=0.0, learn_sumsq=0.0)
        else:
            st = replace(st, up=float(up[-1]), down=float(down[-1]) if watch_down else 0.0, onset=onset)
        i += stop + 1
    return st, alarms
