"""``driftline backtest``: read (two files, or a stored monitor), inject, replay, summarise, render.

Every bad input (a spec, a missing column, an empty history) is an :class:`InputError`, which
``driftline`` turns into a one-line message and exit 2.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import replace
from datetime import timedelta
from typing import TextIO

import numpy as np

from monitor.backtest._budget import parse_budget
from monitor.backtest._inject import InjectionKind, apply_injections, parse_injection
from monitor.backtest._kinds import FIXED, Kind, check_window, parse_kind, replay_file_kind
from monitor.backtest._replay import RULES, Rates, cut_windows, replay, timestamps
from monitor.backtest._stored import run_stored
from monitor.backtest._summary import Backtest, summarise
from monitor.errors import InputError
from monitor.frames import read_frame
from monitor.schema import apply_schema, fit_reference, load_schema
from monitor.stats.check import CheckOptions

__all__ = ["backtest_command", "run_backtest"]


def _progress(done: int, total: int) -> None:
    bar = "#" * (30 * done // total)
    end = "\n" if done == total else ""
    print(f"\r[{bar:<30}] {done}/{total} windows", end=end, file=sys.stderr, flush=True)


def run_backtest(args: argparse.Namespace, *, progress: bool = True) -> Backtest:
    """Fit the reference once, cut the (injected) history into windows, replay, summarise."""
    from monitor.config import parse_duration  # the CLI's duration syntax; config is heavy, import late

    stored_only = [flag for flag, value in (("--from", args.start), ("--to", args.end), ("--config", args.config))
                   if value is not None]
    if stored_only:
        raise InputError(f"{stored_only[0]} replays a stored monitor: give --monitor NAME (or drop it to replay "
                         "REFERENCE and HISTORY files)", field="monitor")
    if args.reference is None or args.history is None:
        raise InputError("give REFERENCE and HISTORY files, or --monitor NAME --from TIME --to TIME",
                         field="history")
    if args.time_column is None:
        raise InputError("--time-column COL is required to replay a history file", field="time_column")
    min_rows = 1 if args.min_rows is None else args.min_rows
    injections = [parse_injection(s) for s in args.inject or ()]
    if any(i.kind is InjectionKind.CONCEPT for i in injections):
        raise InputError("--inject concept: replays a stored monitor's concept detector: give --monitor NAME "
                         "(its schema names the labels)", field="inject")
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
    if min_rows < 1:
        raise InputError(f"--min-rows ({min_rows}) must be at least 1", field="min_rows")
    kinds = [parse_kind(k) for k in args.reference_kind or ()] or [Kind(name=FIXED, spec=None)]
    for kind in kinds:
        check_window(kind, window)
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
    replays = []
    for kind in kinds:  # the REFERENCE file, or each window's own reference read from the history
        bar = _progress if progress else None
        replays.append(replay(profile, history, windows, options, min_rows=min_rows, progress=bar) if kind.spec is None
                       else replay_file_kind(kind.spec, profile, history, times, windows, options,
                                             time_column=args.time_column, window=window or step or timedelta(0),
                                             min_rows=min_rows, fit=lambda f: fit_reference(f, schema), progress=bar))
    replayed = replays[0]
    if not replayed.checked.any():
        raise InputError(f"{args.history}: no window has --min-rows ({min_rows}) rows", field="min_rows")
    roles = {c: "target" for c in (schema.non_features if schema else ())}
    periods = dict(schema.periods or {}) if schema else {}
    result = summarise(replayed, injections, budget, roles=roles, periods=periods)
    others = tuple(replace(summarise(r, injections, None, roles=roles, periods=periods), reference=k.name)
                   for k, r in zip(kinds[1:], replays[1:], strict=True))
    return replace(result, reference=kinds[0].name, kinds=others)


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
    m = result.monitor
    if m is not None:
        ref = f"reference version {m.reference_version}" if m.reference_version is not None else \
            f"reference {result.reference} (fitted per window)"
        print(f"monitor {m.name} (model {m.model}, its rule {m.rule}), {ref}; "
              f"window ends {m.start.isoformat()} to {m.end.isoformat()} every {m.step_seconds:g}s", file=out)
        print(f"{d['checked']} windows checked ({d['skipped']} insufficient: fewer than min_rows {m.min_rows} "
              f"rows; {d['rows']} rows read): {d['clean']} clean, {d['injected']} injected, "
              f"{d['boundary']} straddling the injection; {d['per_month']:.1f} windows per 30 days", file=out)
    else:
        print(f"{d['checked']} windows checked ({d['skipped']} skipped): {d['clean']} clean, {d['injected']} injected, "
              f"{d['boundary']} straddling the injection; {d['per_month']:.1f} windows per 30 days", file=out)
    header = ("signal", "rule", "method", "false/month", "power", "delay")
    rows: list[tuple[str, ...]] = []
    for kind in (result, *result.kinds):  # one dataset row per rule and reference kind compared
        name = f"dataset [{kind.reference}]" if result.kinds or kind.reference != "fixed" else "dataset"
        for rule in RULES:
            r = kind.dataset[rule]
            rows.append((name, str(rule), "-", _num(r.false_alarms_per_month), _num(r.power), _delay(r)))
    for name, _, by_rule in result.features:
        for rule in RULES:
            method, drift, missing = by_rule[rule]
            rows.append((name, str(rule), method or "-", _num(drift.false_alarms_per_month), _num(drift.power),
                         _delay(drift)))
            if missing.alarms_clean or missing.alarms_injected:
                rows.append((f"{name} (missing)", str(rule), "z_test", _num(missing.false_alarms_per_month),
                             _num(missing.power), _delay(missing)))
    if result.concept is not None:
        detector, c = result.concept
        rows.append(("concept", "-", detector, _num(c.false_alarms_per_month), _num(c.power), _delay(c)))
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
    progress = not args.quiet
    result = run_stored(args, progress=_progress if progress else None) if args.monitor is not None else \
        run_backtest(args, progress=progress)
    if args.format == "json":
        json.dump(result.to_dict(), out, indent=2, allow_nan=False)
        out.write("\n")
    else:
        _table(result, out)
    return 0
