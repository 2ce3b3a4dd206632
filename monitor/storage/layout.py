"""Per-model prediction tables, derived from the monitors in ``driftline.yaml``.

Every model gets one typed table (``predictions_<model>``): the fixed columns below plus one
column per feature of every monitor that watches the model. Monitors of one model share the log,
so they must agree on the names of the id, timestamp, prediction, score and target columns, on
the task, and on each feature's kind; a disagreement is a :class:`ConfigError` at start-up rather
than a table that silently means two things.

An embedding feature (``schema.embedding``) is one ``BYTEA`` (PostgreSQL) / ``BLOB`` (SQLite)
column holding the vector as ``dim`` little-endian float32 values (4 bytes each, 1,536 for 384
dimensions), not JSON text: a window's vectors are decoded by one ``np.frombuffer`` over their
joined bytes instead of one ``json.loads`` per row, the value is a third of the size of its
shortest decimal text, and float32 is the precision embedding models produce. Binary COPY on
PostgreSQL moves bytea as raw bytes, exactly as it moves text.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum

import sqlalchemy as sa

from monitor.domain import Catalog, Monitor
from monitor.errors import ConfigError
from monitor.stats.performance import Task
from monitor.storage._types import UtcDateTime

__all__ = ["FIXED", "Kind", "ModelLayout", "build_layouts", "identifier", "table_name"]

#: Columns every prediction table has, by their name in the database.
FIXED = ("prediction_id", "ts", "prediction", "score", "label", "label_ts")

_MAX_IDENTIFIER = 63  # PostgreSQL truncates longer names silently; we shorten them ourselves


class Kind(StrEnum):
    """How a value column is stored."""

    NUMBER = "number"  # DOUBLE PRECISION / REAL; NULL is missing
    TEXT = "text"  # TEXT; categories and class labels as their ``str()``
    EMBEDDING = "embedding"  # BYTEA / BLOB: ``dim`` little-endian float32 values; NULL is missing


_ROLE = {Kind.NUMBER: "numerical", Kind.TEXT: "categorical (or text)", Kind.EMBEDDING: "an embedding"}


def identifier(name: str) -> str:
    """A database identifier for ``name``, shortened with a hash suffix past 63 characters."""
    if len(name.encode()) <= _MAX_IDENTIFIER:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return f"{name.encode()[:_MAX_IDENTIFIER - 9].decode(errors='ignore')}_{digest}"


def table_name(model: str) -> str:
    """The prediction table of ``model``: ``predictions_churn_v3`` for ``churn-v3``."""
    return identifier(f"predictions_{model.replace('-', '_')}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelLayout:
    """The prediction table of one model and how frame columns map onto it."""

    model: str
    table: sa.Table
    id_column: str
    ts_column: str
    prediction_column: str
    score_column: str | None
    label_column: str | None
    prediction_kind: Kind
    features: dict[str, Kind]  # every feature of every monitor on the model, in first-seen order
    dims: dict[str, int] = field(default_factory=dict)  # the vector length of each embedding feature

    def frame_to_db(self) -> dict[str, str]:
        """Frame column name -> database column name, for the columns an ingest frame may carry."""
        names = {self.id_column: "prediction_id", self.ts_column: "ts", self.prediction_column: "prediction"}
        if self.score_column:
            names[self.score_column] = "score"
        if self.label_column:
            names[self.label_column] = "label"
        names.update({f: f for f in self.features})
        return names

    def kind(self, db_column: str) -> Kind:
        """Storage kind of a value column (not ``prediction_id``, ``ts`` or ``label_ts``)."""
        if db_column in ("prediction", "label"):
            return self.prediction_kind
        return Kind.NUMBER if db_column == "score" else self.features[db_column]


def _one(model: str, role: str, values: list[str | None]) -> str | None:
    named = sorted({v for v in values if v is not None})
    if len(named) > 1:
        raise ConfigError(f"monitors of model {model!r} name the {role} column differently ({', '.join(named)}); "
                          "they share one prediction log, so use one name", path=f"schema.{role}")
    return named[0] if named else None


def _layout(model: str, monitors: list[Monitor], metadata: sa.MetaData) -> ModelLayout:
    schemas = [m.schema for m in monitors]
    tasks = {s.task for s in schemas}
    if len(tasks) > 1:
        raise ConfigError(f"monitors of model {model!r} declare different tasks ({', '.join(sorted(tasks))})",
                          path="schema.task")
    features: dict[str, Kind] = {}
    dims: dict[str, int] = {}
    for m in monitors:
        declared = [(f, Kind.NUMBER) for f in m.schema.numerical] + [(f, Kind.TEXT) for f in m.schema.categorical]
        declared += [(f, Kind.TEXT) for f in m.schema.text] + [(f, Kind.EMBEDDING) for f, _ in m.schema.embedding]
        for name, kind in declared:
            old = features.setdefault(name, kind)
            if old is not kind:
                raise ConfigError(f"feature {name!r} of model {model!r} is {_ROLE[old]} in one monitor and "
                                  f"{_ROLE[kind]} in another (monitor {m.name!r})", path=f"schema.{name}")
        for name, dim in m.schema.embedding:
            if dims.setdefault(name, dim) != dim:
                raise ConfigError(f"embedding {name!r} of model {model!r} has dim {dims[name]} in one monitor and "
                                  f"{dim} in monitor {m.name!r}; one column holds one vector length",
                                  path=f"schema.embedding.{name}")
    id_column = _one(model, "prediction_id", [s.prediction_id for s in schemas])
    ts_column = _one(model, "timestamp", [s.timestamp for s in schemas])
    prediction_column = _one(model, "prediction", [s.prediction for s in schemas])
    score_column = _one(model, "prediction_score", [s.prediction_score for s in schemas])
    label_column = _one(model, "target", [s.target for s in schemas])
    roles = {id_column, ts_column, prediction_column, score_column, label_column}
    for name in features:
        if name in FIXED or name in roles:
            raise ConfigError(f"feature {name!r} of model {model!r} clashes with a column of the prediction log "
                              f"({', '.join(FIXED)} are reserved); rename the feature", path=f"schema.{name}")
        if len(name.encode()) > _MAX_IDENTIFIER:
            raise ConfigError(f"feature name {name[:20]!r}... of model {model!r} is longer than "
                              f"{_MAX_IDENTIFIER} bytes, the database's limit for column names", path="schema")
    kind = Kind.NUMBER if tasks == {Task.REGRESSION} else Kind.TEXT
    value = {Kind.NUMBER: sa.Double, Kind.TEXT: sa.Text, Kind.EMBEDDING: sa.LargeBinary}
    name = table_name(model)
    table = sa.Table(
        name, metadata,
        # Byte order ("C") keeps the primary key's comparisons cheap on PostgreSQL, whatever the
        # database's locale; ids have no linguistic order anyway.
        sa.Column("prediction_id", sa.Text().with_variant(sa.Text(collation="C"), "postgresql"), primary_key=True),
        sa.Column("ts", UtcDateTime(), nullable=False),
        sa.Column("prediction", value[kind]()),
        sa.Column("score", sa.Double()),
        sa.Column("label", value[kind]()),
        sa.Column("label_ts", UtcDateTime()),
        *(sa.Column(f, value[k]()) for f, k in features.items()),
        sa.Index(identifier(f"ix_{name}_ts"), "ts"),
    )
    return ModelLayout(model=model, table=table, prediction_kind=kind, features=features, dims=dims,
                       id_column=str(id_column), ts_column=str(ts_column), prediction_column=str(prediction_column),
                       score_column=score_column, label_column=label_column)


def build_layouts(config: Catalog, metadata: sa.MetaData) -> dict[str, ModelLayout]:
    """One layout per model of ``config``, with its table defined on ``metadata``."""
    by_model: dict[str, list[Monitor]] = {}
    for m in config.monitors:
        by_model.setdefault(m.model, []).append(m)
    tables: dict[str, str] = {}
    for model in by_model:
        other = tables.setdefault(table_name(model), model)
        if other != model:
            raise ConfigError(f"models {other!r} and {model!r} map to the same table {table_name(model)!r} "
                              "('-' is stored as '_'); rename one", path="model")
    return {model: _layout(model, monitors, metadata) for model, monitors in by_model.items()}
