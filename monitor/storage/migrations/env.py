"""Alembic environment for Driftline's static tables (runs, results, reference versions).

``Store.upgrade()`` runs this with its own connection in ``config.attributes["connection"]``, so
no ``alembic.ini`` is needed at run time. For writing a new revision by hand, point an ini file's
``script_location`` here and set ``sqlalchemy.url``. Importing this module outside Alembic (pytest's
doctest collection, mypy) does nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from monitor.storage.tables import Base

VERSION_TABLE = "driftline_alembic_version"  # not "alembic_version": the database may be shared


def _configure_and_run(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        version_table=VERSION_TABLE,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations() -> None:
    """Run the migrations on the caller's connection, or on ``sqlalchemy.url`` from an ini file."""
    config = context.config
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure_and_run(connection)
        return
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("set sqlalchemy.url, or run the migrations through Store.upgrade()")
    engine = sa.create_engine(url)
    try:
        with engine.begin() as conn:
            _configure_and_run(conn)
    finally:
        engine.dispose()


if getattr(context, "config", None) is not None:  # set only while Alembic runs this file
    run_migrations()
