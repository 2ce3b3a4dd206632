"""``--budget N/month``: the most sensitive threshold per feature that meets a false-alarm budget.

Re-evaluates the calibrated rule on the statistics recorded per window, no re-run: a distance
alarms when ``statistic >= floor`` and ``statistic > null_threshold``, so raising the floor above
the (k+1)-th largest statistic that beats its null quantile leaves at most k alarms; a p-value
test alarms when ``p < alpha`` and ``effect >= effect_floor``, so an alpha at or below the (k+1)-th
smallest such p-value leaves at most k. k is the budget times the clean stretch's length in
months, rounded down. The smallest floor (largest alpha) is proposed, because it is the most
sensitive setting the budget allows; alpha is searched no higher than :data:`ALPHA_MAX`.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from datetime import datetime

import numpy as np
from numpy.typing import NDArray

from monitor.backtest._replay import Rates, Record, Replay, rates
from monitor.errors import InputError
from monitor.stats.types import P_VALUE_METHODS, DriftMethod

__all__ = ["ALPHA_MAX", "Proposal", "parse_budget", "propose", "snippets"]

#: The largest alpha proposed: above one chance in five per window a test no longer filters anything.
ALPHA_MAX = 0.2
_PER = {"month": 1.0, "week": 30.0 / 7.0, "day": 30.0}


def parse_budget(text: str) -> float:
    """``N/month`` (or ``N/week``, ``N/day``) as false alarms per 30 days.

    Examples
    --------
    >>> parse_budget("1/month"), parse_budget("0.5/week")
    (1.0, 2.142857142857143)
    """
    m = re.fullmatch(r"\s*([0-9]*\.?[0-9]+)\s*/\s*(month|week|day)\s*", text)
    if not m:
        raise InputError(f"--budget {text!r}: expected N/month, N/week or N/day, e.g. 1/month", field="budget")
    return float(m[1]) * _PER[m[2]]


@dataclass(frozen=True, slots=True, kw_only=True)
class Proposal:
    """A feature's proposed threshold and its rates before and after, on the same windows."""

    column: str
    method: str | None
    #: ``threshold`` (a distance's effect floor) or ``alpha`` (a p-value test's level), as in driftline.yaml.
    key: str | None
    value: float | None
    current: float | None
    before: Rates
    after: Rates | None
    reason: str

    def to_dict(self) -> dict[str, object]:
        """The JSON form (docs/json-output.md)."""
        return {"column": self.column, "method": self.method, "key": self.key, "value": self.value,
                "current": self.current, "reason": self.reason, "before": self.before.to_dict(),
                "after": None if self.after is None else self.after.to_dict()}


def _ceil_sig(x: float, digits: int = 3) -> float:
    """The smallest number of ``digits`` significant digits strictly above ``x`` (x > 0)."""
    unit = 10.0 ** (math.floor(math.log10(x)) - digits + 1)
    value = math.ceil(x / unit) * unit
    value = value + unit if value <= x else value
    return float(f"{value:.{digits + 1}g}")


def _floor_sig(x: float, digits: int = 2) -> float:
    """The largest number of ``digits`` significant digits at or below ``x`` (x > 0)."""
    unit = 10.0 ** (math.floor(math.log10(x)) - digits + 1)
    value = float(f"{math.floor(x / unit) * unit:.{digits + 1}g}")
    return value if value <= x else float(f"{value - unit:.{digits + 1}g}")


def alarms_at(record: Record, key: str, value: float) -> NDArray[np.bool_]:
    """The calibrated rule's alarms per window had the feature's threshold been ``value``."""
    with np.errstate(invalid="ignore"):
        if key == "threshold":
            return record.tested & (record.statistic >= value) & (record.statistic > record.null_threshold)
        return record.tested & (record.p_value < value) & (record.effect >= record.effect_floor)


def _one(record: Record, replayed: Replay, at: datetime | None, clean: NDArray[np.bool_],
         allowed: int) -> Proposal:
    before = rates(record.drifted, replayed, at)
    methods = {m for m, t in zip(record.methods, record.tested, strict=True) if t and m is not None}
    if len(methods) != 1:
        why = "never tested" if not methods else f"methods vary across windows ({', '.join(sorted(methods))})"
        return Proposal(column=record.column, method=None, key=None, value=None, current=None, before=before,
                        after=None, reason=f"no proposal: {why}; pin a method")
    method = methods.pop()
    use = clean & record.tested
    if DriftMethod(method) in P_VALUE_METHODS:
        key, current = "alpha", float(np.nanmedian(record.alpha[use])) if use.any() else None
        with np.errstate(invalid="ignore"):
            p = np.sort(record.p_value[use & (record.effect >= record.effect_floor)])
        if p.size <= allowed:
            value: float | None = ALPHA_MAX
        else:
            value = _floor_sig(float(p[allowed])) if p[allowed] > 0 else None
            value = None if value is None or value <= 0 else min(value, ALPHA_MAX)
    else:
        key, current = "threshold", float(np.nanmedian(record.effect_floor[use])) if use.any() else None
        s = np.sort(record.statistic[use & (record.statistic > record.null_threshold)])[::-1]
        value = 0.0 if s.size <= allowed else _ceil_sig(float(s[allowed]))
    if value is None:
        return Proposal(column=record.column, method=method, key=key, value=None, current=current, before=before,
                        after=None, reason="no alpha meets the budget (p-values of 0); raise effect_floor instead")
    after = rates(alarms_at(record, key, value), replayed, at)
    bound = value == (ALPHA_MAX if key == "alpha" else 0.0)
    guard = "the effect floor" if key == "alpha" else "the null quantile"
    reason = (f"any {key} meets the budget ({guard} alone keeps it): the bound of the search is proposed" if bound
              else f"at most {allowed} false alarm(s) on the clean stretch")
    return Proposal(column=record.column, method=method, key=key, value=value, current=current, before=before,
                    after=after, reason=reason)


def propose(replayed: Replay, calibrated: tuple[Record, ...], at: datetime | None,
            budget_per_month: float) -> tuple[int, list[Proposal]]:
    """The allowed alarm count on the clean stretch and one proposal per tested column."""
    clean, _ = replayed.windows.stretches(at)
    clean = clean & replayed.checked
    months = int(clean.sum()) / replayed.windows.per_month
    allowed = int(math.floor(budget_per_month * months + 1e-9))
    return allowed, [_one(r, replayed, at, clean, allowed) for r in calibrated if r.tested.any()]


def _name(column: str) -> str:
    return column if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", column) else json.dumps(column)


def _number(value: float) -> str:
    return f"{value:g}"


def snippets(proposals: list[Proposal], types: dict[str, str | None], roles: dict[str, str],
             periods: dict[str, float]) -> tuple[str, str]:
    """The proposals as a ``driftline.yaml`` ``features:`` block and as a ``--schema`` file.

    The schema lists every proposed column (a schema tests only what it lists), with its type,
    its pinned method and the proposed value as ``threshold`` (alpha for p-value tests, the
    effect floor for distances: the schema's one knob means both, docs/statistics.md).
    """
    yaml_lines, schema_lines = ["features:"], ["columns:"]
    for p in proposals:
        if p.method is None:
            continue
        own = f"method: {p.method}" + (f", {p.key}: {_number(p.value)}" if p.value is not None else "")
        yaml_lines.append(f"  {_name(p.column)}: {{{own}}}")
        spec = f"type: {types.get(p.column) or 'numerical'}, method: {p.method}"
        spec += f", threshold: {_number(p.value)}" if p.value is not None else ""
        spec += f", period: {_number(periods[p.column])}" if p.column in periods else ""
        spec += f", role: {roles[p.column]}" if p.column in roles else ""
        schema_lines.append(f"  {_name(p.column)}: {{{spec}}}")
    return "\n".join(yaml_lines) + "\n", "\n".join(schema_lines) + "\n"
