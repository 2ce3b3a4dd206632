"""Prediction-log sources other than the own store: a table in the user's database, and files.

The SQL source reads a table whose columns have other names than the schema's (a column mapping),
from a separate SQLite file and from PostgreSQL (a schema of its own in the session's database;
skipped without the server, failing under ``CI=true``). What is checked is the contract of
``monitor.sources``: the window ``[start, end)`` or the last N rows before ``end``, sorted by time,
named as in the schema, with an aware UTC timestamp column, and the time filter pushed down into
the SQL the database receives.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from monitor.config import DriftlineConfig, FileSource, MonitorConfig, Settings, SqlSource
from monitor.domain import FileSourceSpec, RunStatus, SqlSourceSpec, WindowSpec
from monitor.errors import InputError, StorageError
from monitor.service import MonitorService
from monitor.sources import FileSource as FilesReader
from monitor.sources import SqlEngines, SqlTableSource
from monitor.storage import Store
from tests.conftest import postgres_schema


# The configuration's source models turned into the domain's specs and read through the real
# adapters (``SqlTableSource``, ``FileSource``), as the service builds them.
class SqlSources:
    def __init__(self) -> None:
        self._engines = SqlEngines()

    def read(self, monitor: MonitorConfig, source: SqlSource, window: WindowSpec) -> pd.DataFrame:
        spec = SqlSourceSpec(url=source.url, table=source.table, columns=dict(source.columns))
        return SqlTableSource(spec, self._engines).read(monitor.to_domain(), window)

    def close(self) -> None:
        self._engines.close()


def read_files_window(monitor: MonitorConfig, source: FileSource, window: WindowSpec) -> pd.DataFrame:
    return FilesReader(FileSourceSpec(path=source.path)).read(monitor.to_domain(), window)


def window_for(monitor: MonitorConfig, end: datetime) -> WindowSpec:
    return monitor.to_domain().window_ending(end)

T0 = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
START = T0 - timedelta(hours=1)

#: Our schema's names -> the user's table's names ("plan" is the same in both).
MAPPING = {"prediction_id": "request_id", "timestamp": "event_time", "age": "customer_age",
           "prediction": "predicted_class", "label": "actual_class"}


def driftline_config(*, window: dict[str, Any] | None = None, **extra: Any) -> DriftlineConfig:
    return DriftlineConfig.model_validate({"monitors": [{
        "name": "churn", "model": "churn-v3", "every": "1h", "window": window or {"last": "1h"}, "min_rows": 20,
        "schema": {"numerical": ["age"], "categorical": ["plan"], "prediction": "prediction", "target": "label"},
        **extra,
    }]})


def monitor_config(*, window: dict[str, Any] | None = None) -> MonitorConfig:
    return driftline_config(window=window).monitor("churn")


def user_log(times: list[datetime], *, shift: float = 0.0, seed: int = 0) -> pd.DataFrame:
    """Rows in the user's own column names, one per time, ids ``r0, r1, ...`` in time order."""
    rng = np.random.default_rng(seed)
    n = len(times)
    prediction = rng.choice(["stay", "churn"], n)
    return pd.DataFrame({
        "request_id": [f"r{i}" for i in range(n)],
        "event_time": times,
        "customer_age": rng.normal(40 + shift, 5, n),
        "plan": rng.choice(["basic", "gold"], n),
        "predicted_class": prediction,
        "actual_class": np.where(rng.random(n) < 0.8, prediction, None),
    })


#: One row just before the window, one at its start (in), one a minute before its end (in),
#: one at its end (out) and one after it (out), and 56 rows inside.
BOUNDARY_TIMES = [START - timedelta(seconds=1), START, T0 - timedelta(minutes=1), T0, T0 + timedelta(minutes=5)]
INSIDE_TIMES = [START + timedelta(minutes=1, seconds=i) for i in range(56)]


def in_window(times: list[datetime], start: datetime | None, end: datetime) -> list[int]:
    """Positions of the times inside ``[start, end)``, in time order."""
    return sorted((i for i, t in enumerate(times) if (start is None or t >= start) and t < end), key=times.__getitem__)


# --- the SQL source ------------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def warehouse_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """The user's database: a SQLite file of its own, or a fresh schema in the session's PostgreSQL."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'warehouse.db'}"
        return
    with postgres_schema(request.getfixturevalue("postgres_url"), "src") as url:
        yield url  # skips (or fails under CI) without a server, through postgres_url


def create_table(url: str, frame: pd.DataFrame, name: str = "prediction_log") -> None:
    """The user's table, typed as a user would type it (a timezone-aware timestamp column)."""
    engine = sa.create_engine(url)
    table = sa.Table(name, sa.MetaData(),
                     sa.Column("request_id", sa.String(40), primary_key=True),
                     sa.Column("event_time", sa.DateTime(timezone=True), nullable=False, index=True),
                     sa.Column("customer_age", sa.Float),
                     sa.Column("plan", sa.String(20)),
                     sa.Column("predicted_class", sa.String(20)),
                     sa.Column("actual_class", sa.String(20)))
    try:
        table.metadata.create_all(engine)
        with engine.begin() as conn:
            conn.execute(table.insert(), frame.to_dict("records"))
    finally:
        engine.dispose()


class StatementLog:
    """Every SQL statement sent by any engine while active (SQLAlchemy's ``before_cursor_execute``)."""

    def __init__(self) -> None:
        self.statements: list[str] = []

    def _record(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        self.statements.append(" ".join(statement.split()))

    def __enter__(self) -> StatementLog:
        sa.event.listen(sa.Engine, "before_cursor_execute", self._record)
        return self

    def __exit__(self, *exc: object) -> None:
        sa.event.remove(sa.Engine, "before_cursor_execute", self._record)

    def select_from(self, table: str) -> str:
        found = [s for s in self.statements if s.upper().startswith("SELECT") and table in s]
        assert len(found) == 1, self.statements
        return found[0]


@pytest.fixture
def sources() -> Iterator[SqlSources]:
    s = SqlSources()
    yield s
    s.close()


def test_sql_source_pushes_the_time_window_down_and_maps_the_columns(warehouse_url: str,
                                                                     sources: SqlSources) -> None:
    times = BOUNDARY_TIMES + INSIDE_TIMES
    log = user_log(times)
    create_table(warehouse_url, log)
    source = SqlSource(type="sql", url=warehouse_url, table="prediction_log", columns=MAPPING)

    with StatementLog() as sql:
        frame = sources.read(monitor_config(), source, WindowSpec(start=START, end=T0))

    where = sql.select_from("prediction_log").split(" WHERE ", 1)
    assert len(where) == 2, "no WHERE clause: the window was not pushed down"
    assert "event_time <" in where[1] and "event_time >=" in where[1], where[1]
    assert "LIMIT" not in where[1]
    expected = log.iloc[in_window(times, START, T0)]
    assert len(frame) == 58
    assert list(frame.columns) == ["prediction_id", "timestamp", "age", "plan", "prediction", "label"]
    assert list(frame["prediction_id"]) == list(expected["request_id"])  # oldest first, the boundaries honoured
    assert str(frame["timestamp"].dtype).startswith("datetime64") and str(frame["timestamp"].dt.tz) == "UTC"
    assert list(frame["timestamp"]) == [pd.Timestamp(t) for t in expected["event_time"]]
    np.testing.assert_allclose(frame["age"], expected["customer_age"])
    assert list(frame["plan"]) == list(expected["plan"])
    assert list(frame["prediction"]) == list(expected["predicted_class"])


def test_sql_source_in_rows_mode_returns_the_last_rows_before_the_end_oldest_first(warehouse_url: str,
                                                                                   sources: SqlSources) -> None:
    times = BOUNDARY_TIMES + INSIDE_TIMES
    log = user_log(times, seed=1)
    create_table(warehouse_url, log)
    source = SqlSource(type="sql", url=warehouse_url, table="prediction_log", columns=MAPPING)
    monitor = monitor_config(window={"rows": 5})
    spec = window_for(monitor, T0)

    with StatementLog() as sql:
        frame = sources.read(monitor, source, spec)

    statement = sql.select_from("prediction_log")
    assert "WHERE" in statement and "event_time <" in statement and "event_time >=" not in statement
    assert "ORDER BY" in statement and "DESC" in statement and "LIMIT" in statement
    last = in_window(times, None, T0)[-5:]
    assert list(frame["prediction_id"]) == list(log["request_id"].iloc[last])
    assert frame["timestamp"].is_monotonic_increasing and frame["timestamp"].max() < pd.Timestamp(T0)


def test_sql_source_names_the_table_when_it_cannot_be_read(warehouse_url: str, sources: SqlSources) -> None:
    source = SqlSource(type="sql", url=warehouse_url, table="no_such_table", columns=MAPPING)
    with pytest.raises(StorageError, match="'no_such_table'") as caught:
        sources.read(monitor_config(), source, WindowSpec(start=START, end=T0))
    assert "SELECT" not in str(caught.value)


def test_sql_source_window_bounds_with_an_offset_mean_the_same_instants(tmp_path: Path,
                                                                        sources: SqlSources) -> None:
    # `driftline run --at 2026-11-01T14:00+02:00` hands such an end to the source.
    url = f"sqlite:///{tmp_path / 'warehouse.db'}"
    times = BOUNDARY_TIMES + INSIDE_TIMES
    log = user_log(times)
    create_table(url, log)
    source = SqlSource(type="sql", url=url, table="prediction_log", columns=MAPPING)
    plus_two = timezone(timedelta(hours=2))
    frame = sources.read(monitor_config(), source, WindowSpec(start=START.astimezone(plus_two),
                                                              end=T0.astimezone(plus_two)))
    assert list(frame["prediction_id"]) == list(log["request_id"].iloc[in_window(times, START, T0)])


# --- the files source ----------------------------------------------------------------------------


def our_log(times: list[datetime], *, shift: float = 0.0, seed: int = 0) -> pd.DataFrame:
    """Rows in the schema's own names (a files source has no column mapping)."""
    return user_log(times, shift=shift, seed=seed).rename(columns={v: k for k, v in MAPPING.items()})


def write_parts(folder: Path, log: pd.DataFrame) -> None:
    """The log split over two Parquet files and a CSV file (ISO 8601 times with ``Z``), out of time order."""
    folder.mkdir()
    shuffled = log.sample(frac=1.0, random_state=3)
    a, b, c = np.array_split(np.arange(len(shuffled)), 3)
    shuffled.iloc[a].to_parquet(folder / "part-0.parquet", index=False)
    shuffled.iloc[b].to_parquet(folder / "part-1.parquet", index=False)
    csv = shuffled.iloc[c].copy()
    csv["timestamp"] = [t.strftime("%Y-%m-%dT%H:%M:%S.%fZ") for t in csv["timestamp"]]
    csv.to_csv(folder / "part-2.csv", index=False)
    (folder / "notes.txt").write_text("not matched by the glob\n")


def test_files_source_reads_a_glob_of_parquet_and_csv_over_start_inclusive_end_exclusive(tmp_path: Path) -> None:
    times = BOUNDARY_TIMES + INSIDE_TIMES
    log = our_log(times)
    write_parts(tmp_path / "logs", log)
    source = FileSource(type="files", path=str(tmp_path / "logs" / "part-*"))

    frame = read_files_window(monitor_config(), source, window_for(monitor_config(), T0))

    expected = log.iloc[in_window(times, START, T0)]
    assert list(frame["prediction_id"]) == list(expected["prediction_id"])
    assert pd.Timestamp(START) in set(frame["timestamp"]) and pd.Timestamp(T0) not in set(frame["timestamp"])
    assert str(frame["timestamp"].dt.tz) == "UTC" and frame["timestamp"].is_monotonic_increasing
    np.testing.assert_allclose(frame["age"], expected["age"])


def test_files_source_in_rows_mode_keeps_the_last_rows_before_the_end(tmp_path: Path) -> None:
    times = BOUNDARY_TIMES + INSIDE_TIMES
    log = our_log(times, seed=2)
    write_parts(tmp_path / "logs", log)
    monitor = monitor_config(window={"rows": 7})
    source = FileSource(type="files", path=str(tmp_path / "logs" / "part-*"))

    frame = read_files_window(monitor, source, window_for(monitor, T0))

    assert list(frame["prediction_id"]) == list(log["prediction_id"].iloc[in_window(times, None, T0)[-7:]])


def test_files_source_names_the_glob_when_nothing_matches(tmp_path: Path) -> None:
    pattern = str(tmp_path / "logs" / "*.parquet")
    with pytest.raises(InputError, match="no file matches") as caught:
        read_files_window(monitor_config(), FileSource(type="files", path=pattern), WindowSpec(start=START, end=T0))
    assert pattern in str(caught.value) and caught.value.field == "source.path"


def test_files_source_names_a_missing_timestamp_column(tmp_path: Path) -> None:
    our_log(INSIDE_TIMES).drop(columns=["timestamp"]).to_parquet(tmp_path / "log.parquet")
    source = FileSource(type="files", path=str(tmp_path / "*.parquet"))
    with pytest.raises(InputError, match="'timestamp'"):
        read_files_window(monitor_config(), source, WindowSpec(start=START, end=T0))


def test_window_for_is_the_last_period_or_the_last_rows_before_the_end() -> None:
    assert window_for(monitor_config(window={"last": "15m"}), T0) == WindowSpec(start=T0 - timedelta(minutes=15),
                                                                                 end=T0)
    assert window_for(monitor_config(window={"rows": 500}), T0) == WindowSpec(end=T0, rows=500)


# --- through the service -------------------------------------------------------------------------


def reference_file(path: Path, *, seed: int = 9) -> Path:
    """A reference in the schema's names, as a Parquet file (features, prediction and label)."""
    times = [T0 - timedelta(days=2, seconds=-i) for i in range(400)]
    our_log(times, seed=seed).drop(columns=["prediction_id", "timestamp"]).to_parquet(path, index=False)
    return path


@pytest.mark.anyio
async def test_a_run_reads_its_window_from_a_sql_table_and_its_reference_from_a_file(
    warehouse_url: str, tmp_path: Path
) -> None:
    inside = [START + timedelta(seconds=10 * i) for i in range(300)]
    times = inside + [START - timedelta(minutes=5), T0, T0 + timedelta(minutes=1)]
    create_table(warehouse_url, user_log(times, shift=12.0, seed=4))
    config = driftline_config(
        source={"type": "sql", "url": warehouse_url, "table": "prediction_log", "columns": MAPPING},
        reference={"type": "file", "path": str(reference_file(tmp_path / "reference.parquet"))},
    )
    store = Store.from_url(f"sqlite:///{tmp_path / 'driftline.db'}", config)
    store.upgrade()
    service = MonitorService(Settings(scheduler=False), config, store)
    await service.start()  # registers the file reference
    try:
        run = await service.run_at("churn", T0)
    finally:
        await service.stop()
    try:
        assert run.error is None and run.status is RunStatus.DRIFT and run.rows == 300
        assert run.window_start == START and run.window_end == T0 and run.reference_version == 1
        stored = store.get_run(run.id)
        assert stored is not None and stored.status is RunStatus.DRIFT
        results = {f.column: f for f in stored.features}
        assert {"age", "plan", "prediction"} <= set(results)
        assert results["age"].drifted and results["age"].n_current == 300
        assert not results["plan"].drifted
        assert store.references("churn")[0].source == f"file:{tmp_path / 'reference.parquet'}"
    finally:
        store.dispose()


@pytest.mark.anyio
async def test_class_codes_read_from_csv_compare_equal_to_the_same_codes_ingested(tmp_path: Path) -> None:
    # The same 300 rows twice: as the reference, from a CSV file, where pandas reads the codes
    # back as integers 0, 1 and 1, 2; and as predictions ingested into the store as text.
    rng = np.random.default_rng(5)
    rows = pd.DataFrame({"age": rng.normal(40, 5, 300), "plan": rng.choice(["1", "2"], 300),
                         "prediction": rng.choice(["0", "1"], 300)})
    rows.to_csv(tmp_path / "reference.csv", index=False)
    config = DriftlineConfig.model_validate({"monitors": [{
        "name": "churn", "model": "churn-v3", "every": "1h", "window": {"last": "1h"}, "min_rows": 20,
        "schema": {"numerical": ["age"], "categorical": ["plan"], "prediction": "prediction", "target": None},
        "reference": {"type": "file", "path": str(tmp_path / "reference.csv")}}]})
    store = Store.from_url(f"sqlite:///{tmp_path / 'driftline.db'}", config)
    store.upgrade()
    store.ingest_predictions("churn-v3", rows.assign(
        prediction_id=[f"p{i}" for i in range(300)],
        timestamp=pd.date_range(START, periods=300, freq="10s", tz="UTC")))
    service = MonitorService(Settings(scheduler=False), config, store)
    await service.start()
    try:
        run = await service.run_at("churn", T0)
    finally:
        await service.stop()
        store.dispose()
    assert {f.column: f.new_categories for f in run.features} == {"age": (), "plan": (), "prediction": ()}
    # The class codes are one set of categories on both sides; the same rows never drift.
    by = {f.column: f for f in run.features}
    assert by["plan"].n_reference == 300 and not by["plan"].drifted and not by["prediction"].drifted
    assert not by["age"].drifted and run.status is RunStatus.OK and run.rows == 300
