"""Segment drift: a run's verdicts per segment value (``country = DE``), as stored and exported.

A monitor declares segments (``segments: [country, [country, device]]``); each *segment* is one
categorical feature or an explicit combination of them, each *value* one of its observed values
(``DE`` or ``DE,mobile``). A run tests every value with enough rows against the same value of
the reference, corrects across segments x features (Benjamini-Hochberg), and keeps, per segment,
the ``top_k`` values most drifted plus one ``other`` aggregate of the rest; values new in the
window or gone from it are listed (capped). See docs/statistics.md, "Segments".
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Self

__all__ = ["OTHER", "SEGMENT_FEATURES_KEPT", "SEGMENT_VALUES_LISTED", "SegmentCounts", "SegmentFeature", "SegmentKind",
           "SegmentResult", "SegmentSummary", "segment_name", "segment_value"]

#: The ``value`` of the aggregate of a segment's values outside its top K.
OTHER = "other"
#: Features kept per stored segment value (its drivers, most drifted first).
SEGMENT_FEATURES_KEPT = 10
#: Values named per segment in the lists of new, gone and too-small values (the rest are counted).
SEGMENT_VALUES_LISTED = 20


def segment_name(columns: tuple[str, ...]) -> str:
    """A segment's name: its columns joined by commas (``country,device``)."""
    return ",".join(columns)


def segment_value(values: tuple[str, ...]) -> str:
    """A segment value's name: its columns' values joined by commas (``DE,mobile``)."""
    return ",".join(values)


class SegmentKind(StrEnum):
    """What a stored segment row is: one tested value, or the aggregate of the values outside the top K."""

    VALUE = "value"
    OTHER = "other"


@dataclass(frozen=True, slots=True, kw_only=True)
class SegmentFeature:
    """One feature's verdict inside one segment value (after the correction across segments x features)."""

    feature: str
    method: str | None
    statistic: float | None
    p_value: float | None
    adjusted_p_value: float | None
    threshold: float | None
    effect: float | None
    effect_floor: float | None
    drifted: bool

    @property
    def effect_ratio(self) -> float | None:
        """``effect / effect_floor`` (1 is the practical floor); ``None`` without a calibrated effect."""
        if self.effect is None or self.effect_floor is None or self.effect_floor <= 0:
            return None
        return self.effect / self.effect_floor

    def to_dict(self) -> dict[str, Any]:
        return {"feature": self.feature, "method": self.method, "statistic": _json(self.statistic),
                "p_value": self.p_value, "adjusted_p_value": self.adjusted_p_value, "threshold": self.threshold,
                "effect": _json(self.effect), "effect_floor": self.effect_floor, "drifted": self.drifted}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Self:
        return cls(feature=d["feature"], method=d.get("method"), statistic=d.get("statistic"),
                   p_value=d.get("p_value"), adjusted_p_value=d.get("adjusted_p_value"), threshold=d.get("threshold"),
                   effect=d.get("effect"), effect_floor=d.get("effect_floor"), drifted=bool(d.get("drifted")))


@dataclass(frozen=True, slots=True, kw_only=True)
class SegmentResult:
    """One segment value's verdict (or, ``kind=other``, the aggregate of the values outside the top K).

    ``drift_share`` is the share of drifted features among the tested ones (for ``other``: among
    all tests of its values); ``drifted`` holds when at least one feature drifted after the
    correction; ``effect`` is the largest ``effect / effect_floor`` of a drifted feature (``None``
    when none drifted). ``values`` counts the values an ``other`` row aggregates (1 for a value).
    """

    segment: str
    value: str
    kind: SegmentKind
    rows: int
    reference_rows: int
    drifted_features: int
    total_features: int
    drift_share: float
    drifted: bool
    effect: float | None = None
    values: int = 1
    features: tuple[SegmentFeature, ...] = ()

    @property
    def label(self) -> str:
        """The ``value`` label this row is exported under (a real value spelled ``other`` is kept apart)."""
        if self.kind is SegmentKind.VALUE and self.value == OTHER:
            return f"{OTHER} (value)"
        return self.value

    def to_dict(self) -> dict[str, Any]:
        return {"segment": self.segment, "value": self.value, "kind": str(self.kind), "rows": self.rows,
                "reference_rows": self.reference_rows, "drifted_features": self.drifted_features,
                "total_features": self.total_features, "drift_share": self.drift_share, "drifted": self.drifted,
                "effect": _json(self.effect), "values": self.values,
                "features": [f.to_dict() for f in self.features]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Self:
        return cls(segment=d["segment"], value=d["value"], kind=SegmentKind(d["kind"]), rows=int(d["rows"]),
                   reference_rows=int(d["reference_rows"]), drifted_features=int(d["drifted_features"]),
                   total_features=int(d["total_features"]), drift_share=float(d["drift_share"]),
                   drifted=bool(d["drifted"]), effect=d.get("effect"), values=int(d.get("values", 1)),
                   features=tuple(SegmentFeature.from_dict(f) for f in d.get("features", ())))


@dataclass(frozen=True, slots=True, kw_only=True)
class SegmentCounts:
    """How many values of one segment were tested, drifted, new, gone or too small in a run."""

    segment: str
    tested: int = 0
    drifted: int = 0
    new: int = 0
    gone: int = 0
    small: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {"segment": self.segment, "tested": self.tested, "drifted": self.drifted, "new": self.new,
                "gone": self.gone, "small": self.small}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Self:
        return cls(segment=d["segment"], **{k: int(d.get(k, 0)) for k in ("tested", "drifted", "new", "gone", "small")})


@dataclass(frozen=True, slots=True, kw_only=True)
class SegmentSummary:
    """A run's segment verdicts: the stored rows and what could not be tested.

    ``results``: per declared segment, its top-K values (drifted first, by drift share then
    effect) and an ``other`` row when more values were tested. ``new``: values in the window that
    the reference does not have (or has too few rows of to test); ``gone``: values of the
    reference absent from the window; ``small``: values with too few window rows. Each list names
    at most :data:`SEGMENT_VALUES_LISTED` values per segment; ``counts`` has the full numbers per
    segment (:class:`SegmentCounts`). ``tests`` is the number of
    (segment value, feature) p-values the Benjamini-Hochberg correction ran across.
    """

    results: tuple[SegmentResult, ...] = ()
    new: tuple[tuple[str, str], ...] = ()
    gone: tuple[tuple[str, str], ...] = ()
    small: tuple[tuple[str, str], ...] = ()
    counts: tuple[SegmentCounts, ...] = ()
    tests: int = 0
    min_rows: int = 0
    top_k: int = 0
    note: str | None = None

    @property
    def drifted(self) -> tuple[SegmentResult, ...]:
        """The stored segment values (not aggregates) that drifted, in stored order."""
        return tuple(r for r in self.results if r.drifted and r.kind is SegmentKind.VALUE)

    @property
    def any_drift(self) -> bool:
        """Whether any segment value drifted (an ``other`` row that drifted counts too)."""
        return any(r.drifted for r in self.results)

    def to_dict(self) -> dict[str, Any]:
        return {"results": [r.to_dict() for r in self.results], "new": [list(p) for p in self.new],
                "gone": [list(p) for p in self.gone], "small": [list(p) for p in self.small],
                "counts": [c.to_dict() for c in self.counts], "tests": self.tests, "min_rows": self.min_rows,
                "top_k": self.top_k, "note": self.note}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Self:
        def pairs(key: str) -> tuple[tuple[str, str], ...]:
            return tuple((str(a), str(b)) for a, b in d.get(key, ()))

        return cls(results=tuple(SegmentResult.from_dict(r) for r in d.get("results", ())), new=pairs("new"),
                   gone=pairs("gone"), small=pairs("small"),
                   counts=tuple(SegmentCounts.from_dict(c) for c in d.get("counts", ())),
                   tests=int(d.get("tests", 0)), min_rows=int(d.get("min_rows", 0)), top_k=int(d.get("top_k", 0)),
                   note=d.get("note"))


def _json(value: float | None) -> float | None:
    """JSON has no infinity: an infinite statistic or effect is written as null."""
    if value is None or value != value or value in (float("inf"), float("-inf")):
        return None
    return value
