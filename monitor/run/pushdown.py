"""A run whose window's drift statistics are computed by the source's engine (pushdown).

The features and the prediction are tested from one aggregate query
(:func:`monitor.stats.binned_check.check_summary`); only what the aggregates cannot decide is
read as rows, column by column: the columns without a bounded form or whose bound straddles the
threshold (up to ``max_rows``, a seeded sample above it), and the columns performance, concept
drift and estimation read (the prediction, its score, the target; all rows, as those are
per-row computations). A monitor without a target reads no rows at all when every column is
decided. Config validation refuses what needs every feature's rows (multivariate, segments,
dynamic references, text and embeddings).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import pandas as pd

from monitor.domain import EstimateMethod, Monitor, PushdownSpec, Run, SummarisingSource, WindowSpec
from monitor.run.bundle import ReferenceBundle
from monitor.run.estimation import method_of
from monitor.run.evaluate import complete, conform, insufficient, subprofile
from monitor.stats.binned import plan_summary
from monitor.stats.binned_check import check_summary, finish_with_rows

__all__ = ["PushedRun", "evaluate_pushdown", "pushdown_of"]


@dataclass(frozen=True, slots=True)
class PushedRun:
    """The completed run and the rows it read for performance and concept drift (no features)."""

    run: Run
    frame: pd.DataFrame


def pushdown_of(monitor: Monitor, source: object) -> PushdownSpec | None:
    """The monitor's pushdown settings, if its source has them and can summarise."""
    spec = getattr(monitor.source, "pushdown", None)
    if spec is None or not hasattr(source, "summarise"):
        return None
    assert isinstance(spec, PushdownSpec)
    return spec


def _row_columns(monitor: Monitor) -> list[str]:
    """The columns performance, concept drift and estimation read, when the monitor has them."""
    s = monitor.schema
    if not s.target and method_of(monitor) is EstimateMethod.NONE:
        return []
    return [c for c in (s.prediction_id, s.timestamp, s.prediction, s.prediction_score, s.target) if c]


def evaluate_pushdown(monitor: Monitor, bundle: ReferenceBundle, source: SummarisingSource, window: WindowSpec,
                      run: Run, spec: PushdownSpec) -> PushedRun:
    """Test the window from its aggregates, read the rows still needed, and complete ``run``."""
    s = monitor.schema
    columns = [c for c in (*s.features, s.prediction) if c in bundle.profile.columns]
    profile = subprofile(bundle.profile, columns)
    plan = plan_summary(profile, columns, grid=spec.grid)
    summary = source.summarise(monitor, window, plan)
    if summary.n_rows < monitor.min_rows:
        return PushedRun(insufficient(run, summary.n_rows, monitor.min_rows), pd.DataFrame())
    outcome = check_summary(profile, summary, {p.column: p.grid for p in plan.numerical}, monitor.check_options())
    seed = zlib.crc32(f"{monitor.name}|{window.end.isoformat()}".encode())
    needed: pd.DataFrame | None = None
    sampled = False
    if outcome.needs_rows:
        needed, sampled = source.read_columns(monitor, window, list(outcome.needs_rows), max_rows=spec.max_rows,
                                              seed=seed, n_rows=summary.n_rows)
        needed = conform(monitor, needed)
    main = finish_with_rows(profile, outcome, needed, sampled=sampled)
    wanted = _row_columns(monitor)
    frame = pd.DataFrame(columns=[s.timestamp])
    if wanted:
        frame, _ = source.read_columns(monitor, window, wanted, max_rows=None, seed=seed, n_rows=summary.n_rows)
    frame = conform(monitor, frame)
    return PushedRun(complete(monitor, bundle, main, frame, run, rows=summary.n_rows), frame)
