"""Scores to probabilities for CBPE: isotonic or Platt, chosen by cross-validation, kept only if it helps.

CBPE reads a model's scores as probabilities, so they must be calibrated on the labelled
reference. Two calibrators are fitted in ``folds``-fold cross-validation (seeded folds):

- **isotonic**: the monotone step function of least squares (``scipy.optimize.isotonic_regression``
  on the distinct scores, weighted by their counts; predictions interpolate linearly between the
  knots and clip outside them, as scikit-learn's ``IsotonicRegression(out_of_bounds="clip")`` does);
- **Platt**: a logistic regression of the outcome on the raw score, ``p = 1 / (1 + exp(-(a s + b)))``,
  fitted by maximum likelihood (no prior correction, so it equals scikit-learn's unpenalised
  ``LogisticRegression`` on the one feature).

The one with the lower out-of-fold Brier score is chosen. Then NannyML's check: if the chosen
calibrator's out-of-fold expected calibration error (ECE, ``bins`` equal-count bins) is not
lower than the raw scores' ECE on the same rows, calibration does not help and the raw scores
are used (``method`` is ``none``; CBPE says so in a ``calibration_not_applied`` warning). Scores
outside [0, 1] are not probabilities, so they are always calibrated.

Multiclass (:func:`calibrate`): one calibrator per class, one-vs-rest, then every row renormalised
to sum to one (a row whose calibrated scores are all zero becomes uniform), as NannyML does.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import optimize, special

__all__ = [
    "CalibrationMethod",
    "Calibrator",
    "brier_score",
    "calibrate",
    "expected_calibration_error",
    "fit_calibrator",
    "fit_isotonic",
    "fit_platt",
]

_EMPTY = np.empty(0, dtype=np.float64)


class CalibrationMethod(StrEnum):
    """How a calibrator maps scores to probabilities."""

    NONE = "none"
    ISOTONIC = "isotonic"
    PLATT = "platt"


@dataclass(frozen=True, slots=True, kw_only=True, eq=False)
class Calibrator:
    """A fitted score-to-probability map, with the evidence that chose it.

    ``method`` is what :meth:`apply` does; ``chosen`` is what cross-validation picked (they differ
    when calibration did not help). Isotonic keeps its knots (``knots_x`` ascending, ``knots_y``
    non-decreasing, interior points of flat steps dropped); Platt its ``slope`` and ``intercept``.
    Brier scores and ECEs are out-of-fold on the reference; an ECE is ``None`` when the raw scores
    are not probabilities.
    """

    method: CalibrationMethod
    chosen: CalibrationMethod
    knots_x: NDArray[np.float64] = field(default_factory=lambda: _EMPTY)
    knots_y: NDArray[np.float64] = field(default_factory=lambda: _EMPTY)
    slope: float = 0.0
    intercept: float = 0.0
    brier_isotonic: float | None = None
    brier_platt: float | None = None
    ece_raw: float | None = None
    ece_calibrated: float | None = None

    def apply(self, score: ArrayLike) -> NDArray[np.float64]:
        """Probabilities of the scores (NaN stays NaN)."""
        s = np.asarray(score, dtype=np.float64)
        if self.method is CalibrationMethod.ISOTONIC:
            out = np.interp(s, self.knots_x, self.knots_y)
            return np.where(np.isnan(s), np.nan, out)
        if self.method is CalibrationMethod.PLATT:
            return np.asarray(special.expit(self.slope * s + self.intercept), dtype=np.float64)
        return s.copy()

    @property
    def helps(self) -> bool:
        """Whether calibration is applied (``method`` is not ``none``)."""
        return self.method is not CalibrationMethod.NONE

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values (floats and lists); :meth:`from_dict` reverses it."""
        return {"method": str(self.method), "chosen": str(self.chosen), "knots_x": self.knots_x.tolist(),
                "knots_y": self.knots_y.tolist(), "slope": self.slope, "intercept": self.intercept,
                "brier_isotonic": self.brier_isotonic, "brier_platt": self.brier_platt,
                "ece_raw": self.ece_raw, "ece_calibrated": self.ece_calibrated}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Calibrator:
        return cls(method=CalibrationMethod(data["method"]), chosen=CalibrationMethod(data["chosen"]),
                   knots_x=np.asarray(data["knots_x"], dtype=np.float64),
                   knots_y=np.asarray(data["knots_y"], dtype=np.float64),
                   slope=float(data["slope"]), intercept=float(data["intercept"]),
                   brier_isotonic=data["brier_isotonic"], brier_platt=data["brier_platt"],
                   ece_raw=data["ece_raw"], ece_calibrated=data["ece_calibrated"])


def fit_isotonic(score: ArrayLike, outcome: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Knots of the increasing isotonic regression of ``outcome`` on ``score``.

    Tied scores are pooled first (their mean outcome, weighted by their count), as scikit-learn does.

    Examples
    --------
    >>> x, y = fit_isotonic([0.1, 0.2, 0.3, 0.4], [0, 1, 0, 1])
    >>> x.tolist(), y.tolist()
    ([0.1, 0.2, 0.3, 0.4], [0.0, 0.5, 0.5, 1.0])
    """
    s = np.asarray(score, dtype=np.float64)
    y = np.asarray(outcome, dtype=np.float64)
    xs, inverse, counts = np.unique(s, return_inverse=True, return_counts=True)
    means = np.bincount(inverse, weights=y, minlength=xs.size) / counts
    fitted = optimize.isotonic_regression(means, weights=counts.astype(np.float64), increasing=True).x
    # Keep the first and last knot of each flat step: linear interpolation gives the same function.
    change = np.diff(fitted) != 0.0
    keep = np.ones(xs.size, dtype=bool)
    keep[1:-1] = change[:-1] | change[1:]
    return xs[keep], np.asarray(fitted[keep], dtype=np.float64)


def fit_platt(score: ArrayLike, outcome: ArrayLike) -> tuple[float, float]:
    """Slope and intercept of the maximum-likelihood logistic regression of ``outcome`` on ``score``.

    Fitted on the standardised score by a trust-region Newton method (``scipy.optimize.minimize``,
    exact gradient and Hessian), then mapped back to the raw score's scale.

    Examples
    --------
    >>> a, b = fit_platt([0.0, 1.0, 2.0, 3.0], [0, 1, 0, 1])
    >>> round(a, 4), round(b, 4)
    (0.9082, -1.3623)
    """
    s = np.asarray(score, dtype=np.float64)
    y = np.asarray(outcome, dtype=np.float64)
    mean = float(s.mean())
    sd = float(s.std())
    rate = float(np.clip(y.mean(), 1e-12, 1.0 - 1e-12))
    if sd == 0.0:
        return 0.0, float(special.logit(rate))
    z = (s - mean) / sd

    def nll(theta: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        eta = theta[0] * z + theta[1]
        resid = special.expit(eta) - y
        value = float(np.mean(np.logaddexp(0.0, eta) - y * eta))
        return value, np.array([np.mean(resid * z), np.mean(resid)])

    def hess(theta: NDArray[np.float64]) -> NDArray[np.float64]:
        p = special.expit(theta[0] * z + theta[1])
        w = p * (1.0 - p)
        hzz, hz, h1 = float(np.mean(w * z * z)), float(np.mean(w * z)), float(np.mean(w))
        return np.array([[hzz, hz], [hz, h1]])

    start = np.array([0.0, float(special.logit(rate))])
    res = optimize.minimize(nll, start, jac=True, hess=hess, method="trust-exact", options={"gtol": 1e-10})
    a_z, b_z = float(res.x[0]), float(res.x[1])
    return a_z / sd, b_z - a_z * mean / sd


def brier_score(outcome: ArrayLike, prob: ArrayLike) -> float:
    """Mean squared difference between the 0/1 outcome and the probability."""
    return float(np.mean((np.asarray(prob, dtype=np.float64) - np.asarray(outcome, dtype=np.float64)) ** 2))


def expected_calibration_error(outcome: ArrayLike, prob: ArrayLike, *, bins: int = 10) -> float:
    """NannyML's ECE: rows sorted by probability, cut into ``bins`` equal-count bins, the weighted
    mean absolute gap between each bin's mean probability and its outcome rate.

    Bins hold ``n // bins`` rows, the last one the remainder (NannyML's ``_get_bin_index_edges``);
    with fewer than ``2 * bins`` rows there are ``n // 2`` bins.

    Examples
    --------
    >>> round(expected_calibration_error([0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9], bins=2), 12)
    0.15
    """
    p = np.asarray(prob, dtype=np.float64)
    y = np.asarray(outcome, dtype=np.float64)
    n = p.size
    if n <= 2 * bins:
        bins = n // 2
        if bins < 2:
            raise ValueError(f"the ECE needs at least 4 rows, got {n}")
    order = np.argsort(p, kind="stable")
    p, y = p[order], y[order]
    width = n // bins
    starts = np.arange(0, width * bins, width)
    gap = np.abs(np.add.reduceat(p, starts) - np.add.reduceat(y, starts))
    return float(np.sum(gap) / n)


def fit_calibrator(score: ArrayLike, outcome: ArrayLike, *, folds: int = 5, bins: int = 10,
                   rng: np.random.Generator | None = None) -> Calibrator:
    """Choose and fit a calibrator of ``score`` for the 0/1 ``outcome`` (see the module docstring).

    ``rng`` shuffles the rows into folds (default ``numpy.random.default_rng(0)``: the same data give
    the same calibrator).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> s = rng.uniform(size=2000)
    >>> c = fit_calibrator(s, rng.uniform(size=2000) < s ** 2)   # over-confident scores
    >>> c.helps, bool(c.ece_calibrated < c.ece_raw)
    (True, True)
    """
    s = np.asarray(score, dtype=np.float64)
    y = np.asarray(outcome, dtype=np.float64)
    if s.shape != y.shape or s.ndim != 1:
        raise ValueError(f"score {s.shape} and outcome {y.shape} must be 1-d of one length")
    if folds < 2:
        raise ValueError(f"folds ({folds}) must be at least 2")
    if s.size < 2 * folds:
        raise ValueError(f"calibration needs at least {2 * folds} rows, got {s.size}")
    rng = np.random.default_rng(0) if rng is None else rng
    fold = rng.permutation(s.size) % folds
    oof_iso = np.empty_like(s)
    oof_platt = np.empty_like(s)
    for k in range(folds):  # a handful of folds, each vectorised
        train, test = fold != k, fold == k
        xs, ys = fit_isotonic(s[train], y[train])
        oof_iso[test] = np.interp(s[test], xs, ys)
        a, b = fit_platt(s[train], y[train])
        oof_platt[test] = special.expit(a * s[test] + b)
    brier_iso, brier_platt = brier_score(y, oof_iso), brier_score(y, oof_platt)
    chosen = CalibrationMethod.ISOTONIC if brier_iso <= brier_platt else CalibrationMethod.PLATT
    oof = oof_iso if chosen is CalibrationMethod.ISOTONIC else oof_platt
    is_prob = bool(((s >= 0.0) & (s <= 1.0)).all())
    ece_raw = expected_calibration_error(y, s, bins=bins) if is_prob else None
    ece_cal = expected_calibration_error(y, oof, bins=bins)
    method = chosen if ece_raw is None or ece_raw > ece_cal else CalibrationMethod.NONE
    knots_x, knots_y = fit_isotonic(s, y) if method is CalibrationMethod.ISOTONIC else (_EMPTY, _EMPTY)
    slope, intercept = fit_platt(s, y) if method is CalibrationMethod.PLATT else (0.0, 0.0)
    return Calibrator(method=method, chosen=chosen, knots_x=knots_x, knots_y=knots_y, slope=slope,
                      intercept=intercept, brier_isotonic=brier_iso, brier_platt=brier_platt,
                      ece_raw=ece_raw, ece_calibrated=ece_cal)


def calibrate(calibrators: tuple[Calibrator, ...], scores: ArrayLike) -> NDArray[np.float64]:
    """Calibrated probabilities: binary ``(n,)`` with one calibrator; multiclass ``(n, k)`` with ``k``,
    each column calibrated one-vs-rest and every row renormalised (all zeros: uniform)."""
    s = np.asarray(scores, dtype=np.float64)
    if len(calibrators) == 1:
        return calibrators[0].apply(s.reshape(-1))
    if s.ndim != 2 or s.shape[1] != len(calibrators):
        raise ValueError(f"scores have shape {s.shape}; expected (n, {len(calibrators)})")
    cal = np.column_stack([c.apply(s[:, j]) for j, c in enumerate(calibrators)])
    total = cal.sum(axis=1, keepdims=True)
    uniform = np.full_like(cal, 1.0 / cal.shape[1])
    return np.asarray(np.divide(cal, total, out=uniform, where=total != 0.0), dtype=np.float64)
