"""Bringing a database up to date: Alembic for the static tables, the config for prediction tables.

Alembic runs programmatically on the caller's connection with this package's own script location,
so an installed Driftline needs no ``alembic.ini`` and no working directory. Prediction tables are
not migrations: they follow ``driftline.yaml``, so upgrade() creates the missing ones (on
PostgreSQL partitioned by day, see :mod:`monitor.storage.partitions`) and adds
columns for features added since (nullable, so old rows read as missing values). An embedding
column made as TEXT before ingest accepted vectors (it could only hold NULL) becomes binary.
"""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.migration import MigrationContext
from alembic.operations import Operations

from monitor.errors import ConfigError
from monitor.storage import counters
from monitor.storage.layout import ModelLayout
from monitor.storage.partitions import partitioned_twin

__all__ = ["MIGRATIONS", "upgrade"]

MIGRATIONS = Path(__file__).with_name("migrations")
_LOCK_KEY = 0x44726966  # "Drif": one upgrade at a time across processes on PostgreSQL


def alembic_config(connection: sa.Connection) -> Config:
    """An Alembic configuration for our migrations that runs on ``connection``."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS).replace("%", "%%"))
    config.set_main_option("path_separator", "os")
    config.attributes["connection"] = connection
    return config


def _kind_matches(existing: sa.types.TypeEngine[object], wanted: sa.types.TypeEngine[object]) -> bool:
    if isinstance(wanted, sa.LargeBinary):
        return isinstance(existing, sa.LargeBinary)
    if isinstance(wanted, sa.Float):
        return isinstance(existing, sa.Float)
    if isinstance(wanted, sa.String):
        return isinstance(existing, sa.String)
    return True


def _all_null(connection: sa.Connection, table: sa.Table, column: str) -> bool:
    query = sa.select(sa.literal(1)).select_from(table).where(table.c[column].isnot(None)).limit(1)
    return connection.scalar(query) is None


def _ensure_table(connection: sa.Connection, layout: ModelLayout) -> None:
    table = layout.table
    inspector = sa.inspect(connection)
    if not inspector.has_table(table.name):
        # PostgreSQL: partitioned by day from the start (monitor.storage.partitions says why).
        (partitioned_twin(table) if connection.dialect.name == "postgresql" else table).create(connection)
        return
    existing = {c["name"]: c["type"] for c in inspector.get_columns(table.name)}
    operations = Operations(MigrationContext.configure(connection))
    for column in table.columns:
        if column.name not in existing:
            operations.add_column(table.name, sa.Column(column.name, column.type, nullable=True))
        elif isinstance(column.type, sa.LargeBinary) and isinstance(existing[column.name], sa.String) and \
                _all_null(connection, table, column.name):
            # Made when an embedding column was TEXT and ingest refused vectors: nothing to keep.
            operations.drop_column(table.name, column.name)
            operations.add_column(table.name, sa.Column(column.name, column.type, nullable=True))
        elif not _kind_matches(existing[column.name], column.type):
            raise ConfigError(
                f"column {column.name!r} of {table.name} is stored as {existing[column.name]} but the configuration "
                f"of model {layout.model!r} now declares {column.type}; rename the feature or move the old table away",
                path=f"schema.{column.name}")


def upgrade(connection: sa.Connection, layouts: list[ModelLayout]) -> None:
    """Migrate the static tables to head and create or extend every prediction table, in one transaction."""
    if connection.dialect.name == "postgresql":
        connection.execute(sa.select(sa.func.pg_advisory_xact_lock(_LOCK_KEY)))
    command.upgrade(alembic_config(connection), "head")
    for layout in layouts:
        _ensure_table(connection, layout)
    counters.backfill_ingested(connection, layouts)
