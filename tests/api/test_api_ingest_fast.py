"""The fast path for small JSON/NDJSON batches (monitor._fast_ingest) against the general path.

The general path (Arrow's reader, pandas validation) is the oracle: on generated batches, valid
and invalid, of every column kind, ``parse_batch`` (which tries the fast path first) must give
the same frame or the same error, issue for issue, as ``validate_frame(read_frame(...))``.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any, cast

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor import _fast_ingest, ingest
from monitor.config import DriftlineConfig
from monitor.errors import BatchInvalid, BatchTooLarge, InputError

NOW = datetime(2025, 6, 1, 12, 30, 15, 123456, tzinfo=UTC)

CONFIG = DriftlineConfig.model_validate({"monitors": [
    {"name": "churn", "model": "churn", "every": "1h",
     "schema": {"numerical": ["age", "income"], "categorical": ["plan"], "text": ["note"],
                "prediction_score": "score", "target": "label"}},
    {"name": "price", "model": "price", "every": "1h",
     "schema": {"numerical": ["sqft"], "categorical": ["city"], "task": "regression"}},
]})
SPECS = {
    "churn": ingest.prediction_spec(CONFIG, "churn"),
    "price": ingest.prediction_spec(CONFIG, "price"),
    "labels": ingest.label_spec(CONFIG, "churn"),
    "price-labels": ingest.label_spec(CONFIG, "price"),
    "reference": ingest.reference_spec(CONFIG.monitors[0]),
}
FORMATS = [ingest.Format.JSON, ingest.Format.NDJSON]


def _general(body: bytes, fmt: ingest.Format, spec: ingest.BatchSpec,
             limits: ingest.Limits = ingest.DEFAULT_LIMITS) -> pd.DataFrame:
    """The general path alone (what parse_batch did before the fast path)."""
    return ingest.validate_frame(ingest.read_frame(body, fmt, spec, limits), spec, now=NOW)


def _outcome(call: Any) -> tuple[str, Any]:
    try:
        return "frame", call()
    except BatchInvalid as exc:
        return "invalid", (str(exc), exc.total, [(i.row, i.field, i.message) for i in exc.issues])
    except InputError as exc:  # BatchTooLarge included
        return type(exc).__name__, (str(exc), exc.field, exc.row)


def _encode(rows: list[Any], fmt: ingest.Format, ascii_only: bool) -> bytes:
    if fmt is ingest.Format.JSON:
        text = json.dumps(rows, ensure_ascii=ascii_only)
    else:
        text = "".join(json.dumps(r, ensure_ascii=ascii_only) + "\n" for r in rows)
    return text.encode("utf-8", "surrogatepass")  # a raw surrogate is invalid UTF-8: the general path says so


def _assert_same(body: bytes, fmt: ingest.Format, spec: ingest.BatchSpec,
                 limits: ingest.Limits = ingest.DEFAULT_LIMITS) -> bool:
    """parse_batch and the general path agree on ``body``; returns whether the fast path took it."""
    expected = _outcome(lambda: _general(body, fmt, spec, limits))
    got = _outcome(lambda: ingest.parse_batch(body, fmt, spec, now=NOW, limits=limits))
    fast = _outcome(lambda: _fast_ingest.fast_batch(body, spec, lines=fmt is ingest.Format.NDJSON, now=NOW,
                                                    limits=limits))
    assert got[0] == expected[0], (body, got, expected)
    if expected[0] == "frame":
        pd.testing.assert_frame_equal(got[1], expected[1], check_exact=True)
        if fast[0] == "frame" and fast[1] is not None:
            pd.testing.assert_frame_equal(fast[1], expected[1], check_exact=True)
            return True
        return False
    assert got[1] == expected[1]
    assert fast[0] in ("frame", expected[0])  # it fell back (None) or raised the same limit error
    if fast[0] == "frame":
        assert fast[1] is None, "the fast path accepted a batch the general path refuses"
    return False


VALID_TIMESTAMPS = st.one_of(
    st.datetimes(min_value=datetime(1700, 1, 1), max_value=datetime(2250, 1, 1)).map(lambda d: d.isoformat()),
    st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)).map(
        lambda d: d.isoformat().replace("+00:00", "Z")),
    st.builds(lambda d, h, m, sign: d.isoformat(timespec="seconds") + f"{sign}{h:02d}:{m:02d}",
              st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2099, 1, 1)),
              st.integers(0, 14), st.sampled_from([0, 30, 45]), st.sampled_from("+-")),
)
TIMESTAMPS = st.one_of(
    st.datetimes(min_value=datetime(1600, 1, 1), max_value=datetime(2300, 1, 1)).map(
        lambda d: d.isoformat()),
    st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)).map(
        lambda d: d.isoformat().replace("+00:00", "Z")),
    st.builds(lambda d, h, m, sign: d.isoformat(timespec="seconds") + f"{sign}{h:02d}:{m:02d}",
              st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2099, 1, 1)),
              st.integers(0, 23), st.sampled_from([0, 30, 45, 59]), st.sampled_from("+-")),
    st.sampled_from(["2024-01-01", "2024-01-01 10:00:00", "2024-02-30T00:00:00Z", "2024-01-01T10:00:00.123456789Z",
                     "2024-01-01T24:00:00Z", "20240101T100000Z", "2261-12-31T23:59:59Z", "1677-12-31T00:00:00Z",
                     "2024-01-01T10:00:00+05", "yesterday", "", "2024-06-01T10:00:00.5+02:00"]),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-10, 10),
    st.integers(-(2**70), 2**70),
    st.sampled_from([2**53 - 1, 2**53, -(2**53), 2**63, 7.0, -0.0, 1.5, 1e300, 2.0**53]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.floats(-1e6, 1e6),
    st.text(max_size=6),
    st.sampled_from(["", "eu", "7", "true", "2024-01-01", "a\x00b", "\ud800", "x\udcffy", "é", "1.5", "NaN"]),
    TIMESTAMPS,
)
VALUES = st.one_of(SCALARS, SCALARS, SCALARS, st.lists(st.integers(), max_size=2),
                   st.dictionaries(st.sampled_from("ab"), st.integers(), max_size=1))


@st.composite
def batches(draw: st.DrawFn) -> tuple[str, ingest.Format, bytes]:
    """A batch of one spec: all clean values, clean but one bad or strange value, or anything."""
    name = draw(st.sampled_from(sorted(SPECS)))
    spec = SPECS[name]
    names = [c.name for c in spec.columns] + sorted(spec.ignored)
    mode = draw(st.sampled_from(["clean", "clean", "one-off", "random"]))
    rows = []
    for i in range(draw(st.integers(1, 12))):
        row: dict[str, Any] = {}
        for col in spec.columns:
            if mode != "random":
                optional = col.presence is ingest.Presence.OPTIONAL or (col.presence is ingest.Presence.COLUMN and i)
                value = _clean_value(draw, col, i) if draw(st.booleans()) or not optional else None
                if value is not None or draw(st.booleans()):  # missing: null or absent
                    row[col.name] = value
            elif draw(st.booleans()):
                row[col.name] = draw(VALUES)
        for other in sorted(spec.ignored):
            if draw(st.booleans()):
                row[other] = draw(VALUES)
        rows.append(row)
    if mode == "one-off":  # one value replaced, or one key added (maybe unknown)
        row = draw(st.sampled_from(rows))
        row[draw(st.sampled_from([*names, "unknown"]))] = draw(VALUES)
    fmt = draw(st.sampled_from(FORMATS))
    return name, fmt, _encode(rows, fmt, draw(st.booleans()))


def _clean_value(draw: st.DrawFn, col: ingest.Column, i: int) -> Any:
    if col.kind is ingest.Kind.ID:
        return draw(st.sampled_from([f"p-{i}", i, f"id {i} é"]))
    if col.kind is ingest.Kind.TIMESTAMP:
        return draw(VALID_TIMESTAMPS)
    if col.kind is ingest.Kind.NUMBER:
        return draw(st.one_of(st.integers(-1000, 1000), st.floats(allow_nan=False, allow_infinity=False)))
    return draw(st.one_of(st.text(max_size=5), st.integers(-5, 5), st.booleans(),
                          st.sampled_from([3.0, "2024-01-01", "x"])))


TAKEN: list[bool] = []


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches())
def test_the_fast_path_agrees_with_the_general_path(batch: tuple[str, ingest.Format, bytes]) -> None:
    name, fmt, body = batch
    TAKEN.append(_assert_same(body, fmt, SPECS[name]))


def test_the_generated_batches_exercise_both_paths() -> None:
    # Runs after the property test (file order): a generator that never reached the fast path
    # (or never left it) would make the equivalence above say nothing.
    if not TAKEN:
        pytest.skip("run with the property test")
    assert 0.1 < sum(TAKEN) / len(TAKEN) < 0.9, sum(TAKEN) / len(TAKEN)


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_small_clean_batch_takes_the_fast_path(fmt: ingest.Format, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [{"prediction_id": f"p-{i}", "timestamp": "2025-03-01T10:00:00Z" if i else None, "age": 30 + i,
             "income": 1000.5, "plan": "gold" if i % 2 else 7, "note": "free text", "score": 0.25,
             "prediction": True, "label": None} for i in range(10)]
    body = _encode(rows, fmt, True)
    expected = _general(body, fmt, SPECS["churn"])

    def general(*args: Any, **kwargs: Any) -> pd.DataFrame:
        raise AssertionError("the general path ran")

    monkeypatch.setattr(ingest, "read_frame", general)
    frame = ingest.parse_batch(body, fmt, SPECS["churn"], now=NOW)
    pd.testing.assert_frame_equal(frame, expected, check_exact=True)
    assert frame["plan"].tolist()[:2] == ["7", "gold"] and frame["prediction"].iloc[0] == "true"
    assert frame["timestamp"].iloc[0] == pd.Timestamp(NOW) and frame["age"].dtype == "float64"


@pytest.mark.parametrize("body", [
    b'[{"prediction_id": "p", "prediction": "y", "age": [1]}]',  # a nested value
    b'[{"prediction_id": "p", "prediction": "y", "age": NaN}]',  # NaN: missing on the general path
    b'[{"prediction_id": "p", "prediction": "y", "prediction": "z"}]',  # a repeated key
    b'[{"prediction_id": "p", "prediction": "y", "age": "1"}]',  # a bad value: the general path names it
    b'[{"prediction_id": "p", "prediction": "y", "zip": 1}]',  # an unknown column
    b'[{"prediction_id": "p", "prediction": "y", "timestamp": "2024-01-01"}]',  # another ISO form
    b'[{"prediction_id": "p", "prediction": "\\u0000"}]',  # NUL
    b'{"prediction_id": "p", "prediction": "y"}',  # not an array
    b"[]",
])
def test_anything_unusual_falls_back(body: bytes) -> None:
    spec = SPECS["churn"]
    assert _fast_ingest.fast_batch(body, spec, lines=False, now=NOW, limits=ingest.DEFAULT_LIMITS) is None
    _assert_same(body, ingest.Format.JSON, spec)


def test_more_rows_than_the_fast_limit_fall_back() -> None:
    rows = [{"prediction_id": f"p-{i}", "prediction": "y"} for i in range(_fast_ingest.MAX_ROWS + 1)]
    body = _encode(rows, ingest.Format.JSON, True)
    assert _fast_ingest.fast_batch(body, SPECS["churn"], lines=False, now=NOW, limits=ingest.DEFAULT_LIMITS) is None
    assert len(ingest.parse_batch(body, ingest.Format.JSON, SPECS["churn"], now=NOW)) == _fast_ingest.MAX_ROWS + 1


def test_a_column_kind_it_does_not_know_falls_back() -> None:
    spec = SPECS["churn"]
    other = ingest.BatchSpec(what=spec.what, columns=(*spec.columns, ingest.Column(
        name="vec", kind=cast(ingest.Kind, "embedding"), output="vec")))  # vectors: not handled there
    body = b'[{"prediction_id": "p", "prediction": "y"}]'
    assert _fast_ingest.fast_batch(body, other, lines=False, now=NOW, limits=ingest.DEFAULT_LIMITS) is None


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_batch_limits_are_checked_before_the_fast_path_parses(fmt: ingest.Format) -> None:
    rows = [{"prediction_id": f"p-{i}", "prediction": "y"} for i in range(5)]
    body = _encode(rows, fmt, True)
    limits = ingest.Limits(max_rows=4)
    with pytest.raises(BatchTooLarge, match="DRIFTLINE_MAX_BATCH_ROWS"):
        _fast_ingest.fast_batch(body, SPECS["churn"], lines=fmt is ingest.Format.NDJSON, now=NOW, limits=limits)
    _assert_same(body, fmt, SPECS["churn"], limits)
    deep = b'[{"prediction_id": "p", "prediction": "y", "age": ' + b"[" * 40 + b"]" * 40 + b"}]"
    with pytest.raises(InputError, match="DRIFTLINE_MAX_NESTING_DEPTH"):
        _fast_ingest.fast_batch(deep, SPECS["churn"], lines=False, now=NOW, limits=ingest.DEFAULT_LIMITS)
