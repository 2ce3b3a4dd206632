"""Closed sets and frozen results shared by every drift method.

One name per concept: a ``DriftMethod`` value is also the config key, the CLI's ``--method``
value, the JSON ``method`` field and the Prometheus ``method`` label.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = [
    "Metric",
    "Task",
    "CIRCULAR_METHODS",
    "ColumnType",
    "Compat",
    "DriftMethod",
    "DriftResult",
    "EMBEDDING_METHODS",
    "TEXT_METHODS",
    "P_VALUE_METHODS",
    "CATEGORICAL_METHODS",
    "NUMERICAL_METHODS",
    "distance_drifted",
    "p_value_drifted",
    "Rule",
]


class ColumnType(StrEnum):
    """How a column is tested."""

    NUMERICAL = "numerical"
    CATEGORICAL = "categorical"
    #: Angles, hours of the day, days of the year: values on a circle of a declared period.
    CIRCULAR = "circular"
    #: Free text (prompts, responses): declared, never inferred (monitor.stats.text).
    TEXT = "text"
    #: A fixed-length vector per row (an embedding): declared with its dimension (monitor.stats.embedding).
    EMBEDDING = "embedding"


class Compat(StrEnum):
    """Which verdict rule a check applies (docs/statistics.md, "Verdict rules").

    ``calibrated`` (the default) accounts for both window sizes: a threshold is the larger of
    a practical effect floor and the statistic's null quantile. ``evidently`` reproduces
    Evidently 0.7.23's method choice, fixed thresholds and rules exactly.
    """

    CALIBRATED = "calibrated"
    EVIDENTLY = "evidently"


class Rule(StrEnum):
    """The rule that produced a column's verdict (stored with the result)."""

    #: p-value tests: ``p < alpha`` and effect >= floor; distances: above the null quantile and the floor.
    CALIBRATED = "calibrated"
    #: Evidently 0.7.23's fixed threshold and comparison.
    EVIDENTLY = "evidently"


class DriftMethod(StrEnum):
    """Every drift test or distance Driftline implements."""

    # numerical, on the raw values
    KS = "ks"
    WASSERSTEIN = "wasserstein"
    ENERGY_DISTANCE = "energy_distance"
    CRAMER_VON_MISES = "cramer_von_mises"
    ANDERSON = "anderson"
    T_TEST = "t_test"
    MANN_WHITNEY = "mann_whitney"
    EPPS_SINGLETON = "epps_singleton"
    # on counts: categories, or histogram bins of a numerical column
    PSI = "psi"
    JENSEN_SHANNON = "jensen_shannon"
    KL_DIV = "kl_div"
    HELLINGER = "hellinger"
    # categorical only
    CHI_SQUARE = "chi_square"
    Z_TEST = "z_test"
    FISHER_EXACT = "fisher_exact"
    G_TEST = "g_test"
    TVD = "tvd"
    L_INFINITY = "l_infinity"
    # circular (rotation-invariant), also valid on a line
    KUIPER = "kuiper"
    # whole-column tests of text and embedding columns (monitor.stats.text, monitor.stats.embedding),
    # not two-sample functions of monitor.stats.drift: appended, so the earlier members keep their index
    TEXT_DOMAIN_CLASSIFIER = "text_domain_classifier"
    TEXT_LENGTH = "text_length"
    OOV_SHARE = "oov_share"
    NON_LETTER_SHARE = "non_letter_share"
    EMBEDDING_MMD = "embedding_mmd"
    EMBEDDING_CLASSIFIER = "embedding_classifier"


#: Methods whose verdict comes from a p-value (the others are distances with a threshold).
P_VALUE_METHODS: frozenset[DriftMethod] = frozenset(
    {
        DriftMethod.KS,
        DriftMethod.CRAMER_VON_MISES,
        DriftMethod.ANDERSON,
        DriftMethod.T_TEST,
        DriftMethod.MANN_WHITNEY,
        DriftMethod.EPPS_SINGLETON,
        DriftMethod.CHI_SQUARE,
        DriftMethod.Z_TEST,
        DriftMethod.FISHER_EXACT,
        DriftMethod.G_TEST,
        DriftMethod.KUIPER,
    }
)

_HISTOGRAM = {DriftMethod.PSI, DriftMethod.JENSEN_SHANNON, DriftMethod.KL_DIV, DriftMethod.HELLINGER}

#: Methods that accept a numerical column (histogram methods bin it first).
NUMERICAL_METHODS: frozenset[DriftMethod] = frozenset(
    {
        DriftMethod.KS,
        DriftMethod.WASSERSTEIN,
        DriftMethod.ENERGY_DISTANCE,
        DriftMethod.CRAMER_VON_MISES,
        DriftMethod.ANDERSON,
        DriftMethod.T_TEST,
        DriftMethod.MANN_WHITNEY,
        DriftMethod.EPPS_SINGLETON,
        DriftMethod.KUIPER,
        *_HISTOGRAM,
    }
)

#: Methods that accept a circular column: only rotation-invariant ones (the origin is arbitrary).
CIRCULAR_METHODS: frozenset[DriftMethod] = frozenset({DriftMethod.KUIPER})

#: The methods of a text column: the domain classifier decides (it is the one counted), the others describe.
TEXT_METHODS: frozenset[DriftMethod] = frozenset(
    {DriftMethod.TEXT_DOMAIN_CLASSIFIER, DriftMethod.TEXT_LENGTH, DriftMethod.OOV_SHARE, DriftMethod.NON_LETTER_SHARE}
)

#: The methods of an embedding column (one is chosen; ``embedding_mmd`` by default).
EMBEDDING_METHODS: frozenset[DriftMethod] = frozenset({DriftMethod.EMBEDDING_MMD, DriftMethod.EMBEDDING_CLASSIFIER})

#: Methods that accept a categorical column (all work on aligned category counts).
CATEGORICAL_METHODS: frozenset[DriftMethod] = frozenset(
    {
        DriftMethod.CHI_SQUARE,
        DriftMethod.Z_TEST,
        DriftMethod.FISHER_EXACT,
        DriftMethod.G_TEST,
        DriftMethod.TVD,
        DriftMethod.L_INFINITY,
        *_HISTOGRAM,
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class DriftResult:
    """The outcome of one drift method on one pair of samples.

    ``statistic`` is the test statistic or the distance; ``p_value`` is ``None`` for distances.
    ``drifted`` applies the method's documented rule (see docs/statistics.md) to ``threshold``.
    """

    method: DriftMethod
    statistic: float
    p_value: float | None
    threshold: float
    drifted: bool
    n_reference: int
    n_current: int


#: P-value methods whose verdict is ``p <= alpha`` (Evidently's rule); the others use ``p < alpha``.
_INCLUSIVE = frozenset({DriftMethod.KS, DriftMethod.CRAMER_VON_MISES})


def p_value_drifted(method: DriftMethod, p_value: float, alpha: float) -> bool:
    """The verdict of a p-value test: ``p <= alpha`` for ks and cramer_von_mises, else ``p < alpha``.

    The split copies Evidently's rules so that verdicts agree at the boundary.

    Examples
    --------
    >>> p_value_drifted(DriftMethod.KS, 0.05, 0.05), p_value_drifted(DriftMethod.T_TEST, 0.05, 0.05)
    (True, False)
    """
    return p_value <= alpha if method in _INCLUSIVE else p_value < alpha


def distance_drifted(method: DriftMethod, statistic: float, threshold: float) -> bool:
    """The verdict of a distance: ``>`` for energy_distance, ``>=`` for the others (Evidently's rules)."""
    return statistic > threshold if method is DriftMethod.ENERGY_DISTANCE else statistic >= threshold


class Task(StrEnum):
    """What the model predicts."""

    CLASSIFICATION = "classification"
    REGRESSION = "regression"


class Metric(StrEnum):
    """Every performance metric Driftline reports; also the key in ``metrics``."""

    ACCURACY = "accuracy"
    #: Mean recall over the classes: unlike accuracy it does not move with prevalence alone.
    BALANCED_ACCURACY = "balanced_accuracy"
    PRECISION = "precision"
    RECALL = "recall"
    F1 = "f1"
    ROC_AUC = "roc_auc"
    LOG_LOSS = "log_loss"
    ERROR_RATE = "error_rate"
    MAE = "mae"
    RMSE = "rmse"
    MAPE = "mape"
    R2 = "r2"
    BIAS = "bias"
