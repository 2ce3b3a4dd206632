"""The result and options shared by every multivariate method (one shape, like the per-column results)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

__all__ = ["FeatureScore", "MultivariateMethod", "MultivariateOptions", "MultivariateResult"]


class MultivariateMethod(StrEnum):
    """A test of the joint distribution of a monitor's features (config key, JSON ``method`` and metric label)."""

    PCA_RECONSTRUCTION = "pca_reconstruction"
    DOMAIN_CLASSIFIER = "domain_classifier"
    MMD = "mmd"


@dataclass(frozen=True, slots=True, kw_only=True)
class FeatureScore:
    """How much one feature drove a multivariate verdict (the method says in which units)."""

    feature: str
    score: float

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: ``{"feature", "score"}``."""
        return {"feature": self.feature, "score": self.score}


@dataclass(frozen=True, slots=True, kw_only=True)
class MultivariateResult:
    """One multivariate method's verdict on a window.

    ``statistic`` is the method's own (mean reconstruction error, held-out ROC AUC, MMD²);
    ``threshold`` the calibrated one it is compared with (``drifted`` is ``statistic > threshold``);
    ``p_value`` the null's tail probability of ``statistic`` (``None`` when the method has none).
    ``top_features`` rank the features that drove the result, largest first (empty for MMD, and
    for the domain classifier when it does not separate the samples).
    """

    method: MultivariateMethod
    statistic: float
    threshold: float
    p_value: float | None
    drifted: bool
    top_features: tuple[FeatureScore, ...] = ()
    warnings: tuple[str, ...] = ()
    n_reference: int = 0
    n_current: int = 0

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract (docs/json-output.md, ``multivariate[]``); non-finite numbers as ``null``."""
        return {
            "method": str(self.method),
            "statistic": self.statistic if math.isfinite(self.statistic) else None,
            "threshold": self.threshold if math.isfinite(self.threshold) else None,
            "p_value": self.p_value,
            "drifted": self.drifted,
            "top_features": [f.to_dict() for f in self.top_features],
            "warnings": list(self.warnings),
            "n_reference": self.n_reference,
            "n_current": self.n_current,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> MultivariateResult:
        """Read what :meth:`to_dict` wrote (a stored run); a ``null`` number reads as NaN."""
        def number(value: Any) -> float:
            return float("nan") if value is None else float(value)

        return cls(method=MultivariateMethod(data["method"]), statistic=number(data["statistic"]),
                   threshold=number(data["threshold"]),
                   p_value=None if data.get("p_value") is None else float(data["p_value"]),
                   drifted=bool(data["drifted"]),
                   top_features=tuple(FeatureScore(feature=str(f["feature"]), score=float(f["score"]))
                                      for f in data.get("top_features", ())),
                   warnings=tuple(str(w) for w in data.get("warnings", ())),
                   n_reference=int(data.get("n_reference", 0)), n_current=int(data.get("n_current", 0)))


@dataclass(frozen=True, slots=True, kw_only=True)
class MultivariateOptions:
    """How the multivariate methods are fitted and tested (defaults as docs/statistics.md states).

    Fit time: ``variance`` (PCA's explained-variance target, NannyML's 0.65), ``max_categories``
    (one-hot columns per categorical feature: the reference's most frequent values; the rest are
    "other"), ``max_rows`` (rows per side kept for the domain classifier and MMD, and held-out
    reference errors kept for PCA's null), ``seed``. Test time: ``alpha`` (the null's level), the
    effect floors (``pca_floor``: relative increase of the mean reconstruction error; ``auc_floor``;
    ``mmd_floor``: MMD²), ``resamples`` (PCA null chunks), ``permutations`` (MMD),
    ``fourier_features`` (MMD's random features), ``top`` (features reported).
    """

    alpha: float = 0.05
    seed: int = 0
    variance: float = 0.65
    max_categories: int = 20
    max_rows: int = 10_000
    pca_floor: float = 0.02
    auc_floor: float = 0.55
    mmd_floor: float = 0.0
    resamples: int = 1000
    permutations: int = 200
    fourier_features: int = 256
    top: int = 5

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise ValueError(f"alpha ({self.alpha}) must be in the open interval (0, 1)")
        if not 0.0 < self.variance < 1.0:
            raise ValueError(f"variance ({self.variance}) must be in the open interval (0, 1)")
        if not 0.5 <= self.auc_floor < 1.0:
            raise ValueError(f"auc_floor ({self.auc_floor}) must be in [0.5, 1)")
        for name in ("max_categories", "max_rows", "resamples", "permutations", "fourier_features", "top"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} ({getattr(self, name)}) must be at least 1")
        if self.max_categories > 254:  # the classifier's native categories are codes below 255
            raise ValueError(f"max_categories ({self.max_categories}) must be at most 254")
        if self.pca_floor < 0 or self.mmd_floor < 0:
            raise ValueError("pca_floor and mmd_floor must be >= 0")
