"""``driftline check`` and ``driftline report``: a current file tested against a reference file.

Exit codes are the command line's (:mod:`monitor.cli`): 0, 1 on dataset drift with
``--fail-on-drift``, 3 (``EXIT_INCOMPLETE``) on an incomplete check under ``--fail-on-drift``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import replace
from datetime import UTC, datetime
from typing import TextIO

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from monitor import errors as e
from monitor.cli import EXIT_INCOMPLETE
from monitor.frames import Sample, read_sample
from monitor.schema import Schema, apply_schema, fit_reference, integer_code_warnings, load_schema
from monitor.stats.check import CheckOptions, DatasetResult, Status, check
from monitor.stats.degradation import DegradationTest, ScoredSample, degradation
from monitor.stats.multivariate.types import MultivariateResult
from monitor.stats.performance import Metric, Task
from monitor.stats.profile import ReferenceProfile

__all__ = ["check_command", "incomplete", "report_command"]


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3g}" if abs(value) < 1e-3 and value != 0 else f"{value:.4f}"


def _color(out: TextIO) -> bool:
    return out.isatty() and "NO_COLOR" not in os.environ


def _table(result: DatasetResult, out: TextIO) -> None:
    color = _color(out)

    def paint(text: str, code: str) -> str:
        return f"\033[{code}m{text}\033[0m" if color else text

    header = ("column", "type", "method", "statistic", "p-value", "threshold", "missing", "verdict")
    rows = []
    for c in result.columns:
        verdict = "drift" if c.drifted else ("no drift" if c.status is Status.OK else "not tested")
        missing = f"{c.missing_reference}/{c.missing_current}" + (" !" if c.missing_drifted else "")
        p = c.adjusted_p_value if c.adjusted_p_value is not None else c.p_value
        rows.append((c.column, str(c.type or "-"), str(c.method or "-"), _fmt(c.statistic), _fmt(p),
                     _fmt(c.threshold), missing, verdict))
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)), file=out)
    for row in rows:
        cells = [v.ljust(w) for v, w in zip(row, widths, strict=True)]
        code = {"drift": "31;1", "no drift": "32", "not tested": "33"}[row[-1]]
        cells[-1] = paint(cells[-1], code)
        print("  ".join(cells).rstrip(), file=out)
    for c in result.columns:
        if c.status is not Status.OK:
            print(f"  {c.column}: not tested: {c.reason}", file=out)
        elif c.new_categories:
            print(f"  {c.column}: new categories: {', '.join(c.new_categories[:10])}", file=out)
    verdict = paint("DATASET DRIFT", "31;1") if result.dataset_drift else paint("no dataset drift", "32")
    print(f"\n{verdict}: {result.drifted_columns} of {result.total_columns} columns drifted "
          f"(share {result.drift_share:.2f}, threshold {result.threshold:.2f})", file=out)


def _read(path: str, args: argparse.Namespace, show: bool) -> tuple[pd.DataFrame, Sample]:
    """One file, every row or (``check --max-rows N``) a uniform sample of N; progress on stderr if ``show``."""
    from pathlib import Path

    from monitor.progress import progress

    max_rows = getattr(args, "max_rows", 0) or None
    seed = getattr(args, "seed", 0)
    if not show:
        return read_sample(path, max_rows=max_rows, seed=seed)
    size = Path(path).stat().st_size if Path(path).is_file() else None
    with progress(size, desc=f"reading {Path(path).name}", unit="B", stream=sys.stderr, every_seconds=5.0) as shown:
        return read_sample(path, max_rows=max_rows, seed=seed, progress=shown)


def _read_inputs(args: argparse.Namespace, *, show: bool = False
                 ) -> tuple[Schema | None, ReferenceProfile, pd.DataFrame, pd.DataFrame, tuple[Sample, Sample]]:
    """The schema, the reference's profile, the current frame, the reference as read, and how each was sampled.

    Declared categoricals are read as text on both sides (:func:`monitor.schema.apply_schema`);
    undeclared numerical columns that look like integer codes draw a warning on stderr.
    """
    schema = load_schema(args.schema) if args.schema else None
    raw_reference, reference_sample = _read(args.reference, args, show)
    raw_current, current_sample = _read(args.current, args, show)
    reference = apply_schema(raw_reference, schema)
    current = apply_schema(raw_current, schema)
    profile = fit_reference(reference, schema)
    for warning in integer_code_warnings(profile, schema):
        print(f"driftline: warning: {warning}", file=sys.stderr)
    return schema, profile, current, raw_reference, (reference_sample, current_sample)


def _inputs(args: argparse.Namespace) -> tuple[Schema | None, ReferenceProfile, pd.DataFrame]:
    """The schema, the reference's profile and the current frame of ``report`` (every row of both files)."""
    schema, profile, current, _, _ = _read_inputs(args)
    return schema, profile, current


def sampled(samples: tuple[Sample, Sample], max_rows: int) -> dict[str, object] | None:
    """The ``sampled`` block of the JSON contract: ``None`` when every row of both files was checked."""
    reference, current = samples
    if not (reference.sampled or current.sampled):
        return None
    return {"max_rows": max_rows, "seed": reference.seed, "method": "uniform",
            "reference": reference.to_dict(), "current": current.to_dict()}


def _sampled_line(block: dict[str, object]) -> str:
    parts = []
    for side in ("reference", "current"):
        counts = block[side]
        assert isinstance(counts, dict)
        parts.append(f"{side} {counts['rows']:,} of {counts['of']:,} rows")
    return (f"checked on a uniform random sample: {', '.join(parts)} (--max-rows {block['max_rows']:,}, "
            f"seed {block['seed']})")


def incomplete(profile: ReferenceProfile, current: pd.DataFrame, result: DatasetResult) -> str | None:
    """Why a check did not test what it was asked to, or ``None`` when it is complete.

    An empty current window, a reference column absent from the current file, or no tested
    column would otherwise read as "0 of 0 columns drifted" and pass a CI gate.
    """
    problems = []
    if int(current.attrs.get("rows", len(current))) == 0:
        problems.append("the current data has no rows")
    absent = [c for c in profile.columns if c not in current.columns]
    if absent:
        problems.append(f"{len(absent)} reference column(s) missing from the current data: "
                        + ", ".join(absent[:10]) + (", ..." if len(absent) > 10 else ""))
    if result.total_columns == 0:
        problems.append("no column was tested")
    return "; ".join(problems) or None


def _check_duckdb(args: argparse.Namespace, schema: Schema | None, show: bool
                  ) -> tuple[ReferenceProfile, pd.DataFrame, DatasetResult, pd.DataFrame, tuple[Sample, Sample]]:
    """``check --engine duckdb``: the reference read and fitted as usual, the current file aggregated by DuckDB.

    The current file's rows never reach pandas, except the columns the aggregates cannot decide
    (a seeded sample of ``--max-rows`` above it; docs/scaling.md). The returned frame has the
    current file's columns and no rows (what :func:`incomplete` reads), with its row count in
    ``attrs["rows"]``.
    """
    import sqlalchemy as sa

    from monitor.sources.files import VIEW, duckdb_files
    from monitor.sources.pushdown import read_rows, read_summary
    from monitor.stats.binned import plan_summary
    from monitor.stats.binned_check import check_summary, finish_with_rows

    if args.task or args.multivariate:
        raise e.InputError("--engine duckdb checks drift only: --task and --multivariate need the current rows",
                           field="--engine")
    raw_reference, reference_sample = _read(args.reference, args, show)
    profile = fit_reference(apply_schema(raw_reference, schema), schema)
    options = _options(args, schema, profile)
    with duckdb_files(args.current, None) as conn:
        present = list(conn.execute(sa.select(sa.text("*")).select_from(sa.table(VIEW)).limit(0)).keys())
        columns = [c for c in profile.columns if c in present]
        window = sa.select(*(sa.column(c) for c in columns)).select_from(sa.table(VIEW)).subquery("w")
        mine = replace(profile, columns={c: profile.columns[c] for c in columns})
        plan = plan_summary(mine, columns)
        summary = read_summary(conn, window, plan)
        outcome = check_summary(mine, summary, {p.column: p.grid for p in plan.numerical},
                                replace(options, dataset_columns=None if options.dataset_columns is None
                                        else options.dataset_columns & set(columns)))
        rows, was_sampled = (None, False)
        if outcome.needs_rows:
            max_rows = args.max_rows or summary.n_rows
            rows, was_sampled = read_rows(conn, window, list(outcome.needs_rows), None, max_rows=max_rows,
                                          seed=args.seed, n_rows=summary.n_rows)
            rows = apply_schema(rows, schema)
    result = finish_with_rows(mine, outcome, rows, sampled=was_sampled)
    current = pd.DataFrame(columns=present)
    current.attrs["rows"] = summary.n_rows
    current_sample = Sample(rows=len(rows) if rows is not None and was_sampled else summary.n_rows,
                            of=summary.n_rows, seed=args.seed)
    return profile, current, result, raw_reference, (reference_sample, current_sample)


def _options(args: argparse.Namespace, schema: Schema | None, profile: ReferenceProfile) -> CheckOptions:
    return CheckOptions(
        method=args.method, threshold=args.threshold, drift_share=args.drift_share,
        correction=args.correction, columns=schema.options if schema else {}, compat=args.compat,
        # A schema's target/label/prediction columns are tested but do not count in the verdict.
        dataset_columns=schema.dataset_columns(profile) if schema else None,
    )


def check_command(args: argparse.Namespace, out: TextIO) -> int:
    """``driftline check``: the table or the JSON contract of docs/json-output.md."""
    # Progress of the reading on a terminal, or anywhere with --progress.
    show = bool(getattr(args, "progress", False)) or sys.stderr.isatty()
    if getattr(args, "engine", "pandas") == "duckdb":
        schema = load_schema(args.schema) if args.schema else None
        profile, current, result, raw_reference, samples = _check_duckdb(args, schema, show)
    else:
        schema, profile, current, raw_reference, samples = _read_inputs(args, show=show)
        result = check(profile, current, _options(args, schema, profile))
    sample_block = sampled(samples, args.max_rows)
    performance = _performance(args, raw_reference, current)
    multivariate = _multivariate(args, schema, profile, raw_reference, current)
    if args.format == "json":
        json.dump({**result.to_dict(), "performance": [_performance_dict(p) for p in performance],
                   "multivariate": [m.to_dict() for m in multivariate],
                   "sampled": sample_block}, out, indent=2, allow_nan=False)
        out.write("\n")
    else:
        _table(result, out)
        _performance_table(performance, out)
        _multivariate_table(multivariate, out)
        if sample_block is not None:
            print(f"\n{_sampled_line(sample_block)}", file=out)
    if args.fail_on_drift and (result.dataset_drift or any(m.drifted for m in multivariate)):
        return 1
    problem = incomplete(profile, current, result)
    if problem is None:
        return 0
    if args.fail_on_drift:
        print(f"driftline: error: incomplete check (exit {EXIT_INCOMPLETE}): {problem}", file=sys.stderr)
        return EXIT_INCOMPLETE
    print(f"driftline: warning: incomplete check: {problem}", file=sys.stderr)
    return 0


def report_command(args: argparse.Namespace, out: TextIO) -> int:
    """``driftline report``: the check of ``driftline check``, written as the service's HTML page.

    The page is drawn from the check's results turned into a domain ``Run`` (the service's
    conversion), so a file report and a served report show the same thing the same way.
    """
    import uuid
    from pathlib import Path

    from monitor.domain import DatasetSummary, FeatureResult, Role, Run, RunStatus
    from monitor.errors import InputError
    from monitor.reports import ReportFiles, render_report

    schema, profile, current = _inputs(args)
    options = CheckOptions(method=args.method, columns=schema.options if schema else {},
                           dataset_columns=schema.dataset_columns(profile) if schema else None)
    result = check(profile, current, options)
    problem = incomplete(profile, current, result)
    if problem is not None:
        print(f"driftline: warning: incomplete check: {problem}", file=sys.stderr)
    now = datetime.now(UTC)
    run = Run(
        id=uuid.uuid4().hex, monitor="", model="", status=RunStatus.DRIFT if result.dataset_drift else RunStatus.OK,
        window_start=None, window_end=now, rows=len(current), started_at=now, finished_at=now,
        dataset=DatasetSummary.of(result), features=tuple(FeatureResult.of(c, Role.FEATURE) for c in result.columns),
    )
    files = ReportFiles(reference=Path(args.reference).name, reference_rows=profile.n_rows,
                        current=Path(args.current).name, current_rows=len(current))
    page = render_report(title=f"Drift report: {files.current} against {files.reference}",
                         monitor=None, model=None, window=None, reference_version=None, run=run,
                         bundle_profile=profile, current=current, files=files)
    target = Path(args.output)
    try:
        target.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise InputError(f"{target}: cannot write: {exc.strerror or exc}", field="output") from exc
    verdict = "dataset drift" if result.dataset_drift else "no dataset drift"
    print(f"wrote {target}: {verdict} ({result.drifted_columns} of {result.total_columns} columns drifted)",
          file=out)
    return 0


def _cli_labels(values: pd.Series, task: Task) -> NDArray[np.generic]:
    """Labels as the service compares them: numbers for regression, text for classification
    (``1.0`` from a NaN-holding CSV column reads as ``1``); missing stays missing."""
    if task is Task.REGRESSION:
        return pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64)
    return values.map(lambda v: None if pd.isna(v) else
                      str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)).to_numpy(dtype=object)


def _performance(args: argparse.Namespace, reference: pd.DataFrame, current: pd.DataFrame) -> list[DegradationTest]:
    """``check --task --target --prediction``: the block-bootstrap degradation test of the model.

    The files hold no time buckets, so blocks are runs of consecutive rows (files in time order
    keep errors of one period together). Seeded: the same files give the same verdict.
    """
    if args.task is None and args.target is None and args.prediction is None:
        return []
    for flag in ("task", "target", "prediction"):
        if getattr(args, flag) is None:
            raise e.InputError(f"--{flag} is required to test performance (--task, --target and --prediction "
                               "go together)", field=flag)
    task = Task(args.task)
    metric = None
    if args.metric is not None:
        try:
            metric = Metric(args.metric)
        except ValueError:
            raise e.InputError(f"--metric {args.metric!r} is not one of {', '.join(Metric)}", field="metric") from None
    samples = []
    for name, frame in (("reference", reference), ("current", current)):
        for column in (args.target, args.prediction, args.score):
            if column is not None and column not in frame.columns:
                raise e.InputError(f"{name} data has no column {column!r}", field=column)
        score = pd.to_numeric(frame[args.score], errors="coerce").to_numpy(dtype=np.float64) if args.score else None
        samples.append(ScoredSample(y_true=_cli_labels(frame[args.target], task),
                                    y_pred=_cli_labels(frame[args.prediction], task), y_score=score))
    return [degradation(samples[0], samples[1], task, metric=metric, rng=np.random.default_rng(0))]


def _performance_dict(p: DegradationTest) -> dict[str, object]:
    return {"metric": str(p.metric), "reference": p.reference_value, "current": p.current_value,
            "lower": p.lower, "upper": p.upper, "p_value": p.p_value, "degraded": p.degraded, "warning": p.warning}


def _performance_table(performance: list[DegradationTest], out: TextIO) -> None:
    for p in performance:
        verdict = "DEGRADED" if p.degraded else "not degraded"
        print(f"\nperformance {p.metric}: reference {_fmt(p.reference_value)}, current {_fmt(p.current_value)}, "
              f"difference {_fmt(p.delta)} [{_fmt(p.lower)}, {_fmt(p.upper)}], p-value {_fmt(p.p_value)}: {verdict}",
              file=out)
        if p.warning:
            print(f"  warning: {p.warning}", file=out)


def _multivariate(args: argparse.Namespace, schema: Schema | None, profile: ReferenceProfile,
                  raw_reference: pd.DataFrame, current: pd.DataFrame) -> list[MultivariateResult]:
    """``check --multivariate M1,M2``: the joint-distribution tests over the counted numerical and categorical
    columns (a schema's target, label and prediction columns are left out, as from the dataset verdict)."""
    methods = tuple(getattr(args, "multivariate", ()) or ())
    if not methods:
        return []
    from monitor.stats.multivariate import fit_multivariate, multivariate_check
    from monitor.stats.types import ColumnType

    counted = schema.dataset_columns(profile) if schema else None
    names = [n for n in profile.columns if (counted is None or n in counted) and n in current.columns]
    numerical = [n for n in names if profile.columns[n].type is ColumnType.NUMERICAL]
    categorical = [n for n in names if profile.columns[n].type is ColumnType.CATEGORICAL]
    if not numerical and not categorical:
        raise e.InputError("--multivariate needs at least one numerical or categorical column in both files",
                           field="multivariate")
    fitted = fit_multivariate(apply_schema(raw_reference, schema), numerical=numerical, categorical=categorical,
                              methods=methods)
    return list(multivariate_check(fitted, current))


def _multivariate_table(results: list[MultivariateResult], out: TextIO) -> None:
    for m in results:
        verdict = "DRIFT" if m.drifted else "no drift"
        top = ", ".join(f"{f.feature} ({_fmt(f.score)})" for f in m.top_features)
        print(f"\nmultivariate {m.method}: statistic {_fmt(m.statistic)}, threshold {_fmt(m.threshold)}, "
              f"p-value {_fmt(m.p_value)}: {verdict}" + (f"; top features: {top}" if top else ""), file=out)
