"""``driftline backtest REFERENCE HISTORY``: read, inject, replay, summarise, render.

Every bad input (a spec, a missing column, an empty history) is an :class:`InputError`, which
``driftline`` turns into a one-line message and exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from datetime import datetime
from typing import TextIO

import numpy as np

from monitor.backtest._budget import Proposal, parse_budget, propose, snippets
from monitor.backtest._inject import Injection, apply_injections, parse_injection
from monitor.backtest._replay import RULES, Rates, Replay, cut_windows, iso, rates, replay, timestamps
from monitor.errors import InputError
from monitor.frames import read_frame
from monitor.schema import apply_schema, fit_reference, load_schema
from monitor.stats.check import CheckOptions
from monitor.stats.types import Compat

__all__ = ["Backtest", "backtest_command", "run_backtest"]


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

    def to_dict(self) -> dict[str, object]:
        """The JSON contract of ``driftline backtest --format json`` (docs/json-output.md)."""
        w = self.replayed.windows
        clean, injected = w.stretches(self.at)
        checked = self.replayed.checked
        return {
            "windows": {
                "total": int(w.lo.size), "checked": int(checked.sum()), "skipped": int((~checked).sum()),
                "clean": int((clean & checked).sum()), "injected": int((injected & checked).sum()),
                "boundary": int((~clean & ~injected & checked).sum()),
                "per_month": w.per_month, "spacing_seconds": w.spacing.total_seconds(),
                "first_start": iso(int(w.start[0])), "last_end": iso(int(w.end[-1])),
            },
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
            "budget": None if self.budget is None else {
                "per_month": self.budget, "allowed_alarms": self.allowed,
                "proposals": [p.to_dict() for p in self.proposals], "yaml": self.yaml, "schema": self.schema,
            },
        }


def _progress(done: int, total: int) -> None:
    bar = "#" * (30 * done // total)
    end = "\n" if done == total else ""
    print(f"\r[{bar:<30}] {done}/{total} windows", end=end, file=sys.stderr, flush=True)


def _signals(replayed: Replay, rule: Compat, index: int, at: datetime | None) -> tuple[str | None, Rates, Rates]:
    record = replayed.columns[rule][index]
    return record.method, rates(record.drifted, replayed, at), rates(record.missing_drifted, replayed, at)


def run_backtest(args: argparse.Namespace, *, progress: bool = True) -> Backtest:
    """Fit the reference once, cut the (injected) history into windows, replay, summarise."""
    from monitor.config import parse_duration  # the CLI's duration syntax; config is heavy, import late

    injections = [parse_injection(s) for s in args.inject or ()]
    budget = parse_budget(args.budget) if args.budget else None
    if (args.window is None) == (args.rows is None):
        raise InputError("give exactly one of --window DURATION or --rows N", field="window")
    try:
        window = parse_duration(args.window) if args.window else None
        step = parse_duration(args.step) if args.step else None
    except ValueError as exc:
        raise InputError(f"--window/--step: {exc}", field="window") from None
    if args.rows is not None and args.rows < 1:
        raise InputError(f"--rows ({args.rows}) must be at least 1", field="rows")
    if args.min_rows < 1:
        raise InputError(f"--min-rows ({args.min_rows}) must be at least 1", field="min_rows")
    reference, history = read_frame(args.reference), read_frame(args.history)
    if history.empty:
        raise InputError(f"{args.history}: the history has no rows", field="history")
    schema = load_schema(args.schema) if args.schema else None
    reference, history = apply_schema(reference, schema), apply_schema(history, schema)
    times = timestamps(history, args.time_column)
    order = np.argsort(times, kind="stable")
    history, times = history.iloc[order].reset_index(drop=True), times[order]
    reference = reference.drop(columns=[args.time_column], errors="ignore")
    profile = fit_reference(reference, schema)
    missing = [c for c in profile.columns if c not in history.columns]
    if missing:
        raise InputError(f"{args.history}: column {missing[0]!r} of the reference is missing", field=missing[0])
    history = apply_injections(history, times, profile, injections, np.random.default_rng(args.seed))
    windows = cut_windows(times, window=window, step=step, rows=args.rows)
    options = CheckOptions(columns=schema.options if schema else {},
                           dataset_columns=schema.dataset_columns(profile) if schema else None)
    replayed = replay(profile, history, windows, options, min_rows=args.min_rows,
                      progress=_progress if progress else None)
    if not replayed.checked.any():
        raise InputError(f"{args.history}: no window has --min-rows ({args.min_rows}) rows", field="min_rows")
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
        roles = {c: "target" for c in (schema.non_features if schema else ())}
        yaml_text, schema_text = snippets(proposals, types, roles, dict(schema.periods or {}) if schema else {})
    return Backtest(replayed=replayed, injections=tuple(injections), at=at,
                    dataset={rule: rates(replayed.dataset[rule], replayed, at) for rule in RULES},
                    features=features, budget=budget, allowed=allowed, proposals=tuple(proposals),
                    yaml=yaml_text, schema=schema_text)


def _num(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _delay(r: Rates) -> str:
    if r.delay_windows is None:
        return "-" if r.windows_injected == 0 else "never"
    hours = (r.delay_seconds or 0.0) / 3600
    return f"{r.delay_windows} windows ({hours / 24:g}d)" if hours >= 24 else f"{r.delay_windows} windows ({hours:g}h)"


def _table(result: Backtest, out: TextIO) -> None:
    d = result.to_dict()["windows"]
    assert isinstance(d, dict)
    print(f"{d['checked']} windows checked ({d['skipped']} skipped): {d['clean']} clean, {d['injected']} injected, "
          f"{d['boundary']} straddling the injection; {d['per_month']:.1f} windows per 30 days", file=out)
    header = ("signal", "rule", "method", "false/month", "power", "delay")
    rows: list[tuple[str, ...]] = []
    for rule in RULES:
        r = result.dataset[rule]
        rows.append(("dataset", str(rule), "-", _num(r.false_alarms_per_month), _num(r.power), _delay(r)))
    for name, _, by_rule in result.features:
        for rule in RULES:
            method, drift, missing = by_rule[rule]
            rows.append((name, str(rule), method or "-", _num(drift.false_alarms_per_month), _num(drift.power),
                         _delay(drift)))
            if missing.alarms_clean or missing.alarms_injected:
                rows.append((f"{name} (missing)", str(rule), "z_test", _num(missing.false_alarms_per_month),
                             _num(missing.power), _delay(missing)))
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip(), file=out)
    if result.budget is not None:
        print(f"\nbudget {result.budget:g} false alarm(s) per 30 days: at most {result.allowed} on the clean stretch",
              file=out)
        for p in result.proposals:
            if p.value is None:
                print(f"  {p.column}: {p.reason}", file=out)
            else:
                after = p.after.false_alarms_per_month if p.after else None
                print(f"  {p.column}: {p.method} {p.key} {p.current if p.current is not None else '-'} -> {p.value:g}"
                      f" (false/month {_num(p.before.false_alarms_per_month)} -> {_num(after)})", file=out)
        print(f"\n# driftline.yaml (under the monitor)\n{result.yaml}\n# or a --schema file\n{result.schema}",
              end="", file=out)


def backtest_command(args: argparse.Namespace, out: TextIO) -> int:
    """``driftline backtest``: exit 0 with the report on ``out``; bad input raises :class:`InputError`."""
    result = run_backtest(args, progress=not args.quiet)
    if args.format == "json":
        json.dump(result.to_dict(), out, indent=2, allow_nan=False)
        out.write("\n")
    else:
        _table(result, out)
    return 0
