"""monitor.ingest without HTTP: specs from the configuration, and format-independent results."""

from __future__ import annotations

import io
from datetime import UTC, datetime

import pandas as pd
import pytest

from monitor import ingest
from monitor.config import DriftlineConfig
from monitor.errors import ConfigError
from tests.api.helpers import CSV, JSON, NDJSON, PARQUET, encode, prediction_rows, values

NOW = datetime(2025, 6, 1, tzinfo=UTC)
FORMATS = {JSON: ingest.Format.JSON, NDJSON: ingest.Format.NDJSON, CSV: ingest.Format.CSV,
           PARQUET: ingest.Format.PARQUET}


def _config(*monitors: dict[str, object]) -> DriftlineConfig:
    return DriftlineConfig.model_validate({"monitors": [{"every": "1h", **m} for m in monitors]})


def test_the_prediction_spec_is_the_union_of_the_models_monitors(config: DriftlineConfig) -> None:
    spec = ingest.prediction_spec(config, "churn")
    kinds = {c.name: (c.kind, c.presence) for c in spec.columns}
    assert kinds["prediction_id"] == (ingest.Kind.ID, ingest.Presence.VALUE)
    assert kinds["prediction"] == (ingest.Kind.CATEGORY, ingest.Presence.VALUE)
    assert kinds["age"] == (ingest.Kind.NUMBER, ingest.Presence.OPTIONAL)
    assert {"income", "plan", "region", "score", "label", "timestamp"} <= set(kinds)


def test_an_unknown_model_raises() -> None:
    with pytest.raises(ingest.UnknownModel, match="'nope'"):
        ingest.prediction_spec(_config({"name": "a", "model": "m", "schema": {"numerical": ["x"]}}), "nope")


def test_monitors_disagreeing_on_a_column_type_is_a_config_error() -> None:
    config = _config({"name": "a", "model": "m", "schema": {"numerical": ["x"]}},
                     {"name": "b", "model": "m", "schema": {"categorical": ["x"]}})
    with pytest.raises(ConfigError, match="'x'.*monitor 'b'"):
        ingest.prediction_spec(config, "m")


def test_renamed_id_and_timestamp_columns_are_stored_under_the_common_names() -> None:
    config = _config({"name": "a", "model": "m", "schema": {"prediction_id": "request_id", "timestamp": "at",
                                                            "numerical": ["x"]}})
    spec = ingest.prediction_spec(config, "m")
    body = b'[{"request_id": "r1", "at": "2025-01-01T00:00:00Z", "x": 1, "prediction": "y"}]'
    frame = ingest.parse_batch(body, ingest.Format.JSON, spec, now=NOW)
    assert frame.loc[0, "prediction_id"] == "r1"
    assert frame.loc[0, "timestamp"] == pd.Timestamp("2025-01-01T00:00:00Z")


def test_a_model_without_targets_takes_no_labels() -> None:
    config = _config({"name": "a", "model": "m", "schema": {"numerical": ["x"], "target": None}})
    with pytest.raises(ConfigError, match="no monitor of model 'm' declares a target"):
        ingest.label_spec(config, "m")


def test_every_format_gives_the_same_frame(config: DriftlineConfig) -> None:
    spec = ingest.prediction_spec(config, "churn")
    rows = prediction_rows(6)
    rows[1]["age"] = None
    rows[2]["plan"] = None
    rows[3]["timestamp"] = None
    frames = [ingest.parse_batch(encode(rows, ct), fmt, spec, now=NOW) for ct, fmt in FORMATS.items()]
    for frame in frames[1:]:
        pd.testing.assert_frame_equal(frame, frames[0])
    assert frames[0]["timestamp"].iloc[3] == pd.Timestamp(NOW)
    assert pd.isna(frames[0]["plan"].iloc[2]) and pd.isna(frames[0]["age"].iloc[1])
    assert all(str(frames[0][c].dtype) == "str" for c in ("prediction_id", "plan", "region", "prediction"))


def test_integer_categories_survive_gaps_in_every_format(config: DriftlineConfig) -> None:
    spec = ingest.prediction_spec(config, "churn")
    rows = prediction_rows(3)
    for i, row in enumerate(rows):
        row["plan"] = None if i == 1 else 10 ** 15 + i
    for ct in (JSON, NDJSON, PARQUET):  # pandas writes this column to CSV as floats
        frame = ingest.parse_batch(encode(rows, ct), FORMATS[ct], spec, now=NOW)
        assert values(frame["plan"]) == ["1000000000000000", None, "1000000000000002"], ct


def test_csv_text_is_kept_as_written(config: DriftlineConfig) -> None:
    spec = ingest.prediction_spec(config, "churn")
    body = b"prediction_id,prediction,plan,region\n007,1.0,0042,True\n"
    frame = ingest.parse_batch(body, ingest.Format.CSV, spec, now=NOW)
    assert frame.loc[0, ["prediction_id", "prediction", "plan", "region"]].tolist() == ["007", "1.0", "0042", "True"]


def test_date_like_categories_stay_text(config: DriftlineConfig) -> None:
    spec = ingest.prediction_spec(config, "churn")
    rows = prediction_rows(2, plan="2024-01-01", prediction="2024-02-01")
    for ct, fmt in FORMATS.items():
        frame = ingest.parse_batch(encode(rows, ct), fmt, spec, now=NOW)
        assert frame["plan"].tolist() == ["2024-01-01"] * 2, ct


def test_mixed_json_columns_are_read_value_by_value(config: DriftlineConfig) -> None:
    spec = ingest.prediction_spec(config, "churn")
    body = (b'[{"prediction_id": 1, "prediction": "a", "plan": "x", "region": false},'
            b' {"prediction_id": "2", "prediction": 0, "plan": 7, "region": "eu"}]')
    frame = ingest.parse_batch(body, ingest.Format.JSON, spec, now=NOW)
    assert frame[["prediction_id", "prediction", "plan", "region"]].to_dict("list") == {
        "prediction_id": ["1", "2"], "prediction": ["a", "0"], "plan": ["x", "7"], "region": ["false", "eu"]}


def test_csv_numbers_may_be_text_but_json_numbers_may_not(config: DriftlineConfig) -> None:
    spec = ingest.prediction_spec(config, "churn")
    csv_body = b"prediction_id,prediction,age\na,x,1.5\nb,y,NA\nc,z,\n"
    assert ingest.parse_batch(csv_body, ingest.Format.CSV, spec, now=NOW)["age"].tolist()[0] == 1.5
    with pytest.raises(ingest.BatchInvalid) as err:
        ingest.parse_batch(b'[{"prediction_id": "a", "prediction": "x", "age": "1.5"}]', ingest.Format.JSON, spec,
                           now=NOW)
    assert (err.value.row, err.value.field) == (0, "age")


@pytest.mark.parametrize("value", ["2300-01-01T00:00:00Z", "1600-01-01T00:00:00Z", "1700000000", "soon"])
def test_timestamps_must_be_iso_and_in_range(config: DriftlineConfig, value: str) -> None:
    spec = ingest.prediction_spec(config, "churn")
    body = f'[{{"prediction_id": "a", "prediction": "x", "timestamp": "{value}"}}]'.encode()
    with pytest.raises(ingest.BatchInvalid) as err:
        ingest.parse_batch(body, ingest.Format.JSON, spec, now=NOW)
    assert (err.value.row, err.value.field) == (0, "timestamp")


def test_parquet_timestamps_and_dictionary_columns_are_read(config: DriftlineConfig) -> None:
    spec = ingest.prediction_spec(config, "churn")
    frame = pd.DataFrame({"prediction_id": pd.array([1, 2], dtype="Int64"),
                          "timestamp": pd.to_datetime(["2025-01-01T00:00:00Z"] * 2).tz_convert("Europe/Paris"),
                          "plan": pd.Categorical(["gold", "basic"]), "prediction": [True, False]})
    buf = io.BytesIO()
    frame.to_parquet(buf)
    out = ingest.parse_batch(buf.getvalue(), ingest.Format.PARQUET, spec, now=NOW)
    assert out["timestamp"].tolist() == [pd.Timestamp("2025-01-01T00:00:00Z")] * 2
    assert out["plan"].tolist() == ["gold", "basic"]
    assert out["prediction"].tolist() == ["true", "false"]
    assert out["prediction_id"].tolist() == ["1", "2"]


def test_duplicate_csv_columns_are_named(config: DriftlineConfig) -> None:
    spec = ingest.prediction_spec(config, "churn")
    with pytest.raises(ingest.BatchInvalid) as err:
        ingest.parse_batch(b"prediction_id,prediction,age,age\na,x,1,2\n", ingest.Format.CSV, spec, now=NOW)
    assert (err.value.row, err.value.field) == (0, "age")
    assert "twice" in str(err.value)


def test_parquet_magic() -> None:
    assert ingest.looks_like_parquet(encode(prediction_rows(1), PARQUET))
    assert not ingest.looks_like_parquet(b"PAR1")
    assert not ingest.looks_like_parquet(b"prediction_id\n1\n")


def test_a_batch_without_rows_is_empty_whatever_its_header(config: DriftlineConfig) -> None:
    spec = ingest.prediction_spec(config, "churn")
    frame = ingest.parse_batch(b"prediction_id,colour\n", ingest.Format.CSV, spec, now=NOW)
    assert frame.empty and "prediction_id" in frame.columns
