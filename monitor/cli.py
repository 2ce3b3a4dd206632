"""The ``driftline`` command line.

Exit codes: 0 success, 1 dataset drift with ``--fail-on-drift``, 2 bad input or usage, or an
unreachable database (a one-line message on stderr naming the problem). :data:`EXIT_CODES` maps
every error class to its code in one place.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TextIO

from monitor import errors as e
from monitor.frames import read_frame
from monitor.schema import load_schema
from monitor.stats.check import CheckOptions, DatasetResult, Status, check
from monitor.stats.correction import Correction
from monitor.stats.profile import fit_profile
from monitor.stats.types import Compat, DriftMethod

__all__ = ["EXIT_CODES", "main"]

#: A refused input, configuration, name or option: the user must change something (docs/operations.md).
EXIT_BAD_INPUT = 2
#: Something Driftline depends on failed (its database, a webhook). docs/operations.md documents 2 for
#: ``run``, ``backfill`` and ``db upgrade`` on an unreachable database (``serve``'s 3 is uvicorn's
#: start-up failure), so it is 2 as well; a separate code is one change here and there.
EXIT_UNAVAILABLE = 2

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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="driftline", description="Drift monitoring for ML models.")
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("check", help="compare a current data file with a reference data file")
    c.add_argument("reference", help="reference data (.parquet or .csv)")
    c.add_argument("current", help="current data (.parquet or .csv)")
    c.add_argument("--schema", help="YAML/JSON file declaring column types and per-column methods")
    c.add_argument("--method", type=DriftMethod, choices=list(DriftMethod), metavar="NAME",
                   help="one method for every column (default: automatic, as Evidently chooses)")
    c.add_argument("--threshold", type=float, help="alpha for p-value tests, or the distance threshold")
    c.add_argument("--drift-share", type=float, default=0.5,
                   help="dataset drift when at least this share of columns drifted (default 0.5)")
    c.add_argument("--correction", type=Correction, choices=list(Correction), default=Correction.NONE,
                   metavar="NAME", help="p-value correction across columns: " + ", ".join(Correction))
    c.add_argument("--compat", type=Compat, choices=list(Compat), default=Compat.CALIBRATED, metavar="MODE",
                   help="verdict rule: calibrated (default; thresholds account for both window sizes) or "
                        "evidently (Evidently 0.7.23's verdicts exactly)")
    c.add_argument("--format", choices=["table", "json"], default="table")
    c.add_argument("--fail-on-drift", action="store_true", help="exit 1 when the dataset drifted")

    rp = sub.add_parser("report", help="write an HTML drift report of a current data file against a reference")
    rp.add_argument("reference", help="reference data (.parquet or .csv)")
    rp.add_argument("current", help="current data (.parquet or .csv)")
    rp.add_argument("-o", "--output", required=True, metavar="FILE", help="the HTML file to write")
    rp.add_argument("--schema", help="YAML/JSON file declaring column types and per-column methods")
    rp.add_argument("--method", type=DriftMethod, choices=list(DriftMethod), metavar="NAME",
                    help="one method for every column (default: automatic, as Evidently chooses)")

    cc = sub.add_parser("check-config", help="validate a driftline.yaml and print every error with its line")
    cc.add_argument("file")

    sv = sub.add_parser("serve", help="run the API and the scheduler")
    sv.add_argument("--config", help="driftline.yaml (default: $DRIFTLINE_CONFIG or ./driftline.yaml)")
    sv.add_argument("--host")
    sv.add_argument("--port", type=int)

    rn = sub.add_parser("run", help="run one monitor once and print the run as JSON")
    rn.add_argument("monitor")
    rn.add_argument("--config")
    rn.add_argument("--at", type=_when, help="window end (ISO 8601, default now)")

    bf = sub.add_parser("backfill", help="run a monitor over historical windows")
    bf.add_argument("monitor")
    bf.add_argument("--config")
    bf.add_argument("--from", dest="start", type=_when, required=True)
    bf.add_argument("--to", dest="end", type=_when, required=True)
    bf.add_argument("--step", default="1h", type=_step, help="distance between window ends (default 1h)")

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
    db.add_argument("action", choices=["upgrade"])
    db.add_argument("--config")

    dash = sub.add_parser("dashboards", help="Grafana dashboards as code")
    dash.add_argument("action", choices=["build"])
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


def _check(args: argparse.Namespace, out: TextIO) -> int:
    reference, current = read_frame(args.reference), read_frame(args.current)
    schema = load_schema(args.schema) if args.schema else None
    options = CheckOptions(
        method=args.method, threshold=args.threshold, drift_share=args.drift_share,
        correction=args.correction, columns=schema.options if schema else {}, compat=args.compat,
        # A schema's target/label/prediction columns are tested but do not count in the verdict.
        dataset_columns=schema.features if schema else None,
    )
    profile = fit_profile(reference, types=schema.types if schema else None,
                          periods=schema.periods if schema else None)
    result = check(profile, current, options)
    if args.format == "json":
        json.dump(result.to_dict(), out, indent=2, allow_nan=False)
        out.write("\n")
    else:
        _table(result, out)
    return 1 if args.fail_on_drift and result.dataset_drift else 0


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

    reference, current = read_frame(args.reference), read_frame(args.current)
    schema = load_schema(args.schema) if args.schema else None
    options = CheckOptions(method=args.method, columns=schema.options if schema else {})
    profile = fit_profile(reference, types=schema.types if schema else None)
    result = check(profile, current, options)
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
