"""Evidently's DataDriftPreset as an oracle: the per-column method, score and verdict it reports.

Telemetry is switched off before Evidently is imported (it reads DO_NOT_TRACK).
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass

import pandas as pd

os.environ.setdefault("DO_NOT_TRACK", "1")

#: Evidently's display names of the automatically chosen tests, mapped to ours.
METHODS = {
    "K-S p_value": "ks",
    "chi-square p_value": "chi_square",
    "Z-test p_value": "z_test",
    "Wasserstein distance (normed)": "wasserstein",
    "Jensen-Shannon distance": "jensen_shannon",
}


@dataclass(frozen=True)
class PeerColumn:
    """One column as Evidently reports it (score: p-value for tests, else the distance)."""

    method: str
    score: float
    threshold: float
    drifted: bool


@dataclass(frozen=True)
class PeerResult:
    columns: dict[str, PeerColumn]
    drift_share: float
    drifted_columns: int


_VALUE_DRIFT = re.compile(r"ValueDrift\(column=(?P<column>.+),method=(?P<method>.+),threshold=(?P<threshold>[^)]+)\)")


def evidently_drift(reference: pd.DataFrame, current: pd.DataFrame) -> PeerResult:
    """Run ``Report([DataDriftPreset()], include_tests=True)`` and collect its verdicts."""
    from evidently import Report
    from evidently.presets import DataDriftPreset

    with warnings.catch_warnings():
        # Evidently's goodness-of-fit chi-square divides by a zero expected count when a category
        # is new in current (its p-value becomes 0); that is its behaviour, not a test failure.
        warnings.filterwarnings("ignore", "divide by zero", RuntimeWarning)
        warnings.filterwarnings("ignore", "invalid value encountered", RuntimeWarning)
        snapshot = Report([DataDriftPreset()], include_tests=True).run(
            reference_data=reference, current_data=current
        )
    doc = snapshot.dict()
    columns: dict[str, PeerColumn] = {}
    fingerprint: dict[str, str] = {}
    share, count = float("nan"), -1
    for metric in doc["metrics"]:
        name = metric["metric_name"]
        if name.startswith("DriftedColumnsCount"):
            share, count = float(metric["value"]["share"]), int(metric["value"]["count"])
            continue
        m = _VALUE_DRIFT.fullmatch(name)
        if m:
            fingerprint[metric["id"]] = m["column"]
            columns[m["column"]] = PeerColumn(
                method=METHODS.get(m["method"], m["method"]), score=float(metric["value"]),
                threshold=float(m["threshold"]), drifted=False,
            )
    for test in doc["tests"]:
        column = fingerprint.get(test["metric_config"]["metric_id"])
        if column is not None and test["status"] == "FAIL":
            c = columns[column]
            columns[column] = PeerColumn(method=c.method, score=c.score, threshold=c.threshold, drifted=True)
    return PeerResult(columns=columns, drift_share=share, drifted_columns=count)
