"""The ``driftline`` command line: the parser, the exit codes, and the dispatch to each command.

Commands import their dependencies when they run (``monitor.check_command``, ``monitor.estimate_command``,
``monitor.commands``, ``monitor.backtest``), so ``driftline --help`` and argument errors answer without pandas or SciPy.

Exit codes: 0 success, 1 dataset drift with ``--fail-on-drift``, 2 bad input or usage, or an
unreachable database (a one-line message on stderr naming the problem), 3 (``check`` with
``--fail-on-drift``) an incomplete check: an empty current file, a reference column missing
from it, or no column tested. :data:`EXIT_CODES` maps every error class to its code in one place.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from monitor import errors as e
from monitor.aliases import evidently_names, method_names, resolve_method
from monitor.stats.correction import Correction
from monitor.stats.multivariate.types import MultivariateMethod
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
    e.MissingExtra: EXIT_BAD_INPUT,
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


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("driftline")
    except PackageNotFoundError:  # running from a source tree that was never installed
        return "unknown (not installed)"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="driftline", description="Drift monitoring for ML models.")
    parser.add_argument("--version", action="version", version=f"%(prog)s {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    # The service commands' logging (monitor.logs): level here or DRIFTLINE_LOG_LEVEL, format DRIFTLINE_LOG_FORMAT.
    logged = argparse.ArgumentParser(add_help=False)
    logged.add_argument("--log-level", choices=["debug", "info", "warning", "error"], metavar="LEVEL",
                        help="debug, info, warning or error (default: $DRIFTLINE_LOG_LEVEL or info); "
                             "DRIFTLINE_LOG_FORMAT=json writes one JSON object per line")
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
    c.add_argument("--max-rows", type=_non_negative, default=5_000_000, metavar="N",
                   help="per file: above N rows, check a uniform random sample of N rows (seeded by --seed; the "
                        "output says so); 0 reads every row (default 5000000)")
    c.add_argument("--seed", type=int, default=0, help="seed of the --max-rows sample (default 0)")
    c.add_argument("--engine", choices=["pandas", "duckdb"], default="pandas",
                   help="duckdb: aggregate the current file with DuckDB, out of core in bounded memory (the "
                        "'duckdb' extra; drift only, docs/scaling.md); pandas (default) reads its rows")
    c.add_argument("--progress", action="store_true",
                   help="progress of the reading on stderr even when it is not a terminal (on a terminal it is shown)")
    c.add_argument("--multivariate", type=_multivariate, default=(), metavar="M1,M2",
                   help="also test the features' joint distribution: a comma-separated list of pca_reconstruction, "
                        "domain_classifier (needs the 'multivariate' extra), mmd")

    es = sub.add_parser("estimate", help="estimate a model's performance on unlabelled data (CBPE, DLE)")
    es.add_argument("reference", help="labelled reference data (.parquet or .csv): the estimator is fitted on it")
    es.add_argument("current", help="current data (.parquet or .csv); labels optional (realized is null without)")
    es.add_argument("--task", choices=["classification", "regression"], required=True,
                    help="classification: CBPE from the scores; regression: DLE (needs the estimate extra)")
    es.add_argument("--target", required=True, metavar="COL", help="the label column")
    es.add_argument("--prediction", required=True, metavar="COL", help="the model's prediction column")
    es.add_argument("--score", action="append", metavar="[CLASS=]COL",
                    help="classification: a probability column (repeat per class for multiclass); binary: one "
                         "column, the positive class's; a bare COL belongs to the class whose label ends its name "
                         "(p_a -> a), or name it: --score a=p_a")
    es.add_argument("--feature", action="append", metavar="COL",
                    help="regression: a feature of the error model (repeatable; default: every column but "
                         "target, prediction and scores)")
    es.add_argument("--concept-drift", action="store_true",
                    help="concept drift was detected elsewhere: say the estimate assumes none")
    es.add_argument("--format", choices=["table", "json"], default="table")

    rp = sub.add_parser("report", help="write an HTML drift report of a current data file against a reference")
    rp.add_argument("reference", help="reference data (.parquet or .csv)")
    rp.add_argument("current", help="current data (.parquet or .csv)")
    rp.add_argument("-o", "--output", required=True, metavar="FILE", help="the HTML file to write")
    rp.add_argument("--schema", help="YAML/JSON file declaring column types and per-column methods; "
                                     "unlisted columns are inferred")
    rp.add_argument("--method", type=_method, choices=list(DriftMethod), metavar="NAME", help=_METHOD_HELP)

    cc = sub.add_parser("check-config", help="validate a driftline.yaml and print every error with its line")
    cc.add_argument("file", help="the driftline.yaml to validate (example: examples/driftline.yaml)")

    sub.add_parser("config-schema", help="print the JSON Schema of driftline.yaml (for editor completion; "
                                         "docs/driftline.schema.json)")

    sv = sub.add_parser("serve", parents=[logged], help="run the API and the scheduler")
    sv.add_argument("--config", help="driftline.yaml (default: $DRIFTLINE_CONFIG or ./driftline.yaml)")
    sv.add_argument("--host")
    sv.add_argument("--port", type=int)
    sv.add_argument("--workers", type=_positive, default=1,
                    help="HTTP worker processes (default 1); above 1 needs PostgreSQL, and one worker, elected "
                         "by an advisory lock, runs the scheduler")

    rn = sub.add_parser("run", parents=[logged], help="run one monitor once and print the run as JSON")
    rn.add_argument("monitor", help="the name of a monitor of driftline.yaml")
    rn.add_argument("--config")
    rn.add_argument("--at", type=_when, help=f"window end, {_TIME_FORMAT} (default now)")

    bf = sub.add_parser("backfill", parents=[logged], help="run a monitor over historical windows")
    bf.add_argument("monitor", help="the name of a monitor of driftline.yaml")
    bf.add_argument("--config")
    bf.add_argument("--from", dest="start", type=_when, required=True, metavar="TIME",
                    help=f"first window end, {_TIME_FORMAT}")
    bf.add_argument("--to", dest="end", type=_when, required=True, metavar="TIME",
                    help=f"last window end (included), {_TIME_FORMAT}")
    bf.add_argument("--step", default="1h", type=_step, metavar="DURATION",
                    help="distance between window ends: 30s, 15m, 1h, 7d, 2w (default 1h)")

    bt = sub.add_parser("backtest", help="replay history in windows: false alarms, detection delay, power")
    bt.add_argument("reference", nargs="?", help="reference data (.parquet or .csv), fitted once (or --monitor)")
    bt.add_argument("history", nargs="?", help="history to replay (.parquet or .csv), cut into windows by time")
    bt.add_argument("--time-column", metavar="COL", help="the history's timestamp column (required with files)")
    bt.add_argument("--window", metavar="DURATION", help="window length: 1h, 1d, 7d (or --rows)")
    bt.add_argument("--step", metavar="DURATION",
                    help="distance between window starts (default: the window); with --monitor, between window "
                         "ends (default: the monitor's schedule period, 1h for cron)")
    bt.add_argument("--rows", type=int, metavar="N", help="windows of N consecutive rows instead of --window")
    bt.add_argument("--min-rows", type=int, metavar="N", help="skip windows with fewer rows (default 1)")
    bt.add_argument("--monitor", metavar="NAME",
                    help="replay this monitor of driftline.yaml over its stored history instead of two files")
    bt.add_argument("--config", help="driftline.yaml (with --monitor; default DRIFTLINE_CONFIG)")
    bt.add_argument("--from", dest="start", metavar="TIME", help=f"with --monitor: first window end, {_TIME_FORMAT}")
    bt.add_argument("--to", dest="end", metavar="TIME",
                    help=f"with --monitor: last window end (included), {_TIME_FORMAT}")
    bt.add_argument("--schema", help="YAML/JSON file declaring column types and per-column methods")
    bt.add_argument("--inject", action="append", metavar="SPEC",
                    help="known drift at a known time: shift:COL:SIGMAS@T, scale:COL:FACTOR@T, swap:COL@T, "
                         "missing:COL:SHARE@T (repeatable)")
    bt.add_argument("--reference-kind", action="append", metavar="KIND",
                    help="the reference each window is checked against: fixed (REFERENCE, or the monitor's active "
                         "version), previous_window, rolling:LAST[:REFIT], same_period:EVERY:PERIODS (e.g. "
                         "same_period:1d:7); repeat to compare kinds (default: fixed, or the monitor's own)")
    bt.add_argument("--seed", type=int, default=0, help="seed of the injection's random draws (default 0)")
    bt.add_argument("--budget", metavar="N/month", help="propose per-feature thresholds meeting this false-alarm budget")
    bt.add_argument("--format", choices=["table", "json"], default="table")
    bt.add_argument("--quiet", action="store_true", help="no progress bar on stderr")

    db = sub.add_parser("db", parents=[logged], help="database maintenance")
    db.add_argument("action", choices=["upgrade", "partition"],
                    help="upgrade: bring the database to the latest schema; partition: move PostgreSQL prediction "
                         "logs made before partitioning into day partitions (stop ingest first)")
    db.add_argument("--config")

    dash = sub.add_parser("dashboards", help="Grafana dashboards as code")
    dash.add_argument("action", choices=["build"], help="build: write the dashboards' JSON")
    dash.add_argument("--out", default="grafana/dashboards", help="output folder (default grafana/dashboards)")
    dash.add_argument("--import-out", default="grafana/import",
                      help="folder of the importable variants, with __inputs (default grafana/import)")

    dm = sub.add_parser("demo", parents=[logged], help="the full local loop on SQLite: ingest, labels, scheduled runs")
    dm.add_argument("--port", type=int, default=8000)
    dm.add_argument("--seconds", type=float, default=None, help="stop after this long (default: run until Ctrl-C)")
    return parser


def _non_negative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must be 0 or more")
    return value


def _positive(text: str) -> int:
    number = _non_negative(text)
    if number < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be 1 or more")
    return number


def _multivariate(text: str) -> tuple[MultivariateMethod, ...]:
    """``--multivariate``: comma-separated method names; an error lists the valid ones."""
    names = [t.strip() for t in text.split(",") if t.strip()]
    try:
        return tuple(dict.fromkeys(MultivariateMethod(n) for n in names))
    except ValueError:
        bad = next(n for n in names if n not in set(MultivariateMethod))
        raise argparse.ArgumentTypeError(
            f"{bad!r} is not a multivariate method; choose from {', '.join(MultivariateMethod)}") from None


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


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``driftline`` console script."""
    args = _parser().parse_args(argv)
    try:
        if args.command in ("check", "report"):
            # Imported here: pandas and SciPy would cost every other command (and --help) a second.
            from monitor.check_command import check_command, report_command

            return (check_command if args.command == "check" else report_command)(args, sys.stdout)
        if args.command == "config-schema":
            from monitor.config_schema import schema_text

            sys.stdout.write(schema_text())
            return 0
        if args.command == "estimate":
            from monitor.estimate_command import estimate_command

            return estimate_command(args, sys.stdout)
        if args.command == "backtest":
            from monitor.backtest import backtest_command

            return backtest_command(args, sys.stdout)
        if args.command == "dashboards":
            try:
                from dashboards.build import main as build_dashboards
            except ModuleNotFoundError as exc:
                if not (exc.name or "").startswith("grafana_foundation_sdk"):
                    raise
                print("driftline: error: `driftline dashboards build` needs the dashboards extra: "
                      "pip install 'driftline[dashboards]'", file=sys.stderr)
                return EXIT_BAD_INPUT
            return build_dashboards(args.out, args.import_out)
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
