"""A finished backtest and its JSON form, shared by both forms (a history file, a stored monitor).

Both forms end in the same :class:`Backtest`: the replay, the injections, every signal's rates
under each rule and the budget's proposals, so false alarms per month, delay, power and
``--budget`` mean the same whichever way the windows were read.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from monitor.backtest._budget import Proposal, propose, snippets
from monitor.backtest._inject import Injection
from monitor.backtest._replay import RULES, Rates, Replay, iso, rates
from monitor.stats.types import Compat

__all__ = ["Backtest", "StoredMonitor", "summarise"]


@dataclass(frozen=True, slots=True, kw_only=True)
class StoredMonitor:
    """What a backtest over a monitor's stored history replayed: which monitor, reference and ends."""

    name: str
    model: str
    #: The monitor's own rule (its ``compat``); the other one is reported beside it.
    rule: Compat
    #: The active stored version (``None``: a dynamic reference, fitted per window from the source).
    reference_version: int | None
    start: datetime
    end: datetime
    step_seconds: float
    min_rows: int

    def to_dict(self) -> dict[str, object]:
        """The JSON form (docs/json-output.md)."""
        return {"name": self.name, "model": self.model, "rule": str(self.rule),
                "reference_version": self.reference_version, "from": self.start.isoformat(),
                "to": self.end.isoformat(), "step_seconds": self.step_seconds, "min_rows": self.min_rows}


@dataclass(frozen=True, slots=True, kw_only=True)
class Backtest:
    """A finished backtest: the replay, the injections, and the rates of every signal."""

    replayed: Replay
    injections: tuple[Injection, ...]
    at: datetime | None
    dataset: dict[Compat, Rates]
    #: Per column and rule: (type, method, drift rates, missing-rate rates).
    features: tuple[tuple[str, str | None, dict[Compat, tuple[str | None, Rates, Rates]]], ...]
    budget: float | None
    allowed: int | None
    proposals: tuple[Proposal, ...]
    yaml: str | None
    schema: str | None
    #: The stored monitor replayed (``None``: a history file).
    monitor: StoredMonitor | None = None
    #: The reference kind replayed (``fixed``, ``previous_window``, ``rolling:30d``, ``same_period:1d:7``).
    reference: str = "fixed"
    #: The other kinds compared over the same windows (``--reference-kind`` given more than once).
    kinds: tuple[Backtest, ...] = ()
    #: The concept-drift detector's name and rates (a stored monitor with labels; else ``None``).
    concept: tuple[str, Rates] | None = None

    def to_dict(self) -> dict[str, object]:
        """The JSON contract of ``driftline backtest --format json`` (docs/json-output.md)."""
        w = self.replayed.windows
        clean, injected = w.stretches(self.at)
        checked = self.replayed.checked
        return {
            "monitor": None if self.monitor is None else self.monitor.to_dict(),
            "windows": {
                "total": w.size, "checked": int(checked.sum()), "skipped": int((~checked).sum()),
                "clean": int((clean & checked).sum()), "injected": int((injected & checked).sum()),
                "boundary": int((~clean & ~injected & checked).sum()),
                "per_month": w.per_month, "spacing_seconds": w.spacing.total_seconds(),
                "first_start": iso(int(w.start[0])), "last_end": iso(int(w.end[-1])),
                "rows": int(self.replayed.rows.sum()),
            },
            "reference": self.reference,
            "references": [k.kind_dict() for k in (self, *self.kinds)],
            "injections": [i.to_dict() for i in self.injections],
            "injected_at": None if self.at is None else self.at.isoformat(),
            "rules": [str(r) for r in RULES],
            "dataset": {str(rule): r.to_dict() for rule, r in self.dataset.items()},
            "features": [
                {"column": name, "type": kind,
                 **{str(rule): {"method": method, **drift.to_dict(), "missing": missing.to_dict()}
                    for rule, (method, drift, missing) in by_rule.items()}}
                for name, kind, by_rule in self.features
            ],
            "concept": None if self.concept is None else {"detector": self.concept[0], **self.concept[1].to_dict()},
            "budget": None if self.budget is None else {
                "per_month": self.budget, "allowed_alarms": self.allowed,
                "proposals": [p.to_dict() for p in self.proposals], "yaml": self.yaml, "schema": self.schema,
            },
        }


    def kind_dict(self) -> dict[str, object]:
        """This kind's part of ``references[]``: its windows, dataset and feature rates (docs/json-output.md)."""
        checked = self.replayed.checked
        short = self.replayed.reference_short
        return {
            "kind": self.reference,
            "windows": {"checked": int(checked.sum()), "skipped": int((~checked).sum()),
                        "reference_short": int(short.sum()) if short.size else 0},
            "dataset": {str(rule): r.to_dict() for rule, r in self.dataset.items()},
            "features": [{"column": name, **{str(rule): {"method": method, **drift.to_dict()}
                                              for rule, (method, drift, _) in by_rule.items()}}
                         for name, _, by_rule in self.features],
        }


def _signals(replayed: Replay, rule: Compat, index: int, at: datetime | None) -> tuple[str | None, Rates, Rates]:
    record = replayed.columns[rule][index]
    return record.method, rates(record.drifted, replayed, at), rates(record.missing_drifted, replayed, at)


def summarise(replayed: Replay, injections: list[Injection], budget: float | None, *, roles: dict[str, str],
              periods: dict[str, float], monitor: StoredMonitor | None = None,
              concept: tuple[str, NDArray[np.bool_]] | None = None) -> Backtest:
    """Every signal's rates under each rule and, with a budget, the proposals and their snippets.

    ``roles`` and ``periods`` go into the proposed ``--schema`` file (a target's role, a circular
    column's period), so it tests the columns as the replay did.
    """
    at = min((i.at for i in injections), default=None)
    features = tuple(
        (rec.column, rec.type, {rule: _signals(replayed, rule, k, at) for rule in RULES})
        for k, rec in enumerate(replayed.columns[Compat.CALIBRATED])
    )
    allowed: int | None = None
    proposals: list[Proposal] = []
    yaml_text: str | None = None
    schema_text: str | None = None
    if budget is not None:
        allowed, proposals = propose(replayed, replayed.columns[Compat.CALIBRATED], at, budget)
        types = {rec.column: rec.type for rec in replayed.columns[Compat.CALIBRATED]}
        yaml_text, schema_text = snippets(proposals, types, roles, periods)
    return Backtest(replayed=replayed, injections=tuple(injections), at=at,
                    dataset={rule: rates(replayed.dataset[rule], replayed, at) for rule in RULES},
                    features=features, budget=budget, allowed=allowed, proposals=tuple(proposals),
                    yaml=yaml_text, schema=schema_text, monitor=monitor,
                    concept=None if concept is None else (concept[0], concept_rates(concept[1], replayed, at)))


def concept_rates(alarms: NDArray[np.bool_], replayed: Replay, at: datetime | None) -> Rates:
    """The concept detector's rates. It reports a change once, so every window ending after the
    injection counts (a straddling one too: the detector may find the change inside it), ``power``
    is 1 when it was found and 0 when not, and the delay runs to the end of the first alarmed window."""
    w = replayed.windows
    checked = replayed.checked
    clean = (w.end <= pd.Timestamp(at).value if at is not None else np.ones(w.size, dtype=bool)) & checked
    after = ~clean & checked if at is not None else np.zeros(w.size, dtype=bool)
    hits = alarms & after
    n_clean = int(clean.sum())
    false_alarms = int((alarms & clean).sum())
    delay_windows: int | None = None
    delay_seconds: float | None = None
    if at is not None and hits.any():
        first = int(np.flatnonzero(hits)[0])
        delay_windows = int(after[:first].sum())
        delay_seconds = (int(w.end[first]) - pd.Timestamp(at).value) / 1e9
    return Rates(windows_clean=n_clean, alarms_clean=false_alarms,
                 false_alarms_per_month=false_alarms / n_clean * w.per_month if n_clean else None,
                 windows_injected=int(after.sum()), alarms_injected=int(hits.sum()),
                 power=(1.0 if hits.any() else 0.0) if after.any() else None,
                 delay_windows=delay_windows, delay_seconds=delay_seconds)
