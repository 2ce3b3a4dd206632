"""Configuration: deployment settings from ``DRIFTLINE_*`` and monitors from ``driftline.yaml``.

The YAML file is composed node by node (``yaml.compose``) so every value keeps its line, then
validated by frozen pydantic models that forbid unknown keys; every error is reported as
``driftline.yaml:7 monitors.0.window.last: <what is wrong>``, in Driftline's words
(:mod:`monitor.config_errors`). URLs may reference environment variables, ``${PGPASSWORD}``
(:mod:`monitor._env`). The models' descriptions become the JSON Schema of the file
(:mod:`monitor.config_schema`, ``driftline config-schema``).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from monitor import _yaml, domain
from monitor._env import substitute_env
from monitor.config_errors import format_errors
from monitor.errors import ConfigError, ConfigErrors  # ConfigErrors: importable from here too
from monitor.stats.check import ColumnOptions
from monitor.stats.concept import Detector
from monitor.stats.concept_state import RowBucket
from monitor.stats.correction import Correction
from monitor.stats.embedding import MAX_DIM
from monitor.stats.multivariate.types import MultivariateMethod
from monitor.stats.performance import Task
from monitor.stats.types import (
    CATEGORICAL_METHODS,
    EMBEDDING_METHODS,
    NUMERICAL_METHODS,
    P_VALUE_METHODS,
    Compat,
    DriftMethod,
)

__all__ = [
    "ConfigErrors",
    "FileSource",
    "MonitorConfig",
    "Settings",
    "SqlSource",
    "StoreSource",
    "parse_duration",
    "load_config",
]

_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d|w)$")
_UNITS = {"ms": "milliseconds", "s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """A Prometheus-style duration (``30s``, ``15m``, ``1h``, ``7d``) as a ``timedelta``.

    Examples
    --------
    >>> parse_duration("15m")
    datetime.timedelta(seconds=900)
    """
    m = _DURATION.match(text.strip()) if isinstance(text, str) else None
    if not m or int(m[1]) == 0:
        raise ValueError(f"{text!r} is not a duration like 30s, 15m, 1h or 7d")
    return timedelta(**{_UNITS[m[2]]: int(m[1])})


def _valid_duration(text: str) -> str:
    parse_duration(text)
    return text


#: A duration as written in the file; checked here once, turned into a ``timedelta`` by ``to_domain()``.
Duration = Annotated[str, AfterValidator(_valid_duration),
                     Field(description="a Prometheus-style duration: 500ms, 30s, 15m, 1h, 7d, 2w",
                           json_schema_extra={"pattern": r"^\s*0*[1-9][0-9]*(ms|s|m|h|d|w)\s*$"})]
#: The names of monitors, models, webhook targets and alert rules.
NAME_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"


def _sqlalchemy_url(url: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        make_url(url)
    except (ArgumentError, ValueError):  # never echo the URL: it may hold a substituted password
        raise ValueError("not a SQLAlchemy URL such as postgresql+psycopg://user:${PGPASSWORD}@host/database") from None
    return url


def _http_url(url: str) -> str:
    if not re.match(r"^https?://", url):
        raise ValueError("must start with http:// or https://")
    return url


#: A URL that may carry credentials: ``${VAR}`` substituted from the environment, never echoed in errors.
SqlUrl = Annotated[str, BeforeValidator(substitute_env), AfterValidator(_sqlalchemy_url),
                   Field(repr=False, description="a SQLAlchemy URL, dialect+driver://user:password@host/database; "
                                                 "${VAR} and ${VAR:-default} are read from the environment")]
HttpUrl = Annotated[str, BeforeValidator(substitute_env), AfterValidator(_http_url),
                    Field(repr=False, json_schema_extra={"pattern": r"^(https?://|\$\{)"},
                          description="http:// or https:// URL; ${VAR} and ${VAR:-default} are read from the environment")]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PValueOptions(_Frozen):
    """A p-value test for one feature, with its significance level."""

    method: Literal[tuple(m.value for m in DriftMethod if m in P_VALUE_METHODS)] = Field(  # type: ignore[valid-type]
        description="a p-value test; it takes alpha (a distance takes threshold)")
    alpha: float = Field(0.05, gt=0, lt=1, description="drift when the p-value is below alpha")
    effect_floor: float | None = Field(None, ge=0, description="compat calibrated: the smallest effect that alarms "
                                                               "(default: the method's floor)")


class DistanceOptions(_Frozen):
    """A distance for one feature, with its threshold."""

    method: Literal[tuple(m.value for m in DriftMethod if m not in P_VALUE_METHODS)] = Field(  # type: ignore[valid-type]
        description="a distance; it takes threshold (a p-value test takes alpha)")
    threshold: float = Field(0.1, ge=0, description="drift when the distance reaches it (compat calibrated: the "
                                                    "effect floor, the null quantile at alpha must be exceeded too)")
    alpha: float | None = Field(None, gt=0, lt=1, description="compat calibrated only: level of the null quantile "
                                                              "(default 0.05); refused under compat evidently")


FeatureOptions = Annotated[PValueOptions | DistanceOptions, Field(discriminator="method")]


class Schema(_Frozen):
    """Which columns of the prediction log play which role."""

    prediction_id: str = Field("prediction_id", description="unique id of a prediction; labels join on it")
    timestamp: str = Field("timestamp", description="when the prediction was made; windows select rows by it")
    prediction: str = Field("prediction", description="the model's output: a class or a number")
    prediction_score: str | None = Field(None, description="optional numeric score or probability (roc_auc, log_loss)")
    target: str | None = Field("label", description="the label column; null: no labels, no performance")
    numerical: tuple[str, ...] = Field((), description="numerical features")
    categorical: tuple[str, ...] = Field((), description="categorical features (integer codes too)")
    text: tuple[str, ...] = Field((), description="free-text features (prompts, responses): drift of their lengths, "
                                  "vocabulary and a TF-IDF classifier (docs/statistics.md)")
    embedding: dict[str, int] = Field(default_factory=dict, description="embedding features: column -> vector length "
                                      "(dim); JSON arrays or Parquet lists, drift by MMD on a PCA of the reference")
    task: Task = Field(Task.CLASSIFICATION, description="classification or regression")

    @model_validator(mode="after")
    def _distinct(self) -> Schema:
        names = [self.prediction_id, self.timestamp, self.prediction, *([self.target] if self.target else []),
                 *([self.prediction_score] if self.prediction_score else []),
                 *self.numerical, *self.categorical, *self.text, *self.embedding]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"column {dup[0]!r} is listed twice")
        if not self.numerical and not self.categorical and not self.text and not self.embedding:
            raise ValueError("declare at least one numerical, categorical, text or embedding feature")
        for name, dim in self.embedding.items():
            if not 1 <= dim <= MAX_DIM:
                raise ValueError(f"embedding {name!r}: dim {dim} is not between 1 and {MAX_DIM}")
        return self

    @property
    def features(self) -> tuple[str, ...]:
        """Feature columns in declaration order, numerical first, then categorical, text, embedding."""
        return (*self.numerical, *self.categorical, *self.text, *self.embedding)


class StoreSource(_Frozen):
    """Predictions posted to Driftline's own ingest API."""

    type: Literal["store"] = Field("store", description="predictions posted to POST /v1/models/{model}/predictions")


class Pushdown(_Frozen):
    """The window's statistics computed by the source's engine (docs/scaling.md); ``true`` takes the defaults."""

    grid: int = Field(1024, ge=16, le=8192, description="grid cells per numerical column: KS is bounded to "
                                                        "about 1/grid, Wasserstein tighter")
    max_rows: int = Field(200_000, ge=0, description="rows read back for columns the aggregates cannot decide; "
                                                     "above it a seeded uniform sample of this many")


def _pushdown(value: object) -> object:
    """``pushdown: true`` is ``pushdown: {}``; ``false`` (the default) is no pushdown."""
    if value is True:
        return Pushdown()
    return None if value is False else value


PushdownField = Annotated[Pushdown | None, BeforeValidator(_pushdown)]


class SqlSource(_Frozen):
    """A table in any SQLAlchemy database; the time filter is pushed down into SQL."""

    type: Literal["sql"] = Field(description="a table in any SQLAlchemy database")
    url: SqlUrl
    table: str = Field(description="the table (or view) name")
    columns: dict[str, str] = Field(default_factory=dict, description="our column name (as in schema) -> the table's")
    pushdown: PushdownField = Field(None, description="compute the drift statistics in the database: true, or "
                                                      "{grid, max_rows}")


class FileSource(_Frozen):
    """Parquet or CSV files matching a glob."""

    type: Literal["files"] = Field(description="Parquet or CSV files matching a glob")
    path: str = Field(description="a glob: /data/predictions-*.parquet (** is not recursive)")
    pushdown: PushdownField = Field(None, description="aggregate the files with DuckDB (the duckdb extra), out "
                                                      "of core: true, or {grid, max_rows}")


Source = Annotated[StoreSource | SqlSource | FileSource, Field(discriminator="type")]


class FileReference(_Frozen):
    """A Parquet or CSV file read when the service starts."""

    type: Literal["file"] = Field(description="a Parquet or CSV file")
    path: str = Field(description="the reference file (.parquet, .pq or .csv)")


class StoreReference(_Frozen):
    """A time range of the monitor's own prediction log."""

    type: Literal["store"] = Field(description="a time range of the monitor's own prediction log")
    start: str = Field(alias="from", description="ISO 8601 start (included); no offset: UTC")
    end: str = Field(alias="to", description="ISO 8601 end (excluded); no offset: UTC")

    @field_validator("start", "end")
    @classmethod
    def _instant(cls, v: str) -> str:
        _utc(v)
        return v


class UploadReference(_Frozen):
    """Uploaded later through ``POST /v1/monitors/{name}/reference``."""

    type: Literal["upload"] = Field("upload", description="uploaded through POST /v1/monitors/{name}/reference")


class PreviousWindowReference(_Frozen):
    """The window just before the current one (as long), read from the monitor's source every run."""

    type: Literal["previous_window"] = Field(description="the window just before the current one")


class RollingReference(_Frozen):
    """The ``last`` period before the window, read from the monitor's source."""

    type: Literal["rolling"] = Field(description="the period before the window")
    last: Duration = Field(description="how far back the reference reaches from the window's start (e.g. 30d)")
    refit: Duration | None = Field(None, description="read and fit the reference at most once per this period: its "
                                                     "end is the window's start floored to it (default: each run)")


class SamePeriodReference(_Frozen):
    """The same window one, two, ... ``periods`` times ``every`` earlier (this hour of the week in the last 4 weeks)."""

    type: Literal["same_period"] = Field(description="the same window in earlier seasons, taken together")
    every: Duration = Field(description="the season's length: 1d (same hours of the day), 1w (of the week); at least "
                                        "the window's length")
    periods: int = Field(ge=1, le=520, description="how many earlier seasons (at least 1)")


Reference = Annotated[FileReference | StoreReference | UploadReference | PreviousWindowReference | RollingReference
                      | SamePeriodReference, Field(discriminator="type")]


class Window(_Frozen):
    """The current window: the last period of time (``last: 1h``) or the last N rows."""

    last: Duration | None = Field(None, description="the window is [end - last, end); exactly one of last and rows")
    rows: int | None = Field(None, gt=0, description="the last N rows; exactly one of last and rows")

    @model_validator(mode="after")
    def _one(self) -> Window:
        if (self.last is None) == (self.rows is None):
            raise ValueError("give exactly one of 'last' (a duration) and 'rows'")
        return self


_ROWS = re.compile(r"^\s*0*([1-9][0-9]*)\s+rows?\s*$")


def parse_bucket(text: str) -> timedelta | RowBucket:
    """A concept-drift bucket: a duration (``1h``) or a count of labelled rows (``500 rows``).

    >>> parse_bucket("500 rows"), parse_bucket("15m")
    (RowBucket(rows=500), datetime.timedelta(seconds=900))
    """
    m = _ROWS.match(text) if isinstance(text, str) else None
    if m:
        return RowBucket(int(m[1]))
    try:
        return parse_duration(text)
    except ValueError:
        raise ValueError(f"{text!r} is neither a duration like 1h or 15m nor a row count like 500 rows") from None


def _valid_bucket(text: str) -> str:
    parse_bucket(text)
    return text


ConceptBucket = Annotated[str, AfterValidator(_valid_bucket),
                          Field(json_schema_extra={"pattern": r"^\s*0*[1-9][0-9]*((ms|s|m|h|d|w)|\s+rows?)\s*$"})]


class PerformanceConfig(_Frozen):
    """Performance and concept drift on rows whose labels have arrived."""

    alpha: float = Field(0.05, gt=0, lt=1, description="level of the one-sided degradation test")
    bucket: ConceptBucket = Field("1h", description="concept drift: a duration (1h) or a number of labelled rows "
                                  "(500 rows); the resolution of change points, the unit river detectors average")
    detector: Detector = Field(Detector.CUSUM, description="the change detector of concept drift (state kept "
                               "across runs); cusum is traffic-invariant, the others are river's on bucket means")
    label_lookback: Duration = Field("24h", description="late labels recompute the runs this far back")
    min_labels: int = Field(30, ge=1, description="fewer labelled rows: no performance, no concept verdict")
    estimate: Literal["cbpe", "dle", "none"] | None = Field(
        None, description="performance estimated before the labels arrive: cbpe (classification with "
        "prediction_score), dle (regression, needs the estimate extra), none; default: cbpe for a classifier "
        "with a prediction_score, else none")


def _estimate_problems(m: MonitorConfig) -> list[str]:
    """performance.estimate against the task, and the rules that read estimates (``performance_estimated_below``)."""
    from monitor.stats.estimation.types import CLASSIFICATION_METRICS, REGRESSION_METRICS

    s, configured = m.schema_, m.performance.estimate
    method = domain.estimate_method(s.task, s.prediction_score, s.target,
                                    None if configured is None else domain.EstimateMethod(configured))
    problems = []
    if configured == "cbpe" and (s.task is not Task.CLASSIFICATION or not s.prediction_score):
        problems.append("performance.estimate: cbpe needs task classification and schema.prediction_score")
    if configured == "dle":
        import importlib.util

        if s.task is not Task.REGRESSION:
            problems.append("performance.estimate: dle estimates regression; use cbpe for classification")
        elif importlib.util.find_spec("sklearn") is None:
            problems.append("performance.estimate: dle needs scikit-learn: pip install 'driftline[estimate]'")
    metrics = {"cbpe": CLASSIFICATION_METRICS, "dle": REGRESSION_METRICS}.get(str(method), ())
    for i, rule in enumerate(m.alerts):
        if rule.when == "performance_estimated_below" and rule.metric not in {str(x) for x in metrics}:
            names = ", ".join(str(x) for x in metrics) or "none: the monitor estimates no performance"
            problems.append(f"alerts.{i}.metric: {rule.metric!r} is not estimated by this monitor ({method}); "
                            f"estimated: {names}")
    return problems


class WebhookTarget(_Frozen):
    """Where alert events and retraining triggers are POSTed (signed when a secret is set)."""

    name: str = Field(pattern=NAME_PATTERN, description="referenced by alerts[].webhooks and retrain.action.webhook")
    url: HttpUrl
    secret_env: str | None = Field(None, description="environment variable holding the HMAC secret; unset: unsigned")
    timeout: Duration = Field("5s", description="per attempt")
    max_attempts: int = Field(8, ge=1, le=100, description="then the delivery becomes a dead letter")
    backoff: Duration = Field("2s", description="delay before the second attempt, doubled after each failure")
    backoff_max: Duration = Field("5m", description="the cap of the backoff")


class AlertRule(_Frozen):
    """An alert evaluated inside the service after every run (for users without Alertmanager)."""

    name: str = Field(pattern=NAME_PATTERN, description="the rule's name (retrain.on may name it)")
    when: Literal["dataset_drift", "feature_drift", "performance_below", "performance_drop", "concept_drift",
                  "multivariate_drift",
                  "segment_drift", "performance_estimated_below"] = Field(
        description="the condition checked after each run")
    features: tuple[str, ...] = Field((), description="feature_drift: the features to watch (empty: any)")
    metric: str | None = Field(None, description="performance_below, performance_drop: a metric name (accuracy, f1 ...)")
    floor: float | None = Field(None, description="performance_below: holds when the metric is below floor; "
                                "performance_estimated_below: when its estimate is (before the labels arrive)")
    max_drop: float | None = Field(None, ge=0, description="performance_drop: holds when reference - value > max_drop")
    runs: int = Field(1, ge=1, description="fires when the condition held in `runs` of the last `of` runs")
    of: int = Field(1, ge=1, description="see runs")
    webhooks: tuple[str, ...] = Field((), description="declared webhook targets the event is sent to")

    @model_validator(mode="after")
    def _fields(self) -> AlertRule:
        if self.runs > self.of:
            raise ValueError(f"runs ({self.runs}) cannot exceed of ({self.of})")
        if self.when == "performance_below" and (self.metric is None or self.floor is None):
            raise ValueError("performance_below needs 'metric' and 'floor'")
        if self.when == "performance_estimated_below" and (self.metric is None or self.floor is None):
            raise ValueError("performance_estimated_below needs 'metric' and 'floor'")
        if self.when == "performance_drop" and (self.metric is None or self.max_drop is None):
            raise ValueError("performance_drop needs 'metric' and 'max_drop'")
        return self


class HttpAction(_Frozen):
    """Start retraining with a generic JSON POST (through the durable outbox)."""

    type: Literal["http"] = Field(description="a JSON POST through the outbox")
    webhook: str = Field(description="a declared webhook target")


class CommandAction(_Frozen):
    """Start retraining by running a local command (argv, no shell); the job id is appended."""

    type: Literal["command"] = Field(description="a local command, no shell")
    argv: tuple[str, ...] = Field(min_length=1, description="the command and its arguments; the job id is appended")


class RetrainPolicy(_Frozen):
    """Which alerts start retraining, how often at most, and how."""

    on: tuple[str, ...] = Field(min_length=1, description="in-service rule names or Alertmanager alertnames")
    cooldown: Duration = Field("6h", description="no new job while one started less than this long ago")
    max_per_day: int = Field(3, ge=1, description="at most this many jobs per monitor in any 24 hours")
    dry_run: bool = Field(False, description="record the jobs that would start, start nothing")
    action: Annotated[HttpAction | CommandAction, Field(discriminator="type", description="how a job starts")]


class Retention(_Frozen):
    """How long stored data is kept; a key left out keeps that data forever."""

    predictions: Duration | None = Field(None, description="prediction log rows (with their labels) older than this, "
                                                            "by timestamp, are deleted; monitors sharing a model keep "
                                                            "the longest")
    runs: Duration | None = Field(None, description="runs (with their results) whose window ended longer ago than "
                                                     "this are deleted")


def _pushdown_problems(m: MonitorConfig) -> list[str]:
    """pushdown: what needs the window's rows of every feature cannot run on its aggregates."""
    if getattr(m.source, "pushdown", None) is None:
        return []
    problems = []
    if m.multivariate:
        problems.append("source.pushdown: multivariate tests need every feature's rows; drop one of the two")
    if m.segments:
        problems.append("source.pushdown: segments need every feature's rows; drop one of the two")
    if isinstance(m.reference, PreviousWindowReference | RollingReference | SamePeriodReference):
        problems.append(f"source.pushdown: a {m.reference.type} reference is fitted from the source's rows; "
                        "pushdown needs a fixed reference (file, store or upload)")
    if m.schema_.text or m.schema_.embedding:
        problems.append("source.pushdown: text and embedding features have no aggregates; they need rows")
    if m.performance.estimate == "dle":
        problems.append("source.pushdown: dle estimates from every feature's rows; use cbpe or drop pushdown")
    if isinstance(m.source, FileSource):
        from importlib.util import find_spec

        if find_spec("duckdb_engine") is None:
            problems.append("source.pushdown: files are aggregated by DuckDB: pip install 'driftline[duckdb]'")
    return problems


def _multivariate_problems(m: MonitorConfig) -> list[str]:
    """multivariate: the features it needs, scikit-learn for the classifier, and rules that read it."""
    problems = []
    if m.multivariate and not (m.schema_.numerical or m.schema_.categorical):
        problems.append("multivariate: needs at least one numerical or categorical feature in the schema")
    if MultivariateMethod.DOMAIN_CLASSIFIER in m.multivariate:
        import importlib.util

        if importlib.util.find_spec("sklearn") is None:
            problems.append("multivariate: domain_classifier needs scikit-learn: pip install 'driftline[multivariate]'")
    for i, rule in enumerate(m.alerts):
        if rule.when == "multivariate_drift" and not m.multivariate:
            problems.append(f"alerts.{i}.when: multivariate_drift needs the monitor's multivariate: methods "
                            "(e.g. multivariate: [pca_reconstruction])")
    return problems


class MonitorConfig(_Frozen):
    """One monitor: a model's prediction log compared with its reference on a schedule."""

    name: str = Field(pattern=NAME_PATTERN, description="unique; used in URLs and metric labels")
    model: str = Field(pattern=NAME_PATTERN, description="the model whose predictions are monitored")
    schema_: Schema = Field(alias="schema", description="which columns of the prediction log play which role")
    source: Source = Field(StoreSource(), description="where the predictions come from: store, sql or files")
    reference: Reference = Field(UploadReference(), description="what the window is compared with: upload, file, store, "
                                    "previous_window, rolling or same_period")
    every: Duration | None = Field(None, description="run on a fixed period; exactly one of every and cron")
    cron: str | None = Field(None, description="run on a five-field crontab expression in UTC; exactly one of every "
                                               "and cron")
    window: Window = Field(Window(last="1h"), description="which rows a run reads: {last: 1h} or {rows: 10000}")
    min_rows: int = Field(100, ge=1, description="fewer rows: the run is insufficient_data, no verdict")
    drift_share: float = Field(0.5, gt=0, le=1, description="dataset drift when at least this share of features drifted")
    correction: Correction = Field(Correction.NONE, description="p-value correction across the columns of one run")
    compat: Compat = Field(Compat.CALIBRATED, description="calibrated (default) or evidently (Evidently 0.7.23's verdicts)")
    fdr: bool = Field(False, description="Benjamini-Hochberg across the features before the dataset verdict")
    min_features: int = Field(1, ge=1, description="tested features the dataset verdict needs")
    features: dict[str, FeatureOptions] = Field(default_factory=dict, description="per-feature method and threshold; "
                                                "the others get the automatic choice")
    performance: PerformanceConfig = Field(PerformanceConfig(), description="performance and concept drift on "
                                                                             "labelled rows")
    alerts: tuple[AlertRule, ...] = Field((), description="rules evaluated in the service after each run")
    retrain: RetrainPolicy | None = Field(None, description="which alerts start retraining, and how")
    retention: Retention | None = Field(None, description="this monitor's retention, key by key over the top-level one")
    multivariate: tuple[MultivariateMethod, ...] = Field((), description="tests of the features' joint distribution "
                                                         "run beside the per-column ones: pca_reconstruction, "
                                                         "domain_classifier (needs the multivariate extra), mmd")
    segments: tuple[str | tuple[str, ...], ...] = Field((), description="categorical features (or explicit "
                                                        "combinations, [country, device]) whose values are tested apart")
    segment_min_rows: int = Field(200, ge=1, description="a segment value is tested with at least this many rows in "
                                                         "the window and in the reference")
    segment_top_k: int = Field(5, ge=1, le=100, description="segment values stored and exported per segment (most "
                                                            "drifted first), plus one 'other' aggregate")

    @field_validator("cron")
    @classmethod
    def _cron(cls, v: str | None) -> str | None:
        if v is not None:
            from apscheduler.triggers.cron import CronTrigger

            try:
                CronTrigger.from_crontab(v)
            except ValueError as exc:
                raise ValueError(f"{v!r} is not a crontab expression: {exc}") from None
        return v

    @model_validator(mode="after")
    def _check(self) -> MonitorConfig:
        if (self.every is None) == (self.cron is None):
            raise ValueError("give exactly one of 'every' and 'cron'")
        # Every problem of the features at once, one per line, each led by its key path: load_config
        # reports each line at the line of that key (FILE:LINE monitors.0.features.plan.method: ...).
        problems = _reference_problems(self.reference, self.window)
        problems += _multivariate_problems(self)
        problems += _segment_problems(self.segments, self.schema_.categorical)
        problems += _estimate_problems(self)
        problems += _pushdown_problems(self)
        allowed = {**dict.fromkeys(self.schema_.numerical, ("numerical", NUMERICAL_METHODS)),
                   **dict.fromkeys(self.schema_.categorical, ("categorical", CATEGORICAL_METHODS)),
                   **dict.fromkeys(self.schema_.text, ("text", frozenset({DriftMethod.TEXT_DOMAIN_CLASSIFIER}))),
                   **dict.fromkeys(self.schema_.embedding, ("embedding", EMBEDDING_METHODS))}
        for name, opt in self.features.items():
            if name not in allowed:
                problems.append(f"features.{name}: {name!r} is not a feature of the schema")
                continue
            kind, methods = allowed[name]
            if DriftMethod(opt.method) not in methods:
                names = ", ".join(sorted(m.value for m in methods))
                problems.append(f"features.{name}.method: {opt.method} does not apply to {kind} feature "
                                f"{name!r}; use one of: {names}")
            if self.compat is Compat.EVIDENTLY:
                # Keys the evidently rule would ignore are refused, not silently dropped (method -> parameter).
                if isinstance(opt, DistanceOptions) and opt.alpha is not None:
                    problems.append(f"features.{name}.alpha: {opt.method} is a distance: under compat evidently it "
                                    "takes threshold, not alpha (did you mean 'threshold'?)")
                if isinstance(opt, PValueOptions) and opt.effect_floor is not None:
                    problems.append(f"features.{name}.effect_floor: effect_floor applies under compat calibrated "
                                    f"only; under compat evidently {opt.method} takes alpha only")
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def to_domain(self) -> domain.Monitor:
        """This monitor as the run sees it: durations as ``timedelta``, options as the core's types."""
        s, perf = self.schema_, self.performance
        return domain.Monitor(
            name=self.name, model=self.model,
            schema=domain.Schema(prediction_id=s.prediction_id, timestamp=s.timestamp, prediction=s.prediction,
                                 prediction_score=s.prediction_score, target=s.target, numerical=s.numerical,
                                 categorical=s.categorical, task=s.task, text=s.text,
                                 embedding=tuple(s.embedding.items())),
            source=_source(self.source), reference=_reference(self.reference),
            schedule=domain.Schedule(every=_opt_duration(self.every), cron=self.cron),
            window=domain.WindowDef(last=_opt_duration(self.window.last), rows=self.window.rows),
            min_rows=self.min_rows, drift_share=self.drift_share, correction=self.correction,
            compat=self.compat, fdr=self.fdr, min_features=self.min_features,
            columns={name: _column_options(opt) for name, opt in self.features.items()},
            performance=domain.PerformanceSpec(alpha=perf.alpha, bucket=parse_bucket(perf.bucket),
                                               detector=perf.detector,
                                               label_lookback=parse_duration(perf.label_lookback),
                                               min_labels=perf.min_labels,
                                               estimate=None if perf.estimate is None
                                               else domain.EstimateMethod(perf.estimate)),
            alerts=tuple(_rule(r) for r in self.alerts), retrain=_retrain(self.retrain),
            multivariate=tuple(dict.fromkeys(self.multivariate)),
            segments=tuple((g,) if isinstance(g, str) else tuple(g) for g in self.segments),
            segment_min_rows=self.segment_min_rows, segment_top_k=self.segment_top_k,
        )


class DriftlineConfig(_Frozen):
    """The whole ``driftline.yaml``."""

    monitors: tuple[MonitorConfig, ...] = Field(description="what to monitor; at least one")
    webhooks: tuple[WebhookTarget, ...] = Field((), description="where alert events and HTTP retraining triggers "
                                                                "are POSTed")
    retention: Retention = Field(Retention(), description="how long predictions and runs are kept (default: forever); "
                                                          "a monitor's own retention overrides it key by key")

    @model_validator(mode="after")
    def _unique(self) -> DriftlineConfig:
        if not self.monitors:
            raise ValueError("'monitors' is empty; declare at least one monitor")
        targets = {w.name for w in self.webhooks}
        for i, m in enumerate(self.monitors):
            for rule in m.alerts:
                for name in rule.webhooks:
                    if name not in targets:
                        raise ValueError(f"monitors.{i}.alerts.{rule.name}: webhook {name!r} is not declared")
            if m.retrain is not None and isinstance(m.retrain.action, HttpAction) \
                    and m.retrain.action.webhook not in targets:
                raise ValueError(f"monitors.{i}.retrain.action: webhook {m.retrain.action.webhook!r} is not declared")
        names = [m.name for m in self.monitors]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"monitor name {dup[0]!r} is used twice")
        problems = [p for i, m in enumerate(self.monitors) for p in _retention_problems(i, m, self.retention)]
        if problems:
            raise ValueError("\n".join(problems))
        return self

    def monitor(self, name: str) -> MonitorConfig:
        """The monitor called ``name``; ``UnknownMonitor`` if there is none."""
        from monitor.errors import UnknownMonitor

        for m in self.monitors:
            if m.name == name:
                return m
        raise UnknownMonitor(name)

    def to_domain(self) -> domain.Catalog:
        """The deployment as the service speaks it (durations parsed, options typed)."""
        return domain.Catalog(monitors=tuple(replace(m.to_domain(), retention=_retention(m, self.retention))
                                             for m in self.monitors),
                              webhooks=tuple(_webhook(w) for w in self.webhooks))


def _retention(m: MonitorConfig, default: Retention) -> domain.Retention:
    """A monitor's retention: its own keys over the top-level ones."""
    own = m.retention or Retention()
    predictions, runs = own.predictions or default.predictions, own.runs or default.runs
    return domain.Retention(predictions=_opt_duration(predictions), runs=_opt_duration(runs))


def _retention_problems(i: int, m: MonitorConfig, default: Retention) -> list[str]:
    """Retention that would delete what the monitor still reads: its window, or rows late labels recompute."""
    kept = _retention(m, default).predictions
    if kept is None:
        return []
    needs = {"its window": _opt_duration(m.window.last), "performance.label_lookback":
             parse_duration(m.performance.label_lookback), f"its reference ({m.reference.type})": _reach(m)}
    return [f"monitors.{i}.retention.predictions: {m.name!r} keeps predictions {kept} but {what} reaches back "
            f"{span}; keep predictions at least that long" for what, span in needs.items()
            if span is not None and kept < span]


def _reach(m: MonitorConfig) -> timedelta | None:
    """How far back from a window's end a dynamic reference reads (``None``: a stored or file reference).

    ``previous_window``: two windows; ``rolling``: the window, ``last`` and (its end floored to
    ``refit``) up to one ``refit`` more; ``same_period``: the window and ``periods`` seasons.
    """
    ref, window = m.reference, _opt_duration(m.window.last)
    if window is None:
        return None  # refused by _reference_problems: a dynamic reference needs a time window
    if isinstance(ref, PreviousWindowReference):
        return 2 * window
    if isinstance(ref, RollingReference):
        return window + parse_duration(ref.last) + (_opt_duration(ref.refit) or timedelta(0))
    if isinstance(ref, SamePeriodReference):
        return window + ref.periods * parse_duration(ref.every)
    return None


def _utc(text: str) -> datetime:
    """An ISO 8601 date or time as an aware UTC ``datetime`` (naive times are taken as UTC)."""
    try:
        value = datetime.fromisoformat(text)
    except (TypeError, ValueError):
        raise ValueError(f"{text!r} is not an ISO 8601 date or time such as 2024-01-31T00:00:00Z") from None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _opt_duration(text: str | None) -> timedelta | None:
    return None if text is None else parse_duration(text)


def _webhook(w: WebhookTarget) -> domain.WebhookTarget:
    return domain.WebhookTarget(name=w.name, url=w.url, secret_env=w.secret_env, timeout=parse_duration(w.timeout),
                                max_attempts=w.max_attempts, backoff=parse_duration(w.backoff),
                                backoff_max=parse_duration(w.backoff_max))


def _pushdown_spec(p: Pushdown | None) -> domain.PushdownSpec | None:
    return None if p is None else domain.PushdownSpec(grid=p.grid, max_rows=p.max_rows)


def _source(source: StoreSource | SqlSource | FileSource) -> domain.SourceSpec:
    if isinstance(source, SqlSource):
        return domain.SqlSourceSpec(url=source.url, table=source.table, columns=dict(source.columns),
                                    pushdown=_pushdown_spec(source.pushdown))
    if isinstance(source, FileSource):
        return domain.FileSourceSpec(path=source.path, pushdown=_pushdown_spec(source.pushdown))
    return domain.StoreSourceSpec()


def _segment_problems(segments: tuple[str | tuple[str, ...], ...], categorical: tuple[str, ...]) -> list[str]:
    """Each segment is a categorical feature of the schema or a combination of two or more, declared once."""
    problems, seen = [], set()
    for i, group in enumerate(segments):
        columns = (group,) if isinstance(group, str) else tuple(group)
        if not columns:
            problems.append(f"segments.{i}: an empty combination; name one categorical feature or several")
        for column in columns:
            if column not in categorical:
                problems.append(f"segments.{i}: {column!r} is not a categorical feature of the schema "
                                f"(segments are categorical features: {', '.join(categorical) or 'none declared'})")
        if len(set(columns)) != len(columns):
            problems.append(f"segments.{i}: a combination names a feature twice")
        if frozenset(columns) in seen:
            problems.append(f"segments.{i}: segment {','.join(columns)!r} is declared twice")
        seen.add(frozenset(columns))
    return problems


def _reference_problems(ref: object, window: Window) -> list[str]:
    """References read from the source need a time window; a season cannot be shorter than the window."""
    if not isinstance(ref, PreviousWindowReference | RollingReference | SamePeriodReference):
        return []
    if window.last is None:
        return [f"reference.type: {ref.type} reads the time range before the window; it needs window: {{last: ...}}, "
                "not rows"]
    length = parse_duration(window.last)
    if isinstance(ref, SamePeriodReference) and parse_duration(ref.every) < length:
        return [f"reference.every: {ref.every} is shorter than the window ({window.last}): the earlier periods would "
                "overlap the window; use an every of at least the window's length"]
    if isinstance(ref, RollingReference) and ref.refit is not None and parse_duration(ref.refit) > parse_duration(ref.last):
        return [f"reference.refit: {ref.refit} is longer than last ({ref.last}): the reference would end further "
                "from the window than its own length"]
    return []


def _reference(ref: FileReference | StoreReference | UploadReference | PreviousWindowReference | RollingReference
               | SamePeriodReference) -> domain.ReferenceSpec:
    if isinstance(ref, PreviousWindowReference):
        return domain.PreviousWindowReferenceSpec()
    if isinstance(ref, RollingReference):
        return domain.RollingReferenceSpec(last=parse_duration(ref.last), refit=_opt_duration(ref.refit))
    if isinstance(ref, SamePeriodReference):
        return domain.SamePeriodReferenceSpec(every=parse_duration(ref.every), periods=ref.periods)
    if isinstance(ref, FileReference):
        return domain.FileReferenceSpec(path=ref.path)
    if isinstance(ref, StoreReference):
        return domain.StoreReferenceSpec(start=_utc(ref.start), end=_utc(ref.end), label=f"{ref.start}..{ref.end}")
    return domain.UploadReferenceSpec()


def _rule(rule: AlertRule) -> domain.AlertRule:
    return domain.AlertRule(name=rule.name, when=domain.Condition(rule.when), features=rule.features,
                            metric=rule.metric, floor=rule.floor, max_drop=rule.max_drop, runs=rule.runs,
                            of=rule.of, webhooks=rule.webhooks)


def _retrain(policy: RetrainPolicy | None) -> domain.RetrainPolicy | None:
    if policy is None:
        return None
    action: domain.HttpAction | domain.CommandAction = (
        domain.HttpAction(webhook=policy.action.webhook) if isinstance(policy.action, HttpAction)
        else domain.CommandAction(argv=policy.action.argv))
    return domain.RetrainPolicy(on=policy.on, action=action, cooldown=parse_duration(policy.cooldown),
                                max_per_day=policy.max_per_day, dry_run=policy.dry_run)


def _column_options(opt: PValueOptions | DistanceOptions) -> ColumnOptions:
    if isinstance(opt, PValueOptions):
        return ColumnOptions(method=DriftMethod(opt.method), threshold=opt.alpha, effect_floor=opt.effect_floor)
    return ColumnOptions(method=DriftMethod(opt.method), threshold=opt.threshold, alpha=opt.alpha)


def _plain(node: yaml.Node, source: str, lines: dict[tuple[Any, ...], int]) -> Any:
    """A composed YAML node as plain Python data, recording each path's line (1-based).

    Bounded (:mod:`monitor._yaml`): aliases count towards a budget of nodes, a cycle or a
    repeated key is an error naming its line.
    """
    return _yaml.plain(node, source, lines)


def load_config(path: str | Path, *, env: Mapping[str, str] | None = None) -> DriftlineConfig:
    """Load and validate ``driftline.yaml``; raise :class:`ConfigErrors` listing every problem.

    A file that is not UTF-8 text, not YAML, nested too deep, expanding too far through aliases
    or repeating a key is one error line, like a schema error. ``${VAR}`` in URLs is read from
    ``env`` (default ``os.environ``); an unset variable is an error at its line.
    """
    p = Path(path)
    lines: dict[tuple[Any, ...], int] = {}
    try:
        node, source = _yaml.compose_file(p)
        if node is None:
            raise ConfigErrors([f"{p}:1: the file is empty; it needs a 'monitors' list"])
        data = _plain(node, source, lines)
    except ConfigErrors:
        raise
    except ConfigError as exc:
        raise ConfigErrors([str(exc)]) from None
    try:
        return DriftlineConfig.model_validate(data, context={"env": os.environ if env is None else env})
    except ValidationError as exc:
        raise ConfigErrors(format_errors(exc, DriftlineConfig, str(p), lines)) from None


class Settings(BaseSettings):
    """Deployment settings, from ``DRIFTLINE_*`` environment variables (or keyword arguments)."""

    model_config = SettingsConfigDict(env_prefix="DRIFTLINE_", env_nested_delimiter="__", extra="ignore")

    database_url: str = "sqlite:///driftline.db"
    host: str = "127.0.0.1"
    port: int = 8000
    config: Path = Path("driftline.yaml")
    api_keys: SecretStr = SecretStr("")
    max_body_bytes: int = 64 * 2**20
    #: Limits of one ingest or reference batch, checked before a parser reads it (docs/api.md).
    max_nesting_depth: int = Field(32, ge=2)
    max_batch_rows: int = Field(1_000_000, ge=1)
    max_batch_values: int = Field(50_000_000, ge=1)
    max_batch_columns: int = Field(1_000, ge=1)
    max_decompressed_bytes: int = Field(512 * 2**20, ge=1)
    scheduler: bool = True
    public_url: str = "http://127.0.0.1:8000"
    alertmanager_token: SecretStr = SecretStr("")
    metrics_max_features: int = 50
    #: N replicas on one PostgreSQL (docs/scaling.md): how long a claimed window stays another
    #: replica's (longer than a run takes) and how long a claimed outbox message does.
    window_lease_seconds: float = Field(600.0, gt=0)
    outbox_claim_seconds: float = Field(120.0, gt=0)

    @field_validator("api_keys", "alertmanager_token")
    @classmethod
    def _no_placeholder(cls, v: SecretStr) -> SecretStr:
        for key in v.get_secret_value().split(","):
            if key.strip().lower() in {"changeme", "change-me", "secret", "password", "xxx"}:
                raise ValueError("a placeholder secret (such as 'changeme') is refused; set a real one")
        return v

    def api_key_list(self) -> list[bytes]:
        """The accepted API keys (comma-separated in ``DRIFTLINE_API_KEYS``)."""
        return [k.strip().encode() for k in self.api_keys.get_secret_value().split(",") if k.strip()]
