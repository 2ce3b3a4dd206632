"""The calibrated rule over a seasonal reference: nulls widened by the spread between periods.

Why: the calibrated rule simulates a distance's null by drawing windows *independently* from the
reference's rows. A reference made of several periods (the same hour in the last four weeks, the
last 30 days cut into days) is not one population: each period differs from the others by more
than its rows' sampling noise (a busier Monday, a warmer week). A new window is one more period,
so its distance to the reference carries that spread too, and an independent-rows null is too
narrow: the window false-alarms although it is just another period of the season.

How: the spread is measured on the reference itself, with pairs that respect the season. Each
period is held out in turn and tested against the others taken together, exactly as a window is
tested against the reference (:func:`monitor.stats.check.check`). For every column tested with a
simulated null, each pair gives its statistic ``s_k`` and the independent-rows null at the pair's
sizes, whose second moment is ``m_k``. Under "periods differ by a random effect", ``s_k^2`` is
about ``m_k + tau^2`` (within-period noise plus the between-period part), so

    tau^2 = max(0, mean_k(s_k^2 - m_k))

is a method-of-moments estimate of the between-period variance in the statistic's own units.
A window is then tested against the null ``sqrt(W^2 + B^2)``: ``W`` the independent-rows draws at
the window's sizes, ``B = tau * c * t`` a period effect, ``t`` Student-t with ``pairs - 1`` degrees of
freedom (a new period predicted from a handful of observed ones: the prediction-interval
quantile, wider than the normal one when there are few periods) and ``c^2 = (1 - 1/P^2)`` the
ratio of the variance of a new period against all ``P`` to that of a held-out one against the
other ``P - 1``. Squares add because within-period noise and the period's own offset are
independent; when ``tau`` dominates, the ``1 - alpha`` quantile is that of ``|B|``, when it is 0 the
rule is unchanged. The draws of ``t`` are seeded (``CheckOptions.seed`` and the column).

What it does not cover: p-value tests (``ks``, ``kuiper``, ``chi_square`` ...) keep their analytic,
independent-rows p-values; their effect floor still applies. With one period there is no pair, and
the rule is the independent-rows one.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, MutableMapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from monitor.stats.calibration import NullDraws, size_bucket
from monitor.stats.check import CheckOptions, ColumnResult, DatasetResult, Status, check
from monitor.stats.profile import ReferenceProfile, fit_profile
from monitor.stats.types import ColumnType, Compat, DriftMethod

__all__ = ["MAX_PAIRS", "SeasonalNull", "seasonal_check", "seasonal_null"]

#: At most this many periods are held out (evenly spaced); each costs a fit of the others.
MAX_PAIRS = 12


@dataclass(frozen=True, slots=True, kw_only=True)
class SeasonalNull:
    """Between-period variance ``tau^2`` of each column's distance, from leave-one-period-out pairs."""

    #: column -> (the method the pairs were tested with, tau^2 in the statistic's units)
    between: Mapping[str, tuple[DriftMethod, float]]
    #: How many held-out periods the estimate rests on.
    pairs: int
    #: How many periods the reference has (``pairs`` or more).
    periods: int

    def widened(self, result: ColumnResult, draws: NullDraws, *, seed: int) -> NullDraws | None:
        """The window's null for ``result``: ``sqrt(W^2 + B^2)`` (``None``: no estimate, or tau is 0)."""
        entry = self.between.get(result.column)
        if entry is None or entry[0] != result.method or entry[1] <= 0.0 or result.null_threshold is None \
                or result.alpha is None:
            return None
        base = float(np.quantile(draws.draws, 1.0 - result.alpha))
        if base <= 0.0:
            return None
        # check() rescales the stored draws by r to the window's exact effective size; the period
        # effect does not shrink with the window, so it is stored divided by r.
        r = result.null_threshold / base
        scale = math.sqrt(entry[1] * (1.0 - 1.0 / self.periods ** 2))
        rng = np.random.default_rng([seed, zlib.crc32(result.column.encode())])
        t = rng.standard_t(max(self.pairs - 1, 1), size=draws.draws.size)
        values = np.sqrt(np.square(draws.draws) + np.square(scale * t / r))
        return NullDraws(np.sort(values), draws.n_effective, draws.exponent)


def _draws(cache: Mapping[Any, Any], result: ColumnResult) -> tuple[Any, NullDraws] | None:
    """The cached null draws ``check`` used for this column (its method, the window's size bucket)."""
    if result.null_threshold is None or result.method is None:
        return None
    bucket = size_bucket(result.n_current)
    for key, value in list(cache.items()):
        if isinstance(key, tuple) and len(key) >= 4 and key[0] == result.column and key[1] == result.method \
                and key[3] == bucket and isinstance(value, NullDraws):
            return key, value
    return None


def _second_moment(draws: NullDraws, result: ColumnResult) -> float:
    """The null's ``E[statistic^2]`` at the sizes ``result`` was tested at.

    ``check`` rescaled the draws to the result's effective size before taking the ``1 - alpha``
    quantile (``null_threshold``); the same factor rescales the second moment.
    """
    assert result.null_threshold is not None and result.alpha is not None
    base = float(np.quantile(draws.draws, 1.0 - result.alpha))
    if base <= 0.0:
        return 0.0
    return float(np.mean(np.square(draws.draws))) * (result.null_threshold / base) ** 2


def _tested(result: ColumnResult) -> bool:
    return result.status is Status.OK and result.null_threshold is not None and result.statistic is not None \
        and math.isfinite(result.statistic)


def _held_out(periods: int) -> list[int]:
    if periods <= MAX_PAIRS:
        return list(range(periods))
    return sorted({int(i) for i in np.linspace(0, periods - 1, MAX_PAIRS).round()})


def seasonal_null(periods: Sequence[pd.DataFrame], types: Mapping[str, ColumnType],
                  options: CheckOptions) -> SeasonalNull | None:
    """Estimate each column's between-period variance from the reference's own periods.

    ``periods`` are the reference's periods in time order (the same window in earlier seasons, or
    the reference cut into windows); each is tested against the others under the calibrated rule
    with ``options``. ``None`` with fewer than two non-empty periods (no pair).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> alike = [pd.DataFrame({"x": rng.normal(0, 1, 300)}) for _ in range(4)]
    >>> null = seasonal_null(alike, {"x": ColumnType.NUMERICAL}, CheckOptions())
    >>> null.pairs, null.between["x"][0].value
    (4, 'wasserstein')
    >>> apart = [pd.DataFrame({"x": rng.normal(mu, 1, 300)}) for mu in (0.0, 0.5, -0.5, 0.3)]
    >>> seasonal_null(apart, {"x": ColumnType.NUMERICAL}, CheckOptions()).between["x"][1] > 0.01
    True
    """
    kept = [p for p in periods if len(p)]
    if len(kept) < 2:
        return None
    options = replace(options, compat=Compat.CALIBRATED)
    excess: dict[str, list[float]] = {}
    methods: dict[str, DriftMethod] = {}
    held = _held_out(len(kept))
    for k in held:
        rest = pd.concat([p for j, p in enumerate(kept) if j != k], ignore_index=True)
        profile = fit_profile(rest, types=dict(types))
        result = check(profile, kept[k], options)
        for r in result.columns:
            if not _tested(r) or r.method is None or methods.setdefault(r.column, r.method) != r.method:
                continue
            found = _draws(profile.null_cache, r)
            if found is None:
                continue
            assert r.statistic is not None
            excess.setdefault(r.column, []).append(r.statistic ** 2 - _second_moment(found[1], r))
    between = {c: (methods[c], max(0.0, float(np.mean(v)))) for c, v in excess.items()}
    return SeasonalNull(between=between, pairs=len(held), periods=len(kept))


def seasonal_check(profile: ReferenceProfile, current: pd.DataFrame, options: CheckOptions,
                   null: SeasonalNull | None) -> DatasetResult:
    """:func:`~monitor.stats.check.check` with every simulated null widened by the season's spread.

    The window is checked once (which simulates, or finds cached, each column's independent-rows
    null at the window's size); each such null is scaled by its column's ``lambda`` in a copy of
    the profile's cache, and the window is checked again against the widened nulls, so the
    dataset verdict, corrections and p-values all come from ``check`` itself. Under
    ``compat: evidently`` (fixed thresholds, no null) or without an estimate, one plain check.
    """
    first = check(profile, current, options)
    if null is None or options.compat is not Compat.CALIBRATED:
        return first
    widened: MutableMapping[Any, Any] = dict(profile.null_cache)
    factors: dict[str, float] = {}
    for r in first.columns:
        found = _draws(profile.null_cache, r) if _tested(r) else None
        wide = None if found is None else null.widened(r, found[1], seed=options.seed)
        if found is not None and wide is not None:
            widened[found[0]] = wide
            assert r.alpha is not None
            factors[r.column] = float(np.quantile(wide.draws, 1 - r.alpha) / np.quantile(found[1].draws, 1 - r.alpha))
    if not factors:
        return first
    second = check(replace(profile, null_cache=dict(widened)), current, options)
    columns = tuple(replace(c, reason=f"{c.reason}; null quantile x{factors[c.column]:.2f} for the spread between "
                                      f"the reference's {null.periods} periods") if c.column in factors else c
                    for c in second.columns)
    return replace(second, columns=columns)
