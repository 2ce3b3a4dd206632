"""``driftline backtest --config F --monitor NAME --from T --to T``: a monitor over its stored history.

Windows are read through the service's own ports, so the replay sees what the scheduler would
have seen: the configuration translated into the domain (``load_config(path).to_domain()``), the
database from ``Settings`` (``DRIFTLINE_DATABASE_URL``), the monitor's source
(``Sources(store).of(monitor)``), its window for every end (``monitor.window_ending(end)``), the
active reference fitted once (``ReferenceRegistry(store).active(monitor)``), each window conformed
to the schema (``conform``) and checked with the monitor's ``check_options()`` under its own rule
and the other side by side. Windows under the monitor's ``min_rows`` are skipped and counted, as
the service records them ``insufficient_data``.

Nothing is written: the database is only read (and not migrated), so a backtest can run against a
production store. A database error is re-raised with its public message only (``StorageError``'s
``detail`` names the URL), so the terminal never shows the URL.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pydantic

from monitor.backtest._budget import parse_budget
from monitor.backtest._concept import ConceptReplay
from monitor.backtest._inject import Injection, apply_injections, check_injections, parse_injection
from monitor.backtest._kinds import InjectedSource, Kind, StoredReferences, check_window, kind_of, parse_kind
from monitor.backtest._replay import Replay, Windowed, Windows, replay_frames, timestamps
from monitor.backtest._summary import Backtest, StoredMonitor, summarise
from monitor.config import Settings, load_config, parse_duration
from monitor.domain import Monitor, WindowSpec
from monitor.errors import InputError, InsufficientData, StorageError
from monitor.run import ReferenceBundle, ReferenceRegistry, conform
from monitor.run.seasonal import DynamicReferences
from monitor.sources import Sources
from monitor.stats.profile import CircularProfile, ReferenceProfile
from monitor.storage import Store

__all__ = ["MAX_WINDOWS", "run_stored", "window_ends"]

#: The most windows one backtest reads: a mistyped ``--step`` (1s over a year) must not run for days.
MAX_WINDOWS = 100_000
#: Form (a)'s options, refused here rather than silently ignored.
_FILE_ONLY = (("REFERENCE", "reference"), ("HISTORY", "history"), ("--time-column", "time_column"),
              ("--window", "window"), ("--rows", "rows"), ("--schema", "schema"), ("--min-rows", "min_rows"))


def _time(text: str | None, flag: str) -> datetime:
    if text is None:
        raise InputError(f"{flag} TIME is required with --monitor (ISO 8601, e.g. 2024-03-01T00:00Z)",
                         field=flag.lstrip("-"))
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise InputError(f"{flag} {text!r} is not an ISO 8601 time (e.g. 2024-03-01T00:00Z)",
                         field=flag.lstrip("-")) from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def window_ends(start: datetime, end: datetime, step: timedelta) -> list[datetime]:
    """Window ends from ``start`` to ``end`` (included) every ``step``, as ``driftline backfill`` runs them.

    Examples
    --------
    >>> t = datetime(2024, 3, 1, tzinfo=UTC)
    >>> [e.hour for e in window_ends(t, t + timedelta(hours=2), timedelta(hours=1))]
    [0, 1, 2]
    """
    if end < start:
        raise InputError(f"--from ({start.isoformat()}) is after --to ({end.isoformat()})", field="from")
    if step <= timedelta(0):
        raise InputError(f"--step ({step}) must be positive", field="step")
    count = (end - start) // step + 1
    if count > MAX_WINDOWS:
        raise InputError(f"--from/--to/--step give {count} windows; at most {MAX_WINDOWS}: use a longer --step",
                         field="step")
    return [start + i * step for i in range(count)]


def _settings(config: str | None) -> Settings:
    try:
        return Settings(config=Path(config)) if config else Settings()
    except pydantic.ValidationError as exc:
        first = exc.errors()[0]
        name = "DRIFTLINE_" + "__".join(str(p) for p in first["loc"]).upper()
        raise InputError(f"{name}: {first['msg']}", field=name) from None


def _profile(monitor: Monitor, profile: ReferenceProfile) -> ReferenceProfile:
    """The columns a run tests: the features and the prediction (``monitor.run.evaluate`` does the same)."""
    s = monitor.schema
    names = [*s.features, s.prediction]
    return replace(profile, columns={n: profile.columns[n] for n in names if n in profile.columns})


def _ns(t: datetime) -> int:
    return int(pd.Timestamp(t).value)


def run_stored(args: argparse.Namespace, *, progress: Callable[[int, int], None] | None = None) -> Backtest:
    """Replay the monitor ``args.monitor`` over its stored history from ``--from`` to ``--to``."""
    given = [flag for flag, attr in _FILE_ONLY if getattr(args, attr) is not None]
    if given:
        raise InputError(f"{given[0]} replays history files; with --monitor the monitor's own source, window "
                         "and min_rows are used", field=given[0].lstrip("-").lower())
    injections = [parse_injection(s) for s in args.inject or ()]
    budget = parse_budget(args.budget) if args.budget else None
    start, end = _time(args.start, "--from"), _time(args.end, "--to")
    settings = _settings(args.config)
    catalog = load_config(settings.config).to_domain()
    monitor = catalog.monitor(args.monitor)
    try:
        step = parse_duration(args.step) if args.step else (monitor.schedule.every or timedelta(hours=1))
    except ValueError as exc:
        raise InputError(f"--step: {exc}", field="step") from None
    ends = window_ends(start, end, step)
    kinds = [parse_kind(k) for k in args.reference_kind or ()] or [kind_of(monitor.reference)]
    for kind in kinds:
        check_window(kind, monitor.window.last)
    store = Store.from_url(settings.database_url, catalog)
    sources = Sources(store)
    try:
        version, bundle = _reference(monitor, kinds, store, sources, ends[0])
        profile = _profile(monitor, bundle.profile)
        check_injections(injections, profile)
        concept = ConceptReplay(monitor, bundle, version, injections, np.random.default_rng([args.seed, 1]))
        replays = [_replay(monitor, sources, profile, ends, injections=injections, seed=args.seed, progress=progress,
                           concept=concept if i == 0 else None, kind=kind) for i, kind in enumerate(kinds)]
        replayed = replays[0]
    except StorageError as exc:
        raise StorageError(str(exc)) from None  # the public message: ``detail`` names the URL
    finally:
        sources.close()
        store.dispose()
    if not replayed.checked.any():
        raise InputError(f"monitor {monitor.name!r}: no window from {start.isoformat()} to {end.isoformat()} has "
                         f"its min_rows ({monitor.min_rows}) rows", field="from")
    stored = StoredMonitor(name=monitor.name, model=monitor.model, rule=monitor.compat,
                           reference_version=version if kinds[0].spec is None else None,
                           start=start, end=end, step_seconds=step.total_seconds(), min_rows=monitor.min_rows)
    roles = {monitor.schema.prediction: "prediction"} if monitor.schema.prediction in profile.columns else {}
    periods = {n: c.period for n, c in profile.columns.items() if isinstance(c, CircularProfile)}
    signal = (str(monitor.performance.detector), np.array(concept.alarms, dtype=bool)) if concept.enabled else None
    result = summarise(replayed, injections, budget, roles=roles, periods=periods, monitor=stored, concept=signal)
    others = tuple(replace(summarise(r, injections, None, roles=roles, periods=periods, monitor=stored), reference=k.name)
                   for k, r in zip(kinds[1:], replays[1:], strict=True))
    return replace(result, reference=kinds[0].name, kinds=others)


def _replay(monitor: Monitor, sources: Sources, profile: ReferenceProfile, ends: list[datetime], *,
            injections: list[Injection], seed: int, progress: Callable[[int, int], None] | None,
            concept: ConceptReplay | None = None, kind: Kind | None = None) -> Replay:
    """Read, conform, inject and check every window; windows of ``rows`` get their start from their rows.

    Under a dynamic ``kind`` each window is checked against its own reference, read (injected too)
    from the monitor's source and fitted as the service does (:class:`StoredReferences`).
    """
    source = sources.of(monitor)
    specs = [monitor.window_ending(e) for e in ends]
    starts = np.array([_ns(s.start) if s.start is not None else _ns(s.end) for s in specs], dtype=np.int64)
    rng = np.random.default_rng(seed)
    references: StoredReferences | None = None
    if kind is not None and kind.spec is not None:
        source = InjectedSource(source, profile, injections, seed)  # conformed and injected reads
        references = StoredReferences(monitor, kind.spec, source, lambda p: _profile(monitor, p))

    def frames() -> Iterator[pd.DataFrame | Windowed]:
        for i, spec in enumerate(specs):
            frame = conform(monitor, source.read(monitor, spec))
            times = timestamps(frame, monitor.schema.timestamp)
            if spec.start is None and times.size:
                starts[i] = int(times.min())
            frame = apply_injections(frame, times, profile, injections, rng) if injections and references is None \
                else frame
            if concept is not None:  # the detector's state carried from window to window, as the service does
                concept.feed(frame, times, spec.end, len(frame) >= monitor.min_rows)
            if references is None:
                yield frame
            else:  # the reference is fitted only for a window the service would check
                yield Windowed(frame=frame, reference=references(spec) if len(frame) >= monitor.min_rows else None)

    step = ends[1] - ends[0] if len(ends) > 1 else _length(monitor, specs[0])
    windows = Windows(start=starts, end=np.array([_ns(s.end) for s in specs], dtype=np.int64), spacing=step)
    replayed = replay_frames(profile, frames(), windows, monitor.check_options(), min_rows=monitor.min_rows,
                             progress=progress)
    # ``starts`` of row-count windows were filled in while reading: freeze a copy of them.
    return replace(replayed, windows=replace(windows, start=starts.copy()))


def _length(monitor: Monitor, spec: WindowSpec) -> timedelta:
    """The spacing of a single window: its length (or the schedule period), so a month still scales."""
    if spec.start is not None:
        return spec.end - spec.start
    return monitor.schedule.every or timedelta(hours=1)


def _reference(monitor: Monitor, kinds: list[Kind], store: Store, sources: Sources,
               first: datetime) -> tuple[int | None, ReferenceBundle]:
    """The stored active reference (required when a kind is ``fixed``), else the first window's dynamic one.

    Its profile gives the injections their units (a reference standard deviation ...), the same
    for every kind compared; the concept detector starts on its error level.
    """
    registry = ReferenceRegistry(store)
    if any(k.spec is None for k in kinds) or store.active_reference_version(monitor.name) is not None:
        return registry.active(monitor)
    spec = next(k.spec for k in kinds if k.spec is not None)
    dynamic = replace(monitor, reference=spec)
    window = dynamic.window_ending(first)
    try:
        fitted = DynamicReferences(1).fit(dynamic, dynamic.reference_ranges(window), sources.of(monitor))
    except InsufficientData as exc:
        raise InputError(f"monitor {monitor.name!r}: the first window's reference has too few rows ({exc}); give a "
                         "later --from", field="from") from None
    return None, fitted.bundle
