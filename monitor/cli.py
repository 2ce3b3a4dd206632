"""The ``driftline`` command line.

Exit codes: 0 success, 1 dataset drift with ``--fail-on-drift``, 2 bad input or usage, or an
unreachable database (a one-line message on stderr naming the problem), 3 (``check`` with
``--fail-on-drift``) an incomplete check: an empty current file, a reference column missing
from it, or no column tested. :data:`EXIT_CODES` maps every error class to its code in one place.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TextIO

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from monitor import errors as e
from monitor.aliases import evidently_names, method_names, resolve_method
from monitor.frames import read_frame
from monitor.schema import Schema, apply_schema, fit_reference, integer_code_warnings, load_schema
from monitor.stats.check import CheckOptions, DatasetResult, Status, check
from monitor.stats.correction import Correction
from monitor.stats.degradation import DegradationTest, ScoredSample, degradation
from monitor.stats.performance import Metric, Task
from monitor.stats.profile import ReferenceProfile
from monitor.stats.types import Compat, DriftMethod

__all__ = ["EXIT_CODES", "main"]

#: A refused input, configuration, name or option: the user must change something (docs/operations.md).
EXIT_BAD_INPUT = 2
#: Something Driftline depends on failed (its database, a webhook). docs/operations.md documents 2 for
#: ``run``, ``backfill`` and ``db upgrade`` on an unreachable database (``serve``'s 3 is uvicorn's
#: start-up failure), so it is 2 as well; a separate code is one change here and there.
EXIT_UNAVAILABLE = 2
#: ``check --fail-on-drift`` could not test what it was asked to: a CI gate must not pass on it.
EXIT_INCOMPLETE = 3

#: Every error class and its exit code, in one place: a test fails for a class missing here.
#: Errors only the API raises (401, 413, 415) are listed too, so the table stays total.
EXIT_CODES: dict[type[e.DriftlineError], int] = {
    e.DriftlineError: EXIT_BAD_INPUT,
    e.ConfigError: EXIT_BAD_INPUT,
    e.ConfigErrors: EXIT_BAD_INPUT,
    e.InputError: EXIT_BAD_INPUT,
    e.BatchInvalid: EXIT_BAD_INPUT,
    e.BatchTooLarge: EXIT_BAD_INPUT,
    e.InsufficientData: EXIT_BAD_INPUT,
    e.NotFound: EXIT_BAD_INPUT,
    e.UnknownMonitor: EXIT_BAD_INPUT,
    e.UnknownReference: EXIT_BAD_INPUT,
    e.UnknownModel: EXIT_BAD_INPUT,
    e.UnknownRun: EXIT_BAD_INPUT,
    e.NoReportableRun: EXIT_BAD_INPUT,
    e.UnknownRetrainJob: EXIT_BAD_INPUT,
    e.UnknownOutboxMessage: EXIT_BAD_INPUT,
    e.FeatureDisabled: EXIT_BAD_INPUT,
    e.Unauthorized: EXIT_BAD_INPUT,
    e.PayloadTooLarge: EXIT_BAD_INPUT,
    e.UnsupportedMediaType: EXIT_BAD_INPUT,
    e.StorageError: EXIT_UNAVAILABLE,
    e.DuplicateRun: EXIT_UNAVAILABLE,
    e.DeliveryError: EXIT_UNAVAILABLE,
}


def exit_code(exc: e.DriftlineError) -> int:
    """The exit code of ``exc``: its class's row in :data:`EXIT_CODES`, else its nearest listed base's."""
    return next(EXIT_CODES[c] for c in type(exc).__mro__ if c in EXIT_CODES)


_TIME_FORMAT = "ISO 8601, e.g. 2024-01-31 or 2024-01-31T12:00:00Z (no offset: UTC)"
_METHOD_HELP = (f"one method for every column (default: automatic): {method_names()}; "
                f"Evidently's names work too ({evidently_names()})")


def _method(text: str) -> DriftMethod:
    """``--method``: a Driftline name or an Evidently alias; an error lists the valid names."""
    try:
        return resolve_method(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="driftline", description="Drift monitoring for ML models.")
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="compare a current data file with a reference data file")
    c.add_argument("reference", help="reference data (.parquet or .csv)")
    c.add_argument("current", help="current data (.parquet or .csv)")
    c.add_argument("--schema", help="YAML/JSON file declaring column types and per-column methods; "
                                    "unlisted columns are inferred")
    c.add_argument("--method", type=_method, choices=list(DriftMethod), metavar="NAME", help=_METHOD_HELP)
    c.add_argument("--threshold", type=float, help="alpha for p-value tests, or the distance threshold")
    c.add_argument("--drift-share", type=float, default=0.5,
                   help="dataset drift when at least this share of columns drifted (default 0.5)")
    c.add_argument("--correction", type=Correction, choices=list(Correction), default=Correction.NONE,
                   metavar="NAME", help="p-value correction across columns: " + ", ".join(Correction))
    c.add_argument("--compat", type=Compat, choices=list(Compat), default=Compat.CALIBRATED, metavar="MODE",
                   help="verdict rule: calibrated (default; thresholds account for both window sizes) or "
                        "evidently (Evidently 0.7.23's verdicts exactly)")
    c.add_argument("--format", choices=["table", "json"], default="table")
    c.add_argument("--fail-on-drift", action="store_true",
                   help="exit 1 when the dataset drifted, 3 when the check is incomplete (empty current "
                        "file, a reference column missing from it, nothing tested)")
    c.add_argument("--task", choices=["classification", "regression"],
                   help="test the model's performance too (needs --target and --prediction)")
    c.add_argument("--target", metavar="COL", help="the label column (rows without a label are skipped)")
    c.add_argument("--prediction", metavar="COL", help="the model's prediction column")
    c.add_argument("--score", metavar="COL", help="binary classification: the score of the positive class")
    c.add_argument("--metric", metavar="NAME",
                   help="metric of the degradation test (default: roc_auc with --score, else balanced_accuracy; "
                        "mae for regression)")

    rp = sub.add_parser("report", help="write an HTML drift report of a current data file against a reference")
    rp.add_argument("reference", help="reference data (.parquet or .csv)")
    rp.add_argument("current", help="current data (.parquet or .csv)")
    rp.add_argument("-o", "--output", required=True, metavar="FILE", help="the HTML file to write")
    rp.add_argument("--schema", help="YAML/JSON file declaring column types and per-column methods; "
                                     "unlisted columns are inferred")
    rp.add_argument("--method", type=_method, choices=list(DriftMethod), metavar="NAME", help=_METHOD_HELP)

    cc = sub.add_parser("check-config", help="validate a driftline.yaml and print every error with its line")
    cc.add_argument("file", help="the driftline.yaml to validate (example: examples/driftline.yaml)")

    sv = sub.add_parser("serve", help="run the API and the scheduler")
    sv.add_argument("--config", help="driftline.yaml (default: $DRIFTLINE_CONFIG or ./driftline.yaml)")
    sv.add_argument("--host")
    sv.add_argument("--port", type=int)

    rn = sub.add_parser("run", help="run one monitor once and print the run as JSON")
    rn.add_argument("monitor", help="the name of a monitor of driftline.yaml")
    rn.add_argument("--config")
    rn.add_argument("--at", type=_when, help=f"window end, {_TIME_FORMAT} (default now)")

    bf = sub.add_parser("backfill", help="run a monitor over historical windows")
    bf.add_argument("monitor", help="the name of a monitor of driftline.yaml")
    bf.add_argument("--config")
    bf.add_argument("--from", dest="start", type=_when, required=True, metavar="TIME",
                    help=f"first window end, {_TIME_FORMAT}")
    bf.add_argument("--to", dest="end", type=_when, required=True, metavar="TIME",
                    help=f"last window end (included), {_TIME_FORMAT}")
    bf.add_argument("--step", default="1h", type=_step, metavar="DURATION",
                    help="distance between window ends: 30s, 15m, 1h, 7d, 2w (default 1h)")

    bt = sub.add_parser("backtest", help="replay history in windows: false alarms, detection delay, power")
    bt.add_argument("reference", help="reference data (.parquet or .csv), fitted once")
    bt.add_argument("history", help="history to replay (.parquet or .csv), cut into windows by time")
    bt.add_argument("--time-column", required=True, metavar="COL", help="the history's timestamp column")
    bt.add_argument("--window", metavar="DURATION", help="window length: 1h, 1d, 7d (or --rows)")
    bt.add_argument("--step", metavar="DURATION", help="distance between window starts (default: the window)")
    bt.add_argument("--rows", type=int, metavar="N", help="windows of N consecutive rows instead of --window")
    bt.add_argument("--min-rows", type=int, default=1, metavar="N", help="skip windows with fewer rows (default 1)")
    bt.add_argument("--schema", help="YAML/JSON file declaring column types and per-column methods")
    bt.add_argument("--inject", action="append", metavar="SPEC",
                    help="known drift at a known time: shift:COL:SIGMAS@T, scale:COL:FACTOR@T, swap:COL@T, "
                         "missing:COL:SHARE@T (repeatable)")
    bt.add_argument("--seed", type=int, default=0, help="seed of the injection's random draws (default 0)")
    bt.add_argument("--budget", metavar="N/month", help="propose per-feature thresholds meeting this false-alarm budget")
    bt.add_argument("--format", choices=["table", "json"], default="table")
    bt.add_argument("--quiet", action="store_true", help="no progress bar on stderr")

    db = sub.add_parser("db", help="database maintenance")
    db.add_argument("action", choices=["upgrade"], help="upgrade: bring the database to the latest schema")
    db.add_argument("--config")

    dash = sub.add_parser("dashboards", help="Grafana dashboards as code")
    dash.add_argument("action", choices=["build"], help="build: write the dashboards' JSON")
    dash.add_argument("--out", default="grafana/dashboards", help="output folder (default grafana/dashboards)")

    dm = sub.add_parser("demo", help="the full local loop on SQLite: ingest, labels, scheduled runs")
    dm.add_argument("--port", type=int, default=8000)
    dm.add_argument("--seconds", type=float, default=None, help="stop after this long (default: run until Ctrl-C)")
    return parser


def _step(text: str) -> timedelta:
    from monitor.config import parse_duration

    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _when(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an ISO 8601 time") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


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


def _inputs(args: argparse.Namespace) -> tuple[Schema | None, ReferenceProfile, pd.DataFrame]:
    """The schema, the reference's profile and the current frame of ``check`` and ``report``.

    Declared categoricals are read as text on both sides (:func:`monitor.schema.apply_schema`);
    undeclared numerical columns that look like integer codes draw a warning on stderr.
    """
    schema = load_schema(args.schema) if args.schema else None
    reference = apply_schema(read_frame(args.reference), schema)
    current = apply_schema(read_frame(args.current), schema)
    profile = fit_reference(reference, schema)
    for warning in integer_code_warnings(profile, schema):
        print(f"driftline: warning: {warning}", file=sys.stderr)
    return schema, profile, current


def incomplete(profile: ReferenceProfile, current: pd.DataFrame, result: DatasetResult) -> str | None:
    """Why a check did not test what it was asked to, or ``None`` when it is complete.

    An empty current window, a reference column absent from the current file, or no tested
    column would otherwise read as "0 of 0 columns drifted" and pass a CI gate.
    """
    problems = []
    if len(current) == 0:
        problems.append("the current data has no rows")
    absent = [c for c in profile.columns if c not in current.columns]
    if absent:
        problems.append(f"{len(absent)} reference column(s) missing from the current data: "
                        + ", ".join(absent[:10]) + (", ..." if len(absent) > 10 else ""))
    if result.total_columns == 0:
        problems.append("no column was tested")
    return "; ".join(problems) or None


def _check(args: argparse.Namespace, out: TextIO) -> int:
    schema, profile, current = _inputs(args)
    options = CheckOptions(
        method=args.method, threshold=args.threshold, drift_share=args.drift_share,
        correction=args.correction, columns=schema.options if schema else {}, compat=args.compat,
        # A schema's target/label/prediction columns are tested but do not count in the verdict.
        dataset_columns=schema.dataset_columns(profile) if schema else None,
    )
    result = check(profile, current, options)
    performance = _performance(args, current)
    if args.format == "json":
        json.dump({**result.to_dict(), "performance": [_performance_dict(p) for p in performance]}, out,
                  indent=2, allow_nan=False)
        out.write("\n")
    else:
        _table(result, out)
        _performance_table(performance, out)
    if args.fail_on_drift and result.dataset_drift:
        return 1
    problem = incomplete(profile, current, result)
    if problem is None:
        return 0
    if args.fail_on_drift:
        print(f"driftline: error: incomplete check (exit {EXIT_INCOMPLETE}): {problem}", file=sys.stderr)
        return EXIT_INCOMPLETE
    print(f"driftline: warning: incomplete check: {problem}", file=sys.stderr)
    return 0


def _report(args: argparse.Namespace, out: TextIO) -> int:
    """``driftline report``: the check of ``driftline check``, written as the service's HTML page.

    The page is drawn from the check's results turned into a domain ``Run`` (the service's
    conversion), so a file report and a served report show the same thing the same way.
    """
    import uuid
    from pathlib import Path

    from monitor.domain import DatasetSummary, FeatureResult, Role, Run, RunStatus
    from monitor.errors import InputError
    from monitor.reports import render_report

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
    page = render_report(title=f"Drift report: {Path(args.current).name} against {Path(args.reference).name}",
                         monitor=None, model=None, window=None, reference_version=None, run=run,
                         bundle_profile=profile, current=current)
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


def _performance(args: argparse.Namespace, current: pd.DataFrame) -> list[DegradationTest]:
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
    reference = read_frame(args.reference)
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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``driftline`` console script."""
    args = _parser().parse_args(argv)
    try:
        if args.command == "check":
            return _check(args, sys.stdout)
        if args.command == "report":
            return _report(args, sys.stdout)
        if args.command == "backtest":
            from monitor.backtest import backtest_command

            return backtest_command(args, sys.stdout)
        if args.command == "dashboards":
            from dashboards.build import main as build_dashboards

            return build_dashboards(args.out)
        from monitor import commands  # the service's commands import its heavier dependencies

        return commands.dispatch(args)
    except e.DriftlineError as exc:
        # The operator's terminal, not a client: a storage error says which database and why.
        print(f"driftline: error: {e.log_detail(exc)}", file=sys.stderr)
        return exit_code(exc)


def run() -> None:
    """Console-script wrapper: exit with :func:`main`'s code."""
    raise SystemExit(main())


if __name__ == "__main__":  # pragma: no cover
    run()
