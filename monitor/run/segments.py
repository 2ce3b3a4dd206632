"""Segment drift: each value of a declared segment tested against the same value of the reference.

Why per segment: a strong change inside one country of ten moves the whole window's marginals
by a tenth of it and is diluted below every threshold. Why a correction: a monitor with two
segments of 50 values and 10 features makes 1,000 tests a run; at alpha 0.05 each, about 50
would fire on stationary data. The tests of one run, across segment values x features, are
therefore adjusted together by Benjamini-Hochberg (:func:`monitor.stats.correction.adjust_p_values`),
and a feature drifts in a segment when its adjusted p-value is below alpha and (calibrated rule)
its effect reaches the floor. The per-segment tests use analytic p-values (``ks`` for numerical
features, ``chi_square`` for categorical ones, unless the monitor configures a p-value method
for the feature): the calibrated distances' Monte Carlo p-values stop at ``1 / (B + 1)``, too
coarse for a step-up correction over hundreds of tests.

Fitting (:func:`fit_segments`) profiles, with the core's ``fit_profile``, every reference value
with at least ``segment_min_rows`` rows (the largest :data:`MAX_PROFILED_VALUES` per segment);
testing (:func:`evaluate_segments`) needs as many rows in the window. What is stored is bounded
per segment: the ``top_k`` most drifted values and one ``other`` aggregate
(:mod:`monitor.domain.segments`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from monitor.domain import Monitor
from monitor.domain.segments import (
    OTHER,
    SEGMENT_FEATURES_KEPT,
    SEGMENT_VALUES_LISTED,
    SegmentCounts,
    SegmentFeature,
    SegmentKind,
    SegmentResult,
    SegmentSummary,
    segment_name,
    segment_value,
)
from monitor.stats.check import CheckOptions, ColumnOptions, ColumnResult, Status, check
from monitor.stats.correction import Correction, adjust_p_values
from monitor.stats.profile import ReferenceProfile, fit_profile, profile_from_bytes, profile_to_bytes
from monitor.stats.types import P_VALUE_METHODS, ColumnType, DriftMethod, Rule, p_value_drifted

__all__ = ["MAX_PROFILED_VALUES", "MISSING", "SegmentProfiles", "evaluate_segments", "fit_segments",
           "segments_from_arrays", "segments_to_arrays"]

#: Reference values profiled per segment (the largest first); values beyond are counted only.
MAX_PROFILED_VALUES = 1000
#: Reference values whose row count is kept per segment (to tell a new value from a rare one).
MAX_COUNTED_VALUES = 10_000
#: The value of a row whose segment column is missing.
MISSING = "(missing)"


@dataclass(frozen=True, slots=True, kw_only=True)
class SegmentProfiles:
    """One declared segment of a fitted reference: its values' row counts and per-value profiles."""

    columns: tuple[str, ...]
    rows: Mapping[str, int]
    profiles: Mapping[str, ReferenceProfile]
    min_rows: int

    @property
    def name(self) -> str:
        return segment_name(self.columns)


def _groups(frame: pd.DataFrame, columns: tuple[str, ...]) -> dict[str, NDArray[np.intp]]:
    """Row positions of each segment value (missing values as :data:`MISSING`)."""
    keys = [frame[c].astype(object).where(frame[c].notna(), MISSING).map(str) for c in columns]
    if len(keys) == 1:
        codes, uniques = pd.factorize(keys[0], sort=True)
        labels = [str(u) for u in uniques]
    else:
        joined = pd.MultiIndex.from_arrays(keys)
        codes, uniques = pd.factorize(joined, sort=True)
        labels = [segment_value(tuple(str(v) for v in u)) for u in uniques]
    order = np.argsort(codes, kind="stable")
    bounds = np.searchsorted(codes[order], np.arange(len(labels) + 1))
    return {label: order[bounds[i]:bounds[i + 1]] for i, label in enumerate(labels)}


def _tested_types(monitor: Monitor, columns: tuple[str, ...]) -> dict[str, ColumnType]:
    """The features tested inside a segment: all but the segment's own columns (constant there)."""
    types = monitor.schema.types()
    return {c: types[c] for c in monitor.schema.features if c not in columns}


def fit_segments(monitor: Monitor, frame: pd.DataFrame) -> tuple[SegmentProfiles, ...]:
    """Per-value reference profiles of each declared segment (``frame`` conformed to the schema)."""
    out = []
    for columns in monitor.segments:
        groups = _groups(frame, columns)
        sizes = sorted(((v, int(idx.size)) for v, idx in groups.items()), key=lambda t: (-t[1], t[0]))
        types = _tested_types(monitor, columns)
        profiles = {v: fit_profile(frame.iloc[groups[v]], types=types, workers=1, dims=monitor.schema.dims)
                    for v, n in sizes[:MAX_PROFILED_VALUES] if n >= monitor.segment_min_rows}
        out.append(SegmentProfiles(columns=columns, rows=dict(sizes[:MAX_COUNTED_VALUES]), profiles=profiles,
                                   min_rows=monitor.segment_min_rows))
    return tuple(out)


def segments_to_arrays(segments: tuple[SegmentProfiles, ...]) -> dict[str, NDArray[np.generic]]:
    """The arrays a bundle's ``.npz`` stores for its segments: a JSON index and one profile per value."""
    if not segments:
        return {}
    index: list[dict[str, object]] = []
    arrays: dict[str, NDArray[np.generic]] = {}
    for s in segments:
        entries = []
        for value, profile in s.profiles.items():
            key = f"segment_{len(arrays)}"
            arrays[key] = np.frombuffer(profile_to_bytes(profile), dtype=np.uint8)
            entries.append([value, key])
        index.append({"columns": list(s.columns), "rows": dict(s.rows), "profiles": entries, "min_rows": s.min_rows})
    arrays["segment_index"] = np.frombuffer(json.dumps(index).encode(), dtype=np.uint8)
    return arrays


def segments_from_arrays(data: Mapping[str, NDArray[np.generic]]) -> tuple[SegmentProfiles, ...]:
    """Read what :func:`segments_to_arrays` wrote (``()`` for a bundle stored without segments)."""
    if "segment_index" not in data:
        return ()
    index = json.loads(np.asarray(data["segment_index"]).tobytes().decode())
    return tuple(SegmentProfiles(columns=tuple(s["columns"]), rows={str(k): int(v) for k, v in s["rows"].items()},
                                 profiles={v: profile_from_bytes(np.asarray(data[k]).tobytes()) for v, k in s["profiles"]},
                                 min_rows=int(s["min_rows"]))
                 for s in index)


def _options(monitor: Monitor, profile: ReferenceProfile) -> CheckOptions:
    """The monitor's options with analytic p-value tests (its own p-value methods kept), no correction yet."""
    columns = {name: opts for name, opts in monitor.columns.items() if name in profile.columns}
    for name, col in profile.columns.items():
        own = columns.get(name, ColumnOptions())
        if own.method is not None and own.method in P_VALUE_METHODS:
            continue
        method = DriftMethod.CHI_SQUARE if col.type is ColumnType.CATEGORICAL else DriftMethod.KS
        # A distance's threshold is not an alpha: the p-value test gets the check-wide alpha.
        columns[name] = ColumnOptions(method=method, alpha=own.alpha, effect_floor=None)
    base = monitor.check_options()
    return replace(base, columns=columns, correction=Correction.NONE, fdr=False,
                   dataset_columns=frozenset(profile.columns))


@dataclass(slots=True)
class _Tested:
    segment: str
    value: str
    rows: int
    reference_rows: int
    results: list[ColumnResult]


def _strength(r: ColumnResult) -> float:
    if r.effect is not None and r.effect_floor is not None and r.effect_floor > 0 and not math.isnan(r.effect):
        return r.effect / r.effect_floor
    p = r.adjusted_p_value if r.adjusted_p_value is not None else r.p_value
    return -math.log10(max(p, 1e-300)) if p is not None else -math.inf


def _correct(tested: list[_Tested]) -> int:
    """Benjamini-Hochberg across every (segment value, feature) p-value of the run, in place; the number of tests."""
    where = [(t, i) for t in tested for i, r in enumerate(t.results) if r.status is Status.OK and r.p_value is not None]
    if not where:
        return 0
    adjusted = adjust_p_values([float(t.results[i].p_value or 0.0) for t, i in where], Correction.BENJAMINI_HOCHBERG)
    for (t, i), p in zip(where, adjusted, strict=True):
        r = t.results[i]
        assert r.method is not None and r.threshold is not None
        if r.rule is Rule.CALIBRATED:
            assert r.alpha is not None and r.effect is not None and r.effect_floor is not None
            drifted = float(p) < r.alpha and r.effect >= r.effect_floor
        else:
            drifted = p_value_drifted(r.method, float(p), r.threshold)
        t.results[i] = replace(r, adjusted_p_value=float(p), drifted=drifted)
    return len(where)


def _result(t: _Tested) -> SegmentResult:
    ok = [r for r in t.results if r.status is Status.OK]
    drifted = [r for r in ok if r.drifted]
    ranked = sorted(ok, key=lambda r: (not r.drifted, -_strength(r), r.column))
    effect = max((_strength(r) for r in drifted), default=None)
    return SegmentResult(
        segment=t.segment, value=t.value, kind=SegmentKind.VALUE, rows=t.rows, reference_rows=t.reference_rows,
        drifted_features=len(drifted), total_features=len(ok), drift_share=len(drifted) / len(ok) if ok else 0.0,
        drifted=bool(drifted), effect=effect if effect is None or math.isfinite(effect) else None,
        features=tuple(SegmentFeature(feature=r.column, method=None if r.method is None else str(r.method),
                                      statistic=r.statistic, p_value=r.p_value, adjusted_p_value=r.adjusted_p_value,
                                      threshold=r.threshold, effect=r.effect, effect_floor=r.effect_floor,
                                      drifted=r.drifted) for r in ranked[:SEGMENT_FEATURES_KEPT]))


def _rank_key(r: SegmentResult) -> tuple[bool, float, float, str]:
    return not r.drifted, -r.drift_share, -(r.effect if r.effect is not None else -math.inf), r.value


def _top(segment: str, results: list[SegmentResult], k: int) -> list[SegmentResult]:
    """The ``k`` most drifted values of one segment and an ``other`` row aggregating the rest."""
    ranked = sorted(results, key=_rank_key)
    top, rest = ranked[:k], ranked[k:]
    if rest:
        drifted = sum(r.drifted_features for r in rest)
        total = sum(r.total_features for r in rest)
        effects = [r.effect for r in rest if r.drifted and r.effect is not None]
        top.append(SegmentResult(segment=segment, value=OTHER, kind=SegmentKind.OTHER, rows=sum(r.rows for r in rest),
                                 reference_rows=sum(r.reference_rows for r in rest), drifted_features=drifted,
                                 total_features=total, drift_share=drifted / total if total else 0.0,
                                 drifted=any(r.drifted for r in rest), effect=max(effects, default=None),
                                 values=len(rest)))
    return top


def evaluate_segments(monitor: Monitor, segments: tuple[SegmentProfiles, ...], frame: pd.DataFrame) -> SegmentSummary:
    """Every declared segment of ``frame`` (conformed) tested against the reference's same values."""
    fitted = {s.columns: s for s in segments}
    tested: list[_Tested] = []
    new: list[tuple[str, str]] = []
    gone: list[tuple[str, str]] = []
    small: list[tuple[str, str]] = []
    counts: dict[str, SegmentCounts] = {}
    unfitted = []
    for columns in monitor.segments:
        name = segment_name(columns)
        sp = fitted.get(columns)
        if sp is None:
            unfitted.append(name)
            continue
        missing = [c for c in columns if c not in frame.columns]
        groups = {} if missing else _groups(frame, columns)
        seen_new, seen_gone, seen_small = [], [], []
        for value, idx in groups.items():
            ref_rows = int(sp.rows.get(value, 0))
            profile = sp.profiles.get(value)
            if profile is not None and idx.size >= monitor.segment_min_rows:
                columns_tested = list(check(profile, frame.iloc[idx], _options(monitor, profile), workers=1).columns)
                tested.append(_Tested(segment=name, value=value, rows=int(idx.size), reference_rows=ref_rows,
                                      results=columns_tested))
            elif ref_rows == 0 and len(sp.rows) < MAX_COUNTED_VALUES:
                seen_new.append(value)
            else:
                seen_small.append(value)
        seen_gone = sorted(v for v in sp.profiles if v not in groups)
        counts[name] = SegmentCounts(segment=name, new=len(seen_new), gone=len(seen_gone), small=len(seen_small))
        # The largest new values first: a new value of 5,000 rows matters more than one of 3.
        seen_new.sort(key=lambda v: (-groups[v].size, v))
        seen_small.sort(key=lambda v: (-groups[v].size, v))
        new += [(name, v) for v in seen_new[:SEGMENT_VALUES_LISTED]]
        gone += [(name, v) for v in seen_gone[:SEGMENT_VALUES_LISTED]]
        small += [(name, v) for v in seen_small[:SEGMENT_VALUES_LISTED]]
    n_tests = _correct(tested)
    stored: list[SegmentResult] = []
    for columns in monitor.segments:
        name = segment_name(columns)
        values = [_result(t) for t in tested if t.segment == name]
        if name in counts:
            counts[name] = replace(counts[name], tested=len(values), drifted=sum(r.drifted for r in values))
        stored += _top(name, values, monitor.segment_top_k)
    note = None
    if unfitted:
        note = (f"the reference has no per-segment profiles for {', '.join(unfitted)}: it was fitted before the "
                "segments were declared; register it again to test them")
    return SegmentSummary(results=tuple(stored), new=tuple(new), gone=tuple(gone), small=tuple(small),
                          counts=tuple(counts.values()), tests=n_tests, min_rows=monitor.segment_min_rows,
                          top_k=monitor.segment_top_k, note=note)
