"""Configuration: deployment settings from ``DRIFTLINE_*`` and monitors from ``driftline.yaml``.

The YAML file is composed node by node (``yaml.compose``) so every value keeps its line, then
validated by frozen pydantic models that forbid unknown keys; every error is reported as
``driftline.yaml:7 monitors.0.window.last: <what is wrong>``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from monitor import _yaml, domain
from monitor.errors import ConfigError, ConfigErrors  # ConfigErrors: importable from here too
from monitor.stats.check import ColumnOptions
from monitor.stats.concept import Detector
from monitor.stats.correction import Correction
from monitor.stats.performance import Task
from monitor.stats.types import CATEGORICAL_METHODS, NUMERICAL_METHODS, P_VALUE_METHODS, Compat, DriftMethod

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
Duration = Annotated[str, AfterValidator(_valid_duration), Field(description="30s, 15m, 1h, 7d ...")]


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PValueOptions(_Frozen):
    """A p-value test for one feature, with its significance level."""

    method: Literal[tuple(m.value for m in DriftMethod if m in P_VALUE_METHODS)]  # type: ignore[valid-type]
    alpha: float = Field(0.05, gt=0, lt=1)
    effect_floor: float | None = Field(None, ge=0, description="calibrated rule: the smallest effect that alarms")


class DistanceOptions(_Frozen):
    """A distance for one feature, with its threshold."""

    method: Literal[tuple(m.value for m in DriftMethod if m not in P_VALUE_METHODS)]  # type: ignore[valid-type]
    threshold: float = Field(0.1, ge=0)
    alpha: float | None = Field(None, gt=0, lt=1, description="calibrated rule: level of the null quantile")


FeatureOptions = Annotated[PValueOptions | DistanceOptions, Field(discriminator="method")]


class Schema(_Frozen):
    """Which columns of the prediction log play which role."""

    prediction_id: str = "prediction_id"
    timestamp: str = "timestamp"
    prediction: str = "prediction"
    prediction_score: str | None = None
    target: str | None = "label"
    numerical: tuple[str, ...] = ()
    categorical: tuple[str, ...] = ()
    task: Task = Task.CLASSIFICATION

    @model_validator(mode="after")
    def _distinct(self) -> Schema:
        names = [self.prediction_id, self.timestamp, self.prediction, *([self.target] if self.target else []),
                 *([self.prediction_score] if self.prediction_score else []),
                 *self.numerical, *self.categorical]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"column {dup[0]!r} is listed twice")
        if not self.numerical and not self.categorical:
            raise ValueError("declare at least one numerical or categorical feature")
        return self

    @property
    def features(self) -> tuple[str, ...]:
        """Feature columns in declaration order, numerical first."""
        return (*self.numerical, *self.categorical)


class StoreSource(_Frozen):
    """Predictions posted to Driftline's own ingest API."""

    type: Literal["store"] = "store"


class SqlSource(_Frozen):
    """A table in any SQLAlchemy database; the time filter is pushed down into SQL."""

    type: Literal["sql"]
    url: str
    table: str
    columns: dict[str, str] = Field(default_factory=dict, description="our column name -> theirs")


class FileSource(_Frozen):
    """Parquet or CSV files matching a glob."""

    type: Literal["files"]
    path: str


Source = Annotated[StoreSource | SqlSource | FileSource, Field(discriminator="type")]


class FileReference(_Frozen):
    type: Literal["file"]
    path: str


class StoreReference(_Frozen):
    """A time range of the monitor's own prediction log."""

    type: Literal["store"]
    start: str = Field(alias="from")
    end: str = Field(alias="to")

    @field_validator("start", "end")
    @classmethod
    def _instant(cls, v: str) -> str:
        _utc(v)
        return v


class UploadReference(_Frozen):
    """Uploaded later through ``POST /v1/monitors/{name}/reference``."""

    type: Literal["upload"] = "upload"


Reference = Annotated[FileReference | StoreReference | UploadReference, Field(discriminator="type")]


class Window(_Frozen):
    """The current window: the last period of time (``last: 1h``) or the last N rows."""

    last: Duration | None = None
    rows: int | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _one(self) -> Window:
        if (self.last is None) == (self.rows is None):
            raise ValueError("give exactly one of 'last' (a duration) and 'rows'")
        return self


class PerformanceConfig(_Frozen):
    """Performance and concept drift on rows whose labels have arrived."""

    alpha: float = Field(0.05, gt=0, lt=1)
    bucket: Duration = "1h"
    detector: Detector = Detector.PAGE_HINKLEY
    label_lookback: Duration = "24h"
    min_labels: int = Field(30, ge=1)


class WebhookTarget(_Frozen):
    """Where alert events and retraining triggers are POSTed (signed when a secret is set)."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    url: str = Field(pattern=r"^https?://")
    secret_env: str | None = Field(None, description="environment variable holding the HMAC secret")
    timeout: Duration = "5s"
    max_attempts: int = Field(8, ge=1, le=100)
    backoff: Duration = "2s"
    backoff_max: Duration = "5m"


class AlertRule(_Frozen):
    """An alert evaluated inside the service after every run (for users without Alertmanager)."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    when: Literal["dataset_drift", "feature_drift", "performance_below", "performance_drop", "concept_drift"]
    features: tuple[str, ...] = ()
    metric: str | None = None
    floor: float | None = None
    max_drop: float | None = Field(None, ge=0)
    runs: int = Field(1, ge=1, description="fires when the condition held in `runs` of the last `of` runs")
    of: int = Field(1, ge=1)
    webhooks: tuple[str, ...] = ()

    @model_validator(mode="after")
    def _fields(self) -> AlertRule:
        if self.runs > self.of:
            raise ValueError(f"runs ({self.runs}) cannot exceed of ({self.of})")
        if self.when == "performance_below" and (self.metric is None or self.floor is None):
            raise ValueError("performance_below needs 'metric' and 'floor'")
        if self.when == "performance_drop" and (self.metric is None or self.max_drop is None):
            raise ValueError("performance_drop needs 'metric' and 'max_drop'")
        return self


class HttpAction(_Frozen):
    """Start retraining with a generic JSON POST (through the durable outbox)."""

    type: Literal["http"]
    webhook: str


class CommandAction(_Frozen):
    """Start retraining by running a local command (argv, no shell); the job id is appended."""

    type: Literal["command"]
    argv: tuple[str, ...] = Field(min_length=1)


class RetrainPolicy(_Frozen):
    """Which alerts start retraining, how often at most, and how."""

    on: tuple[str, ...] = Field(min_length=1, description="in-service rule names or Alertmanager alertnames")
    cooldown: Duration = "6h"
    max_per_day: int = Field(3, ge=1)
    dry_run: bool = False
    action: Annotated[HttpAction | CommandAction, Field(discriminator="type")]


class MonitorConfig(_Frozen):
    """One monitor: a model's prediction log compared with its reference on a schedule."""

    name: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    model: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$")
    schema_: Schema = Field(alias="schema")
    source: Source = StoreSource()
    reference: Reference = UploadReference()
    every: Duration | None = None
    cron: str | None = None
    window: Window = Window(last="1h")
    min_rows: int = Field(100, ge=1)
    drift_share: float = Field(0.5, gt=0, le=1)
    correction: Correction = Correction.NONE
    compat: Compat = Field(Compat.CALIBRATED, description="calibrated (default) or evidently (Evidently 0.7.23's verdicts)")
    fdr: bool = Field(False, description="Benjamini-Hochberg across the features before the dataset verdict")
    min_features: int = Field(1, ge=1, description="tested features the dataset verdict needs")
    features: dict[str, FeatureOptions] = Field(default_factory=dict)
    performance: PerformanceConfig = PerformanceConfig()
    alerts: tuple[AlertRule, ...] = ()
    retrain: RetrainPolicy | None = None

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
        problems = []
        allowed = {**dict.fromkeys(self.schema_.numerical, ("numerical", NUMERICAL_METHODS)),
                   **dict.fromkeys(self.schema_.categorical, ("categorical", CATEGORICAL_METHODS))}
        for name, opt in self.features.items():
            if name not in allowed:
                problems.append(f"features.{name}: {name!r} is not a feature of the schema")
                continue
            kind, methods = allowed[name]
            if DriftMethod(opt.method) not in methods:
                names = ", ".join(sorted(m.value for m in methods))
                problems.append(f"features.{name}.method: {opt.method} does not apply to {kind} feature "
                                f"{name!r}; use one of: {names}")
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
                                 categorical=s.categorical, task=s.task),
            source=_source(self.source), reference=_reference(self.reference),
            schedule=domain.Schedule(every=_opt_duration(self.every), cron=self.cron),
            window=domain.WindowDef(last=_opt_duration(self.window.last), rows=self.window.rows),
            min_rows=self.min_rows, drift_share=self.drift_share, correction=self.correction,
            compat=self.compat, fdr=self.fdr, min_features=self.min_features,
            columns={name: _column_options(opt) for name, opt in self.features.items()},
            performance=domain.PerformanceSpec(alpha=perf.alpha, bucket=parse_duration(perf.bucket),
                                               detector=perf.detector,
                                               label_lookback=parse_duration(perf.label_lookback),
                                               min_labels=perf.min_labels),
            alerts=tuple(_rule(r) for r in self.alerts), retrain=_retrain(self.retrain),
        )


class DriftlineConfig(_Frozen):
    """The whole ``driftline.yaml``."""

    monitors: tuple[MonitorConfig, ...]
    webhooks: tuple[WebhookTarget, ...] = ()

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
        return domain.Catalog(monitors=tuple(m.to_domain() for m in self.monitors),
                              webhooks=tuple(_webhook(w) for w in self.webhooks))


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


def _source(source: StoreSource | SqlSource | FileSource) -> domain.SourceSpec:
    if isinstance(source, SqlSource):
        return domain.SqlSourceSpec(url=source.url, table=source.table, columns=dict(source.columns))
    if isinstance(source, FileSource):
        return domain.FileSourceSpec(path=source.path)
    return domain.StoreSourceSpec()


def _reference(ref: FileReference | StoreReference | UploadReference) -> domain.ReferenceSpec:
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


def load_config(path: str | Path) -> DriftlineConfig:
    """Load and validate ``driftline.yaml``; raise :class:`ConfigErrors` listing every problem.

    A file that is not UTF-8 text, not YAML, nested too deep, expanding too far through aliases
    or repeating a key is one error line, like a schema error.
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
        return DriftlineConfig.model_validate(data)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            loc = tuple(x for x in err["loc"] if not (isinstance(x, str) and ("[" in x or x in _UNION_TAGS)))
            loc = tuple("schema" if x == "schema_" else x for x in loc)
            for msg in err["msg"].removeprefix("Value error, ").split("\n"):
                at, msg = _relative_key(loc, msg, lines)
                line = next((lines[at[:k]] for k in range(len(at), -1, -1) if at[:k] in lines), 1)
                where = ".".join(str(x) for x in at)
                errors.append(f"{p}:{line} {where}: {msg}" if where else f"{p}:{line} {msg}")
        raise ConfigErrors(errors) from None


_KEY_PATH = re.compile(r"^([A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*): (.*)$", re.DOTALL)


def _relative_key(loc: tuple[Any, ...], msg: str, lines: dict[tuple[Any, ...], int]) -> tuple[tuple[Any, ...], str]:
    """A cross-field message led by a key path below ``loc`` (``features.plan.method: ...``), located there.

    Model validators can only fail as a whole, at the model's location; a message that names
    the offending key by its path is moved to that key, so the error carries the key's line.
    """
    m = _KEY_PATH.match(msg)
    if m:
        sub = tuple(int(x) if x.isdigit() else x for x in m[1].split("."))
        if loc + sub in lines or loc + sub[:-1] in lines:
            return loc + sub, m[2]
    return loc, msg


#: Tags pydantic inserts into error locations for union members; not keys of the file.
_UNION_TAGS = {"http", "command", "store", "sql", "files", "file", "upload"} | {m.value for m in DriftMethod}


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
