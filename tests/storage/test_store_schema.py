"""Migrations, per-model tables from the configuration, and errors at the database boundary."""

from __future__ import annotations

import socket
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import numpy as np
import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

import monitor
from monitor.config import DriftlineConfig
from monitor.domain import WindowSpec
from monitor.errors import ConfigError, StorageError
from monitor.storage import Store
from monitor.storage._migrate import MIGRATIONS
from monitor.storage.layout import build_layouts, table_name
from monitor.storage.tables import Base
from tests.storage.builders import CHURN, PRICE, T0, churn_frame, config_of

StoreFactory = Callable[[DriftlineConfig], Store]

#: needs a database: migrations, the engine, query plans, or tables that outlive a store
DATABASE_ONLY = pytest.mark.real_backends('needs a database: migrations, the engine, query plans, or tables that outlive a store')


@DATABASE_ONLY
def test_upgrade_is_idempotent_and_creates_every_table(make_store: StoreFactory, config: DriftlineConfig) -> None:
    store = make_store(config)
    store.upgrade()
    store.upgrade()
    tables = set(sa.inspect(store.engine).get_table_names())
    assert {"runs", "feature_results", "performance_results", "reference_versions", "driftline_alembic_version",
            "outbox", "alertmanager_notifications", "retrain_jobs", "predictions_churn_v3", "predictions_price",
            "concept_states", "estimated_performance", "window_leases", "delivery_counters", "retrain_counters"} <= tables
    with store.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT version_num FROM driftline_alembic_version").scalars().all() == ["0014"]


def _static(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Compare only the migrated tables; prediction tables come from the configuration."""
    table = name if type_ == "table" else getattr(getattr(obj, "table", None), "name", None)
    return table in Base.metadata.tables


@DATABASE_ONLY
def test_the_migrations_create_exactly_the_mapped_tables(store: Store) -> None:
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_object": _static, "compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


@DATABASE_ONLY
def test_window_filters_and_run_listing_use_indexes(store: Store) -> None:
    with store.engine.connect() as conn:
        if store.engine.dialect.name == "sqlite":
            plan = conn.exec_driver_sql(
                "EXPLAIN QUERY PLAN SELECT * FROM predictions_churn_v3 WHERE ts >= ? AND ts < ?",
                ("2024-01-01 00:00:00.000000", "2024-01-02 00:00:00.000000")).all()
            runs = conn.exec_driver_sql("EXPLAIN QUERY PLAN SELECT * FROM runs WHERE monitor = 'x' "
                                        "ORDER BY window_end DESC").all()
            assert "ix_predictions_churn_v3_ts" in str(plan) and "(ts>? AND ts<?)" in str(plan)
            assert "USING INDEX" in str(runs) and "TEMP B-TREE" not in str(runs)  # the unique (monitor, window_end)
    if store.engine.dialect.name == "postgresql":
        store.ingest_predictions("churn-v3", churn_frame(10))  # the log is partitioned: made at ingest
        day = T0.replace(hour=0, minute=0, second=0, microsecond=0)
        with store.engine.connect() as conn:
            conn.exec_driver_sql("SET enable_seqscan = off")  # a small table would otherwise be scanned
            plan = str(conn.exec_driver_sql(
                "EXPLAIN SELECT * FROM predictions_churn_v3 WHERE ts >= %(a)s AND ts < %(b)s",
                {"a": day + timedelta(hours=1), "b": day + timedelta(hours=2)}).all())
        # One day's partition, through its ts index (the parent's index, made on every partition).
        assert f"predictions_churn_v3_p{day:%Y%m%d}_ts_idx" in plan and "Seq Scan" not in plan
        assert f"p{(day + timedelta(days=1)):%Y%m%d}" not in plan  # the next day's is pruned


@DATABASE_ONLY
def test_a_feature_added_later_becomes_a_nullable_column(make_store: StoreFactory) -> None:
    before = make_store(config_of(CHURN))
    before.upgrade()
    before.ingest_predictions("churn-v3", churn_frame(3).drop(columns="region"))
    grown = {**CHURN, "schema": {**CHURN["schema"], "numerical": ["age", "income", "tenure"]}}
    after = make_store(config_of(grown))
    after.upgrade()
    after.upgrade()
    after.ingest_predictions("churn-v3", churn_frame(2, start=3).drop(columns="region").assign(tenure=[1.0, 2.0]))
    out = after.read_window(config_of(grown).monitor("churn").to_domain(), WindowSpec(end=T0 + timedelta(days=1), rows=100))
    np.testing.assert_array_equal(out["tenure"], [np.nan, np.nan, np.nan, 1.0, 2.0])


@DATABASE_ONLY
def test_a_feature_that_changes_kind_is_refused_at_upgrade(make_store: StoreFactory) -> None:
    make_store(config_of(CHURN)).upgrade()
    flipped = {**CHURN, "schema": {**CHURN["schema"], "numerical": ["income"], "categorical": ["plan", "age"]}}
    with pytest.raises(ConfigError, match="column 'age' of predictions_churn_v3 is stored as"):
        make_store(config_of(flipped)).upgrade()


def test_the_migrations_ship_inside_the_package() -> None:
    assert (MIGRATIONS / "env.py").is_file() and (MIGRATIONS / "versions" / "0001_static_tables.py").is_file()
    # Inside the imported package (the repository's, or site-packages' for a plain install), not beside it.
    assert MIGRATIONS.resolve().is_relative_to(Path(monitor.__file__).resolve().parent)


@pytest.mark.parametrize(("monitors", "message"), [
    ([CHURN, {**PRICE, "model": "churn-v3"}], "declare different tasks"),
    ([CHURN, {**CHURN, "name": "other", "schema": {**CHURN["schema"], "prediction": "pred"}}],
     "name the prediction column differently"),
    ([CHURN, {**CHURN, "name": "other", "schema": {"categorical": ["age"]}}], "numerical in one monitor"),
    ([{**CHURN, "schema": {"numerical": ["ts"]}}], "clashes with a column of the prediction log"),
    ([CHURN, {**CHURN, "name": "other", "model": "churn_v3"}], "map to the same table 'predictions_churn_v3'"),
], ids=["task", "role-name", "feature-kind", "reserved", "table-name"])
def test_monitors_sharing_a_model_must_agree(monitors: list[dict[str, object]], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build_layouts(config_of(*monitors).to_domain(), sa.MetaData())


def test_table_names_follow_model_names() -> None:
    assert table_name("churn-v3") == "predictions_churn_v3"
    long = table_name("m" * 63)
    assert len(long) <= 63 and long != table_name("m" * 62 + "n")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_database_is_a_storage_error_without_the_password(config: DriftlineConfig) -> None:
    store = Store.from_url(f"postgresql://driftline:s3cret-pw@127.0.0.1:{_closed_port()}/driftline", config)
    try:
        for call in (store.ping, store.upgrade, lambda: store.ingest_predictions("churn-v3", churn_frame(2)),
                     lambda: store.get_run("x")):
            with pytest.raises(StorageError) as info:
                call()
            assert type(info.value) is StorageError and not isinstance(info.value, sa.exc.SQLAlchemyError)
            # The message is public and names no infrastructure; the log-only detail masks the password.
            assert "s3cret-pw" not in str(info.value) and "127.0.0.1" not in str(info.value)
            assert "s3cret-pw" not in info.value.detail and "***@127.0.0.1" in info.value.detail
            assert isinstance(info.value.__cause__, sa.exc.SQLAlchemyError)
    finally:
        assert store.engine.pool.checkedout() == 0  # type: ignore[attr-defined]
        store.dispose()


def test_an_unusable_sqlite_path_is_a_storage_error(tmp_path: Path, config: DriftlineConfig) -> None:
    store = Store.from_url(f"sqlite:///{tmp_path / 'missing-dir' / 'driftline.db'}", config)
    with pytest.raises(StorageError, match="reach the database failed"):
        store.ping()
    store.dispose()


@pytest.mark.parametrize(("url", "message"), [("mysql://u@h/db", "unsupported database 'mysql'"),
                                              ("postgresql+psycopg2://u@h/db", "needs the psycopg 3 driver"),
                                              ("not a url", "not a valid SQLAlchemy URL")])
def test_unsupported_urls_are_config_errors(url: str, message: str, config: DriftlineConfig) -> None:
    with pytest.raises(ConfigError, match=message):
        Store.from_url(url, config)
