"""``driftline estimate``: a model's performance estimated on a current file without its labels.

Classification is CBPE, regression DLE (:mod:`monitor.stats.estimation`); both are fitted on the
labelled REFERENCE and applied to CURRENT. Labels are read as text for classification (``1.0``
from a NaN-holding CSV column reads as ``1``, as ``driftline check`` does) and as numbers for
regression; a CURRENT without the target column, or with it empty, has ``realized: null``.

Score columns (``--score``): binary takes one, the positive class's probability (``--score
CLASS=COL`` names the positive class; default ``1`` for 0/1 labels, else the last label in sorted
order). Multiclass takes one per reference class: ``--score CLASS=COL``, or a bare ``COL`` that
belongs to the class whose label ends the column's name (``p_a`` -> ``a``; the longest matching
label wins). Imported only when the command runs, so ``driftline --help`` stays free of pandas.
"""

from __future__ import annotations

import argparse
import json
from typing import Any, TextIO

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from monitor import errors as e
from monitor.frames import read_frame
from monitor.stats.estimation.types import Estimate, warnings_of

__all__ = ["estimate_command"]


def _labels(values: pd.Series) -> NDArray[Any]:
    return values.map(lambda v: None if pd.isna(v) else
                      str(int(v)) if isinstance(v, float) and v.is_integer() else str(v)).to_numpy(dtype=object)


def _require(frame: pd.DataFrame, name: str, columns: list[str]) -> None:
    for column in columns:
        if column not in frame.columns:
            raise e.InputError(f"{name} data has no column {column!r}", field=column)


def _score_columns(specs: list[str], classes: list[str], reference: pd.DataFrame) -> dict[str, str]:
    """Class -> score column, by the rule of the module docstring."""
    out: dict[str, str] = {}
    for spec in specs:
        if "=" in spec and spec not in reference.columns:
            cls, col = spec.split("=", 1)
            if cls not in classes:
                raise e.InputError(f"--score {spec!r}: {cls!r} is not a reference class ({', '.join(classes)})",
                                   field="score")
        else:
            col = spec
            matches = sorted((c for c in classes if spec.endswith(c)), key=len)
            if len(classes) == 2 and len(specs) == 1:
                return {"": col}
            if not matches:
                raise e.InputError(f"--score {spec!r}: its name ends with no reference class ({', '.join(classes)}); "
                                   "name it: --score CLASS=COL", field="score")
            cls = matches[-1]
        if cls in out:
            raise e.InputError(f"--score: two columns for class {cls!r} ({out[cls]!r}, {col!r})", field="score")
        out[cls] = col
    return out


def _numbers(frame: pd.DataFrame, columns: list[str], name: str) -> NDArray[np.float64]:
    cols = []
    for c in columns:
        values = pd.to_numeric(frame[c], errors="coerce")
        if values.notna().sum() < frame[c].notna().sum():
            raise e.InputError(f"{name} data: score column {c!r} holds values that are not numbers", field=c)
        cols.append(values.to_numpy(dtype=np.float64))
    return np.column_stack(cols) if len(cols) > 1 else cols[0]


def _has_labels(frame: pd.DataFrame, target: str) -> bool:
    return target in frame.columns and bool(frame[target].notna().any())


def _classification(args: argparse.Namespace, reference: pd.DataFrame, current: pd.DataFrame) -> list[Estimate]:
    from monitor.stats.estimation.cbpe import estimate, fit_cbpe

    if not args.score:
        raise e.InputError("--score is required for classification: CBPE needs the model's probabilities",
                           field="score")
    _require(reference, "reference", [args.target, args.prediction])
    _require(current, "current", [args.prediction])
    ref_true = _labels(reference[args.target])
    classes = sorted({v for v in ref_true if v is not None})
    mapping = _score_columns(list(args.score), classes, reference)
    binary = "" in mapping or len(classes) == 2
    if binary and len(mapping) != 1:
        raise e.InputError(f"binary classification takes one --score, the positive class's; got {len(mapping)}",
                           field="score")
    if not binary and len(classes) > 2 and set(mapping) != set(classes):
        missing = [c for c in classes if c not in mapping]
        raise e.InputError(f"multiclass needs one --score per class; none for {', '.join(missing)}", field="score")
    columns = list(mapping.values()) if binary else [mapping[c] for c in classes]
    _require(reference, "reference", columns)
    _require(current, "current", columns)
    pos_label = next(iter(mapping)) if binary and "" not in mapping else None
    model = fit_cbpe(ref_true, _labels(reference[args.prediction]), _numbers(reference, columns, "reference"),
                     classes=classes, pos_label=pos_label)
    y_true = _labels(current[args.target]) if _has_labels(current, args.target) else None
    return estimate(model, _labels(current[args.prediction]), _numbers(current, columns, "current"), y_true=y_true,
                    concept_drift=args.concept_drift)


def _regression(args: argparse.Namespace, reference: pd.DataFrame, current: pd.DataFrame) -> list[Estimate]:
    from monitor.stats.estimation.dle import estimate_dle, fit_dle

    _require(reference, "reference", [args.target, args.prediction])
    _require(current, "current", [args.prediction])
    skip = {args.target, args.prediction, *(args.score or [])}
    features = list(args.feature) if args.feature else [c for c in reference.columns if c not in skip]
    if not features:
        raise e.InputError("no feature column: DLE models the error from the features (--feature COL)",
                           field="feature")
    _require(reference, "reference", features)
    _require(current, "current", features)
    y_ref = pd.to_numeric(reference[args.target], errors="coerce").to_numpy(dtype=np.float64)
    model = fit_dle(reference[features], y_ref, reference[args.prediction].to_numpy())
    y_true = (pd.to_numeric(current[args.target], errors="coerce").to_numpy(dtype=np.float64)
              if _has_labels(current, args.target) else None)
    return estimate_dle(model, current[features], current[args.prediction].to_numpy(), y_true=y_true,
                        concept_drift=args.concept_drift)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def estimate_command(args: argparse.Namespace, out: TextIO) -> int:
    """``driftline estimate``: the table or the JSON contract of docs/json-output.md."""
    reference = read_frame(args.reference)
    current = read_frame(args.current)
    if len(current) == 0:
        raise e.InputError(f"{args.current}: no rows to estimate", field=str(args.current))
    run = _classification if args.task == "classification" else _regression
    estimates = run(args, reference, current)
    warnings = warnings_of(estimates)
    first = estimates[0]
    if args.format == "json":
        body = {"task": args.task, "rows": first.n_rows, "labelled": first.n_labelled, "coverage": first.coverage,
                "status": str(first.status),
                "metrics": [{"metric": str(x.metric), "estimated": x.estimated, "lower": x.lower, "upper": x.upper,
                             "realized": x.realized, "sampling_error": x.sampling_error, "reason": x.reason}
                            for x in estimates],
                "warnings": [w.to_dict() for w in warnings]}
        json.dump(body, out, indent=2, allow_nan=False)
        out.write("\n")
        return 0
    header = ("metric", "estimated", "lower", "upper", "realized")
    rows = [(str(x.metric), _fmt(x.estimated), _fmt(x.lower), _fmt(x.upper), _fmt(x.realized)) for x in estimates]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip(), file=out)
    print(f"\n{first.n_rows} rows, {first.n_labelled} labelled (coverage {first.coverage:.2f}): {first.status}",
          file=out)
    for w in warnings:
        print(f"  warning: {w.code}: {w.message}", file=out)
    return 0
