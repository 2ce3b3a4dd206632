"""Which features, segments and multivariate tests drove a run's verdict, most important first.

The alert payload (``alerts/rules.py``) and the report's header (``monitor/reports/render.py``)
both name them from here, so they agree. Features are ranked by **effect size**: the calibrated
rule's ``effect / effect_floor`` (1 is the practical floor; unitless, so a KS distance, a total
variation and a Wasserstein distance in standard deviations compare), drifted features first.
Under ``compat: evidently`` a result has no effect measure; it is then ranked by how far past
its threshold it is (``statistic / threshold`` for a distance, ``log p / log alpha`` for a
p-value test). Segments are the drifted segment values as stored (drifted first, by drift share
then effect). Multivariate tests contribute their ``top_features`` where they ran.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from monitor.domain.results import FeatureResult, Role, Run
from monitor.domain.segments import SegmentResult
from monitor.stats.check import Status
from monitor.stats.types import P_VALUE_METHODS

__all__ = ["DRIVERS_LISTED", "FeatureDriver", "Localisation", "localise", "multivariate_drivers", "strength"]

#: Drifted features (and segment values) named in an alert payload or a report header.
DRIVERS_LISTED = 10


def strength(f: FeatureResult) -> float | None:
    """The effect size a feature is ranked by: ``effect / effect_floor``, else how far past its threshold."""
    if f.status is not Status.OK:
        return None
    if f.effect is not None and f.effect_floor is not None and f.effect_floor > 0 and not math.isnan(f.effect):
        return f.effect / f.effect_floor
    if f.method is None or f.threshold is None:
        return None
    if f.method in P_VALUE_METHODS:
        p = f.adjusted_p_value if f.adjusted_p_value is not None else f.p_value
        alpha = f.alpha if f.alpha is not None else f.threshold
        if p is None or math.isnan(p) or not 0.0 < alpha < 1.0:
            return None
        return math.inf if p <= 0.0 else math.log(p) / math.log(alpha)
    if f.statistic is None or math.isnan(f.statistic) or f.threshold <= 0:
        return None
    return f.statistic / f.threshold


@dataclass(frozen=True, slots=True, kw_only=True)
class FeatureDriver:
    """A drifted feature as an alert names it."""

    feature: str
    method: str | None
    statistic: float | None
    p_value: float | None
    adjusted_p_value: float | None
    threshold: float | None
    effect: float | None
    effect_floor: float | None
    effect_ratio: float | None

    def to_dict(self) -> dict[str, Any]:
        return {"feature": self.feature, "method": self.method, "statistic": _finite(self.statistic),
                "p_value": self.p_value, "adjusted_p_value": self.adjusted_p_value, "threshold": self.threshold,
                "effect": _finite(self.effect), "effect_floor": self.effect_floor,
                "effect_ratio": _finite(self.effect_ratio)}


@dataclass(frozen=True, slots=True, kw_only=True)
class Localisation:
    """What drove a run's verdict: drifted features by effect, drifted segments, multivariate top features."""

    features: tuple[FeatureDriver, ...] = ()
    segments: tuple[SegmentResult, ...] = ()
    multivariate: tuple[dict[str, Any], ...] = ()
    #: Drifted features in all (``features`` lists at most :data:`DRIVERS_LISTED`).
    drifted_features: int = 0
    drifted_segments: int = 0

    @property
    def empty(self) -> bool:
        return not (self.features or self.segments or self.multivariate)

    def summary(self) -> str:
        """One line for people: ``features amount (ks, effect 4.2x); segments country=DE (2 of 3 features)``."""
        parts = []
        if self.features:
            named = ", ".join(f"{d.feature} ({d.method}, {_times(d.effect_ratio)})" for d in self.features[:3])
            more = self.drifted_features - min(3, len(self.features))
            parts.append(f"features {named}" + (f" and {more} more" if more > 0 else ""))
        if self.segments:
            named = ", ".join(f"{s.segment}={s.value} ({s.drifted_features} of {s.total_features} features)"
                              for s in self.segments[:3])
            more = self.drifted_segments - min(3, len(self.segments))
            parts.append(f"segments {named}" + (f" and {more} more" if more > 0 else ""))
        for m in self.multivariate[:2]:
            top = ", ".join(str(t.get("feature", t.get("name", ""))) if isinstance(t, dict) else str(t)
                            for t in m.get("top_features", [])[:3])
            parts.append(f"{m.get('method')}" + (f" (top features {top})" if top else ""))
        return "; ".join(parts) if parts else "no feature, segment or multivariate test drifted"

    def to_dict(self) -> dict[str, Any]:
        return {"summary": self.summary(), "features": [d.to_dict() for d in self.features],
                "drifted_features": self.drifted_features,
                "segments": [{"segment": s.segment, "value": s.value, "rows": s.rows, "drift_share": s.drift_share,
                              "drifted_features": s.drifted_features, "total_features": s.total_features,
                              "effect_ratio": _finite(s.effect),
                              "features": [f.feature for f in s.features if f.drifted]}
                             for s in self.segments],
                "drifted_segments": self.drifted_segments,
                "multivariate": list(self.multivariate)}


def multivariate_drivers(run: Run) -> tuple[dict[str, Any], ...]:
    """The multivariate tests that called drift (issue 14, item 1), each with its ``top_features``
    (``{"feature", "score"}``, largest first: the domain classifier's importances, PCA's loadings)."""
    return tuple({"method": str(m.method), "statistic": _finite(m.statistic), "threshold": _finite(m.threshold),
                  "p_value": m.p_value, "top_features": [f.to_dict() for f in m.top_features]}
                 for m in run.multivariate if m.drifted)


def localise(run: Run, *, limit: int = DRIVERS_LISTED) -> Localisation:
    """The features (by effect size), segments and multivariate tests that drove ``run``'s verdict."""
    drifted = [f for f in run.features if f.role is Role.FEATURE and f.drifted and f.status is Status.OK]
    drifted.sort(key=lambda f: (-_key(strength(f)), f.column))
    segments = run.segments.drifted if run.segments is not None else ()
    return Localisation(
        features=tuple(FeatureDriver(feature=f.column, method=None if f.method is None else str(f.method),
                                     statistic=f.statistic, p_value=f.p_value, adjusted_p_value=f.adjusted_p_value,
                                     threshold=f.threshold, effect=f.effect, effect_floor=f.effect_floor,
                                     effect_ratio=strength(f)) for f in drifted[:limit]),
        segments=tuple(segments[:limit]), multivariate=multivariate_drivers(run),
        drifted_features=len(drifted), drifted_segments=len(segments))


def _key(value: float | None) -> float:
    return -math.inf if value is None or math.isnan(value) else value


def _finite(value: Any) -> float | None:
    if value is None:
        return None
    x = float(value)
    return x if math.isfinite(x) else None


def _times(ratio: float | None) -> str:
    if ratio is None:
        return "drifted"
    return "effect inf" if math.isinf(ratio) else f"effect {ratio:.3g}x"
