"""Parsing and validation of ingest batches: bytes in, one typed frame (or every problem) out.

Pure: no I/O, clock or logging. The caller passes ``now``, the time given to rows without a
timestamp, and decides what to do with the frame.

Formats (:class:`Format`): a JSON array of objects, NDJSON (one object a line; blank lines are
skipped and do not count as rows), CSV with a header, and Parquet. JSON, NDJSON and CSV are
read by Arrow's readers; a JSON batch that Arrow cannot type (a column mixing ``"7"`` and ``7``,
or date-like text in a category, which Arrow would read as a date) falls back to the standard
library's parser, which is slower but takes anything valid. Before either, a small JSON or
NDJSON batch (up to 1,000 rows) whose values are all clean scalars is read and checked value by
value by :mod:`monitor._fast_ingest`, which gives the same frame without pandas' fixed cost per
column (a 10-row request was 10-30 ms of CPU); any batch it is unsure of comes here unchanged.

What a batch must hold is a :class:`BatchSpec` built from the configuration: the union of the
columns of every monitor of a model (:func:`prediction_spec`), the labels of a model
(:func:`label_spec`) or a monitor's reference columns (:func:`reference_spec`). Every column is
checked at once, vectorised; Python loops run over bad rows only, plus over a JSON column whose
values mix types. A batch with any problem raises :class:`BatchInvalid` listing the first
:data:`MAX_ISSUES` problems by row and column, so a rejected batch never reaches the store.

Data policy, per kind of column:

- ``number`` (numerical features, regression predictions and labels, scores): an integer or a
  float; in CSV, text that parses as one. Booleans, other text and ±inf are refused. Missing
  (``null``, absent, NaN) is kept as NaN.
- ``category`` (categorical features, classification predictions and labels): a string, an
  integer or a boolean, stored as text (``7`` -> ``"7"``, ``true`` -> ``"true"``). A float is
  taken if it is an exact integer below 2**53 (pandas writes integer columns with gaps as
  floats), else refused. CSV text is kept as written.
- ``id``: a non-empty string or an integer, stored as text.
- ``timestamp``: ISO 8601 text (an offset is honoured; none means UTC) or a typed timestamp
  (Parquet; naive means UTC), within 1678-2261. Epoch numbers are refused. A missing timestamp
  (per row) is ``now``.
- ``embedding`` (``schema.embedding``, with its ``dim``): a vector of exactly ``dim`` finite
  numbers, each within float32's range (the store keeps float32): a JSON array, a Parquet
  ``list`` / ``large_list`` / ``fixed_size_list`` of numbers, or in CSV a JSON array as text.
  ``null`` (or absent) is missing; a wrong length, a non-number element (booleans, text, a nested
  array, ``null`` inside), NaN or ±inf inside are refused by row.
- In CSV, an empty field and ``NA``, ``N/A``, ``NaN``, ``nan``, ``null``, ``NULL`` are missing.

The frame handed on has ``prediction_id`` and ``timestamp`` (``datetime64[ns, UTC]``), then the
columns of the spec under the names of the monitor schema: numbers as float64 (NaN when
missing), ids and categories as pandas' ``str`` dtype (Arrow-backed; NaN when missing),
embeddings as an ``object`` column of float64 vectors (rows of one matrix; None when missing).
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.json as pa_json
import pyarrow.parquet as pq
from numpy.typing import NDArray

from monitor._fast_ingest import fast_batch
from monitor._scan import BatchTooLarge, Limits, check_parquet, check_rows, json_shape
from monitor.config import DriftlineConfig, MonitorConfig

# UnknownModel and BatchInvalid (at most MAX_ISSUES issues) live in the one error tree; importable from here too.
from monitor.errors import BatchInvalid, ConfigError, InputError, UnknownModel
from monitor.stats.performance import Task

__all__ = [
    "DEFAULT_LIMITS",
    "MAX_ISSUES",
    "BatchInvalid",
    "BatchSpec",
    "BatchTooLarge",
    "Column",
    "Format",
    "Issue",
    "Kind",
    "Limits",
    "Presence",
    "UnknownModel",
    "label_spec",
    "looks_like_parquet",
    "parse_batch",
    "prediction_spec",
    "read_frame",
    "reference_spec",
    "validate_frame",
]

#: At most this many problems are reported for one batch (the total is counted).
MAX_ISSUES = 100

#: The limits of a batch when the caller gives none (those of the default settings).
DEFAULT_LIMITS = Limits()

_CSV_NULLS = ["", "NA", "N/A", "NaN", "nan", "null", "NULL"]
_EXACT_INT = 2.0**53
_TS_MIN = pd.Timestamp("1678-01-01", tz="UTC")
_TS_MAX = pd.Timestamp("2262-01-01", tz="UTC")


class Format(StrEnum):
    """The encodings an ingest body may have."""

    JSON = "json"
    NDJSON = "ndjson"
    CSV = "csv"
    PARQUET = "parquet"


class Kind(StrEnum):
    """What a column's values must be."""

    ID = "id"
    TIMESTAMP = "timestamp"
    NUMBER = "number"
    CATEGORY = "category"
    EMBEDDING = "embedding"


class Presence(StrEnum):
    """How much of a column a batch must carry."""

    OPTIONAL = "optional"
    COLUMN = "column"  # at least one row needs a value
    VALUE = "value"  # every row needs a value


_EXPECTED = {
    Kind.ID: "a non-empty string or an integer",
    Kind.TIMESTAMP: "an ISO 8601 timestamp between 1678 and 2261",
    Kind.NUMBER: "a finite number",
    Kind.CATEGORY: "a string, an integer or a boolean",
    Kind.EMBEDDING: "a vector of finite numbers",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Column:
    """One accepted column: its name in the batch, its kind, and its name in the output frame."""

    name: str
    kind: Kind
    presence: Presence = Presence.OPTIONAL
    output: str
    dim: int | None = None  # an embedding's vector length

@dataclass(frozen=True, slots=True, kw_only=True)
class BatchSpec:
    """The columns a batch may hold; ``ignored`` columns are accepted and dropped.

    The output has every column of the spec, or, with ``drop_empty``, only those with a value.
    """

    what: str
    columns: tuple[Column, ...]
    ignored: frozenset[str] = frozenset()
    drop_empty: bool = False


@dataclass(frozen=True, slots=True)
class Issue:
    """One problem of a batch: the 0-based row (None for the body as a whole) and the column."""

    row: int | None
    field: str | None
    message: str

    def __str__(self) -> str:
        where = [f"row {self.row}" if self.row is not None else "", f"field {self.field!r}" if self.field else ""]
        prefix = ", ".join(w for w in where if w)
        return f"{prefix}: {self.message}" if prefix else self.message


# --- specs from the configuration -------------------------------------------------------------


def _output_kind(task: Task) -> Kind:
    return Kind.CATEGORY if task is Task.CLASSIFICATION else Kind.NUMBER


def _monitors_of(config: DriftlineConfig, model: str) -> list[MonitorConfig]:
    monitors = [m for m in config.monitors if m.model == model]
    if not monitors:
        raise UnknownModel(model)
    return monitors


def _agreed(monitors: list[MonitorConfig], key: Callable[[MonitorConfig], str], what: str) -> str:
    values = sorted({key(m) for m in monitors})
    if len(values) > 1:
        raise ConfigError(f"the monitors of model {monitors[0].model!r} name the {what} column differently "
                          f"({', '.join(map(repr, values))}); one model has one prediction log")
    return values[0]


def _merge(columns: dict[str, Column], new: Column, monitor: str) -> None:
    old = columns.get(new.name)
    if old is None:
        columns[new.name] = new
    elif old.kind is not new.kind:
        raise ConfigError(f"column {new.name!r} is a {old.kind} in one monitor of the model and a "
                          f"{new.kind} in monitor {monitor!r}")
    elif old.dim != new.dim:
        raise ConfigError(f"embedding {new.name!r} has dim {old.dim} in one monitor of the model and "
                          f"{new.dim} in monitor {monitor!r}")
    elif new.presence is Presence.VALUE:
        columns[new.name] = new


def _spec(what: str, columns: list[Column], ignored: frozenset[str] = frozenset(), *,
          drop_empty: bool = False) -> BatchSpec:
    outputs = [c.output for c in columns]
    clash = sorted({o for o in outputs if outputs.count(o) > 1})
    if clash:
        raise ConfigError(f"{what}: two columns would be stored as {clash[0]!r}; rename one in the schema")
    return BatchSpec(what=what, columns=tuple(columns), ignored=ignored, drop_empty=drop_empty)


def prediction_spec(config: DriftlineConfig, model: str) -> BatchSpec:
    """The prediction log of ``model``: the union of the columns of all its monitors."""
    monitors = _monitors_of(config, model)
    id_name = _agreed(monitors, lambda m: m.schema_.prediction_id, "prediction id")
    ts_name = _agreed(monitors, lambda m: m.schema_.timestamp, "timestamp")
    columns = {
        id_name: Column(name=id_name, kind=Kind.ID, presence=Presence.VALUE, output="prediction_id"),
        ts_name: Column(name=ts_name, kind=Kind.TIMESTAMP, output="timestamp"),
    }
    for m in monitors:
        s = m.schema_
        out = _output_kind(s.task)
        roles: list[tuple[str | None, Kind, Presence]] = [
            (s.prediction, out, Presence.VALUE),
            (s.prediction_score, Kind.NUMBER, Presence.OPTIONAL),
            (s.target, out, Presence.OPTIONAL),
            *((n, Kind.NUMBER, Presence.OPTIONAL) for n in s.numerical),
            *((n, Kind.CATEGORY, Presence.OPTIONAL) for n in s.categorical),
            *((n, Kind.CATEGORY, Presence.OPTIONAL) for n in s.text),  # text features are stored as text
        ]
        for name, kind, presence in roles:
            if name is not None:
                _merge(columns, Column(name=name, kind=kind, presence=presence, output=name), m.name)
        for name, dim in s.embedding.items():
            _merge(columns, Column(name=name, kind=Kind.EMBEDDING, output=name, dim=dim), m.name)
    return _spec(f"model {model!r}", list(columns.values()))


def label_spec(config: DriftlineConfig, model: str) -> BatchSpec:
    """Labels of ``model``: ``prediction_id``, ``label`` (typed like its predictions), ``timestamp``."""
    monitors = [m for m in _monitors_of(config, model) if m.schema_.target is not None]
    if not monitors:
        raise ConfigError(f"no monitor of model {model!r} declares a target, so it takes no labels")
    kinds = {_output_kind(m.schema_.task) for m in monitors}
    if len(kinds) > 1:
        raise ConfigError(f"the monitors of model {model!r} disagree on its task (classification or regression)")
    return _spec(f"labels of model {model!r}", [
        Column(name="prediction_id", kind=Kind.ID, presence=Presence.VALUE, output="prediction_id"),
        Column(name="label", kind=kinds.pop(), presence=Presence.VALUE, output="label"),
        Column(name="timestamp", kind=Kind.TIMESTAMP, output="timestamp"),
    ])


def reference_spec(monitor: MonitorConfig) -> BatchSpec:
    """A reference of ``monitor``: features and prediction with values; score and target optional.

    ``prediction_id`` and ``timestamp`` columns are accepted and dropped, and so is an optional
    column without any value, so the reference has exactly the columns it can be fitted on.
    """
    s = monitor.schema_
    out = _output_kind(s.task)
    columns = [Column(name=n, kind=Kind.NUMBER, presence=Presence.COLUMN, output=n) for n in s.numerical]
    columns += [Column(name=n, kind=Kind.CATEGORY, presence=Presence.COLUMN, output=n) for n in s.categorical]
    columns += [Column(name=n, kind=Kind.CATEGORY, presence=Presence.COLUMN, output=n) for n in s.text]
    columns += [Column(name=n, kind=Kind.EMBEDDING, presence=Presence.COLUMN, output=n, dim=d)
                for n, d in s.embedding.items()]
    columns.append(Column(name=s.prediction, kind=out, presence=Presence.COLUMN, output=s.prediction))
    if s.prediction_score:
        columns.append(Column(name=s.prediction_score, kind=Kind.NUMBER, output=s.prediction_score))
    if s.target:
        columns.append(Column(name=s.target, kind=out, output=s.target))
    return _spec(f"monitor {monitor.name!r}", columns, frozenset({s.prediction_id, s.timestamp}), drop_empty=True)


# --- reading bytes into a raw frame -----------------------------------------------------------


def looks_like_parquet(body: bytes) -> bool:
    """Whether ``body`` starts and ends with Parquet's magic bytes."""
    return len(body) >= 8 and body[:4] == b"PAR1" and body[-4:] == b"PAR1"


def _first_line(exc: BaseException, limit: int = 200) -> str:
    text = str(exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:limit]


#: Arrow integers become pandas' nullable integers, so a gap does not turn 7 into 7.0.
_INT_DTYPES: dict[pa.DataType, Any] = {
    pa.int8(): pd.Int8Dtype(), pa.int16(): pd.Int16Dtype(), pa.int32(): pd.Int32Dtype(),
    pa.int64(): pd.Int64Dtype(), pa.uint8(): pd.UInt8Dtype(), pa.uint16(): pd.UInt16Dtype(),
    pa.uint32(): pd.UInt32Dtype(), pa.uint64(): pd.UInt64Dtype(),
}


#: A NUL character or a lone surrogate: text no store can hold (PostgreSQL refuses NUL, and a lone
#: surrogate has no UTF-8 encoding). ``surrogateescape`` also turns undecodable bytes into these.
_BAD_TEXT = re.compile("[\x00\ud800-\udfff]")
_UNDECODED = re.compile("[\udc80-\udcff]")


def _safe(name: str) -> str:
    """A column name as it can be echoed in a JSON response (escaped if it is not clean text)."""
    return ascii(name)[1:-1] if _BAD_TEXT.search(name) else name


def _check_utf8(table: pa.Table) -> None:
    """Refuse text that is not UTF-8 (Arrow's JSON and Parquet readers pass it through), naming
    the first bad row of each column, before pandas would fail to decode it."""
    try:
        table.validate(full=True)
        return
    except pa.ArrowInvalid:
        pass
    issues: list[Issue] = []
    for f, column in zip(table.schema, table.columns, strict=True):
        try:
            column.validate(full=True)
        except pa.ArrowInvalid:
            row = None
            if pa.types.is_string(f.type) or pa.types.is_large_string(f.type):
                raw = column.cast(pa.large_binary()).to_pylist()  # the bad path only: find the row
                row = next((i for i, v in enumerate(raw) if v is not None and not _decodes(v)), None)
            issues.append(Issue(row, _safe(f.name), "not valid UTF-8 text"))
    raise BatchInvalid(issues or [Issue(None, "body", "not valid UTF-8 text")], max(len(issues), 1))


def _decodes(value: bytes) -> bool:
    try:
        value.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _arrow_frame(table: pa.Table) -> pd.DataFrame:
    for i, f in enumerate(table.schema):
        if pa.types.is_dictionary(f.type):
            table = table.set_column(i, f.name, table.column(i).cast(f.type.value_type))
    _check_utf8(table)
    frame: pd.DataFrame = table.to_pandas(types_mapper=_INT_DTYPES.get)
    return frame if isinstance(frame.index, pd.RangeIndex) else frame.reset_index(drop=True)


def _records_frame(records: list[Any], limits: Limits) -> pd.DataFrame:
    """Python records as a frame of Python values (``object`` columns), so an integer too large for
    int64 keeps every digit; the distinct keys are counted before any frame is built."""
    if set(map(type, records)) - {dict}:
        row = next(i for i, r in enumerate(records) if not isinstance(r, dict))
        raise InputError(f"row {row}: expected a JSON object, got {_show(records[row])}", row=row)
    keys: set[str] = set().union(*records)
    if len(keys) > limits.max_columns:
        shown = ", ".join(_show(k) for k in sorted(keys)[:5])
        raise InputError(f"the batch has {len(keys)} distinct columns ({shown}, ...), over the limit of "
                         f"{limits.max_columns} (DRIFTLINE_MAX_BATCH_COLUMNS)", field="body")
    check_rows(len(records), len(records) * len(keys), limits)
    unsafe = {k for k in keys if _BAD_TEXT.search(k)}
    if unsafe:  # a key no column index can hold: renamed to its escaped text (and then unknown)
        records = [{_safe(k) if k in unsafe else k: v for k, v in r.items()} for r in records]
    return pd.DataFrame(records, dtype=object) if records else pd.DataFrame()


def _arrow_safe(body: bytes, spec: BatchSpec, keys: int) -> bool:
    """Whether Arrow may read a JSON body: every key is one of the spec's (Arrow slows down with
    each new field name).

    A key is counted as ``"name":`` not preceded by a backslash: in valid JSON that is a key and
    nothing else, so the counts match the colons outside strings exactly when all keys are known.
    """
    known = 0
    for name in {c.name for c in spec.columns} | spec.ignored:
        token = json.dumps(name, ensure_ascii=False).encode() + b":"
        known += body.count(token) - body.count(b"\\" + token)
    return known == keys


def _inexact(table: pa.Table, spec: BatchSpec) -> bool:
    """Whether Arrow read an id or category as a float that may have lost digits: an integer
    beyond int64 becomes a double, so ``12345678901234567890`` would be stored rounded."""
    text = {c.name for c in spec.columns if c.kind in (Kind.ID, Kind.CATEGORY)}
    for f, column in zip(table.schema, table.columns, strict=True):
        if f.name in text and pa.types.is_floating(f.type) and column.null_count < len(column):
            biggest = pc.max(pc.abs(column)).as_py()
            if biggest is not None and biggest >= _EXACT_INT:
                return True
    return False


def _load_json(text: bytes, where: str, row: int | None = None) -> Any:
    try:
        return json.loads(text)
    except UnicodeDecodeError as exc:
        raise InputError(f"{where}is not valid UTF-8 (byte {exc.start})", field=None if row is not None else "body",
                         row=row) from exc
    except (ValueError, RecursionError) as exc:
        raise InputError(f"{where}is not valid JSON: {_first_line(exc)}", field=None if row is not None else "body",
                         row=row) from exc


def _text_fields(spec: BatchSpec) -> list[pa.Field]:
    """Timestamps are read as text and parsed by our rules, not by Arrow's type inference; an
    embedding as a list of doubles (anything else in it, a boolean or a nested array, makes Arrow
    fail and the standard library's parser read the body, so the row is named)."""
    return [pa.field(c.name, pa.string()) for c in spec.columns if c.kind is Kind.TIMESTAMP] + \
        [pa.field(c.name, pa.list_(pa.float64())) for c in spec.columns if c.kind is Kind.EMBEDDING]


def _inferred_frame(table: pa.Table, spec: BatchSpec) -> pd.DataFrame | None:
    """The frame of an Arrow table, or None if inference took text for timestamps: Arrow reads
    ``"2024-01-01"`` as a date, and a category or id must keep its text as sent."""
    text = {c.name for c in spec.columns if c.kind in (Kind.ID, Kind.CATEGORY)}
    if any(f.name in text and pa.types.is_temporal(f.type) for f in table.schema):
        return None
    return _arrow_frame(table)


def _read_json(body: bytes, spec: BatchSpec, limits: Limits) -> pd.DataFrame:
    shape = json_shape(body, lines=False, max_depth=limits.max_depth)
    check_rows(shape.rows, shape.values, limits)
    if _arrow_safe(body, spec, shape.keys):
        wrapped = b'{"rows":' + body + b"}"
        options = pa_json.ParseOptions(newlines_in_values=True, unexpected_field_behavior="infer",
                                       explicit_schema=pa.schema([("rows", pa.list_(pa.struct(_text_fields(spec))))]))
        try:
            table = pa_json.read_json(io.BytesIO(wrapped), parse_options=options,
                                      read_options=pa_json.ReadOptions(block_size=len(wrapped) + 64))
            if table.num_columns == 1 and table.num_rows == 1 and table.column(0).null_count == 0:
                structs = table.column(0).chunk(0).flatten()
                rows = pa.Table.from_struct_array(structs) if structs.null_count == 0 else None
                if rows is not None and not _inexact(rows, spec):
                    frame = _inferred_frame(rows, spec)
                    if frame is not None:
                        return frame
        except pa.ArrowException:
            pass  # mixed types in a column, or not an array of objects: parse in Python
    data = _load_json(body, "the body ")
    if not isinstance(data, list):
        got = "null" if data is None else type(data).__name__
        raise InputError(f"the body must be a JSON array of objects, not {got}", field="body")
    return _records_frame(data, limits)


def _read_ndjson(body: bytes, spec: BatchSpec, limits: Limits) -> pd.DataFrame:
    shape = json_shape(body, lines=True, max_depth=limits.max_depth)
    check_rows(shape.rows, shape.values, limits)
    if _arrow_safe(body, spec, shape.keys):
        options = pa_json.ParseOptions(explicit_schema=pa.schema(_text_fields(spec)),
                                       unexpected_field_behavior="infer")
        try:
            table = pa_json.read_json(io.BytesIO(body), parse_options=options)
            frame = None if _inexact(table, spec) else _inferred_frame(table, spec)
            if frame is not None:
                return frame
        except pa.ArrowException:
            pass  # mixed types in a column, or a bad line: parse line by line
    records = [_load_json(line, f"row {row}: ", row)
               for row, line in enumerate(ln for ln in body.splitlines() if ln.strip())]
    return _records_frame(records, limits)


def _csv_ragged_row(body: bytes) -> int | None:
    """The first data row (0-based) whose field count differs from the header's."""
    reader = csv.reader(io.TextIOWrapper(io.BytesIO(body), encoding="utf-8", errors="replace", newline=""))
    header = next(reader, [])
    return next((i for i, fields in enumerate(reader) if len(fields) != len(header)), None)


def _csv_problem(body: bytes) -> InputError | None:
    """The first unterminated quote or undecodable field of a CSV body, by row (0-based) and field."""
    reader = csv.reader(io.TextIOWrapper(io.BytesIO(body), encoding="utf-8", errors="surrogateescape",
                                         newline=""), strict=True)
    row = -1  # the header
    try:
        header = next(reader, [])
        for row, fields in enumerate(reader):
            for name, value in zip(header, fields, strict=False):
                if _UNDECODED.search(value):
                    return InputError(f"row {row}, field {_safe(name)!r}: not valid UTF-8 text", field=_safe(name),
                                      row=row)
    except csv.Error as exc:
        row += 1  # the row being read when the error came
        return InputError(f"row {row}: the body is not readable CSV: {exc} (a quote opened in this row "
                          "is never closed)", field="body", row=row)
    return None


def _read_csv(body: bytes, spec: BatchSpec, limits: Limits) -> pd.DataFrame:
    header = body.split(b"\n", 1)[0]
    columns = header.count(b",") + 1
    if columns > limits.max_columns:
        raise InputError(f"the CSV header has {columns} fields, over the limit of {limits.max_columns} "
                         "(DRIFTLINE_MAX_BATCH_COLUMNS)", field="body")
    rows = body.count(b"\n")
    check_rows(rows, rows * columns, limits)
    if body.count(b'"') % 2:  # an odd number of quotes: one opens a field that never ends
        raise _csv_problem(body) or InputError("the body is not readable CSV: a quote is never closed",
                                               field="body")
    text_columns = {c.name: pa.string() for c in spec.columns if c.kind is not Kind.NUMBER}
    try:
        table = pa_csv.read_csv(io.BytesIO(body), convert_options=pa_csv.ConvertOptions(
            column_types=text_columns, null_values=_CSV_NULLS, strings_can_be_null=True))
    except pa.ArrowException as exc:
        row = _csv_ragged_row(body)
        if row is not None:
            raise InputError(f"row {row}: the number of fields differs from the header's", row=row) from exc
        raise _csv_problem(body) or InputError(f"the body is not readable CSV: {_first_line(exc)}",
                                               field="body") from exc
    return _arrow_frame(table)


def _read_parquet(body: bytes, limits: Limits) -> pd.DataFrame:
    """A Parquet body, within the limits its footer declares and within what it really inflates to."""
    try:
        file = pq.ParquetFile(pa.BufferReader(body))
        check_parquet(file.metadata, limits)
        batches, size = [], 0
        for batch in file.iter_batches(batch_size=64 * 1024):
            size += batch.nbytes
            if size > limits.max_decompressed_bytes:
                raise BatchTooLarge(f"the Parquet file inflates to more than {size} bytes",
                                    setting="DRIFTLINE_MAX_DECOMPRESSED_BYTES", limit=limits.max_decompressed_bytes)
            batches.append(batch)
        table = pa.Table.from_batches(batches, schema=file.schema_arrow)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"the body is not a readable Parquet file: {_first_line(exc)}", field="body") from exc
    return _arrow_frame(table)


def read_frame(body: bytes, fmt: Format, spec: BatchSpec, limits: Limits = DEFAULT_LIMITS) -> pd.DataFrame:
    """The body as a raw frame, one column per field as sent (CSV reads ``spec``'s text columns as text).

    The body is measured against ``limits`` before a parser reads it (:mod:`monitor._scan`).
    """
    if not body or body.isspace():
        raise InputError("the body is empty", field="body")
    if fmt is Format.JSON:
        return _read_json(body, spec, limits)
    if fmt is Format.NDJSON:
        return _read_ndjson(body, spec, limits)
    if fmt is Format.CSV:
        return _read_csv(body, spec, limits)
    return _read_parquet(body, limits)


# --- validating and converting columns --------------------------------------------------------

_Converted = tuple[pd.Series, NDArray[np.bool_]]


def _show(value: Any) -> str:
    text = repr(value.item() if isinstance(value, np.generic) else value)
    return text if len(text) <= 40 else text[:37] + "..."


def _is_text(dtype: Any) -> bool:
    return isinstance(dtype, pd.StringDtype)


def _is_real(v: Any) -> bool:
    return isinstance(v, int | float | Decimal | np.integer | np.floating) and not isinstance(v, bool | np.bool_)


def _numbers(s: pd.Series, present: NDArray[np.bool_], textual: bool) -> _Converted:
    dtype = s.dtype
    values = np.full(len(s), np.nan)
    if pd.api.types.is_bool_dtype(dtype):
        pass
    elif pd.api.types.is_numeric_dtype(dtype):
        values = s.to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
    elif (_is_text(dtype) or dtype == object) and present.any():  # noqa: E721 -- a dtype, not a type
        if not textual:  # JSON or Parquet: text is not a number
            s = s.where(s.map(_is_real).to_numpy(dtype=bool))
        values = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan, copy=True)
    with np.errstate(invalid="ignore"):
        bad = present & ~np.isfinite(values)
    values[bad] = np.nan
    return pd.Series(values, index=s.index, dtype=np.float64), bad


_BAD = object()


def _category_value(v: Any, *, allow_bool: bool) -> Any:
    if v is None or (isinstance(v, float) and v != v):
        return None
    if isinstance(v, str):
        return v
    if isinstance(v, bool | np.bool_):
        return ("true" if v else "false") if allow_bool else _BAD
    if isinstance(v, int | np.integer):
        return str(v)
    if isinstance(v, float | np.floating) and float(v).is_integer() and abs(float(v)) < _EXACT_INT:
        return str(int(v))
    return _BAD


def _categories(s: pd.Series, present: NDArray[np.bool_], *, allow_bool: bool = True) -> _Converted:
    dtype = s.dtype
    values = np.full(len(s), None, dtype=object)
    bad = np.zeros(len(s), dtype=bool)
    if pd.api.types.is_bool_dtype(dtype):
        if allow_bool:
            flags = s.to_numpy(dtype=bool, na_value=False)
            values[present] = np.where(flags, "true", "false")[present]
        else:
            bad = present
    elif pd.api.types.is_integer_dtype(dtype):
        values[present] = s[present].astype(str).to_numpy(dtype=object)
    elif pd.api.types.is_float_dtype(dtype):
        x = s.to_numpy(dtype=np.float64, na_value=np.nan)
        with np.errstate(invalid="ignore"):
            exact = np.isfinite(x) & (x == np.trunc(x)) & (np.abs(x) < _EXACT_INT)
        values[exact] = x[exact].astype(np.int64).astype(str).astype(object)
        bad = present & ~exact
    elif _is_text(dtype) or (dtype == object and pd.api.types.infer_dtype(s, skipna=True) in ("string", "empty")):  # noqa: E721 -- a dtype, not a type
        return s.astype("str"), bad  # Arrow-backed text passes through without a copy to Python
    elif dtype == object:  # mixed Python values: one JSON column holding strings, ints, booleans ...  # noqa: E721 -- a dtype, not a type
        convert = np.frompyfunc(lambda v: _category_value(v, allow_bool=allow_bool), 1, 1)
        with np.errstate(invalid="ignore"):  # see _bad_text: a stale FPU flag, not this loop's
            mapped = convert(s.to_numpy(dtype=object))
        bad = mapped == _BAD
        values[~bad] = mapped[~bad]
    else:
        bad = present
    return pd.Series(values, index=s.index, dtype="str"), bad


def _ids(s: pd.Series, present: NDArray[np.bool_]) -> _Converted:
    values, bad = _categories(s, present, allow_bool=False)
    bad = bad | (values == "").to_numpy(dtype=bool, na_value=False)
    return values, bad


def _iso_timestamps(s: pd.Series) -> pd.Series:
    """ISO 8601 text as UTC timestamps (NaT where unreadable): Arrow's parser when every value has
    an offset, else pandas' (naive values are UTC)."""
    if _is_text(s.dtype):
        try:
            parsed = pa.array(s, from_pandas=True).cast(pa.timestamp("us", "UTC"))
            return pd.Series(parsed.to_pandas(), index=s.index)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
            pass
    return pd.to_datetime(s, utc=True, format="ISO8601", errors="coerce")


def _timestamps(s: pd.Series, present: NDArray[np.bool_], now: datetime) -> _Converted:
    dtype = s.dtype
    if isinstance(dtype, pd.DatetimeTZDtype):
        parsed = s.dt.tz_convert("UTC")
    elif pd.api.types.is_datetime64_dtype(dtype):
        parsed = s.dt.tz_localize("UTC")
    elif (_is_text(dtype) or dtype == object) and present.any():  # noqa: E721 -- a dtype, not a type
        parsed = _iso_timestamps(s)
    else:
        parsed = pd.Series(pd.NaT, index=s.index, dtype="datetime64[us, UTC]")
    bad = present & (parsed.isna() | (parsed < _TS_MIN) | (parsed > _TS_MAX)).to_numpy(dtype=bool)
    filled = parsed.where(present & ~bad, pd.Timestamp(now).tz_convert("UTC"))
    return filled.astype("datetime64[ns, UTC]"), bad


_F32_MAX = float(np.finfo(np.float32).max)


def _vector_text(value: Any) -> Any:
    """A CSV cell holding a JSON array, parsed (left as it is when it is not JSON)."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except (ValueError, RecursionError):
        return value


def _vector_problem(value: Any, dim: int) -> str | None:
    """Why one cell is not a vector of ``dim`` finite float32-range numbers (None if it is)."""
    expected = f"expected a vector of {dim} finite numbers"
    items = value.tolist() if isinstance(value, np.ndarray) and value.ndim == 1 else value
    if not isinstance(items, list | tuple):
        return f"{expected}, got {_show(value)}"
    if len(items) != dim:
        return f"{expected}, got {len(items)} value{'s' if len(items) != 1 else ''}"
    for j, x in enumerate(items):
        if not _is_real(x):
            return f"{expected}; element {j} is {_show(x)}, not a number"
        try:
            f = float(x)
        except OverflowError:
            f = float("inf")
        if f != f:  # NaN: also how Arrow's readers hand over a null inside an array
            return f"{expected}; element {j} is null or NaN"
        if not np.isfinite(f):
            return f"{expected}; element {j} is {_show(x)}"
        if abs(f) > _F32_MAX:
            return f"{expected}; element {j} ({_show(x)}) is beyond the 32-bit float range the store keeps"
    return None


def _vector_block(values: NDArray[np.object_], dim: int) -> NDArray[np.float64] | None:
    """The cells as one ``(n, dim)`` matrix when every one is a clean vector (the usual case:
    checked by the types present, one length array and one ``isfinite`` over the matrix), else
    None and the caller looks at the cells one by one."""
    if not len(values):
        return np.empty((0, dim))
    kinds = set(map(type, values))
    if kinds == {np.ndarray}:  # Arrow's readers: one float or integer array per row
        if {(v.ndim, v.dtype.kind in "iuf") for v in values} != {(1, True)}:
            return None
    elif kinds == {list}:  # the standard library's parser: no booleans, nested lists or None
        if not set(map(type, itertools.chain.from_iterable(values))) <= {int, float}:
            return None
    else:
        return None
    lengths = np.fromiter(map(len, values), dtype=np.int64, count=len(values))
    if (lengths != dim).any():
        return None
    try:
        matrix = np.concatenate(list(values)).astype(np.float64).reshape(len(values), dim)
    except (TypeError, ValueError, OverflowError):
        return None
    with np.errstate(invalid="ignore"):
        clean = bool((np.abs(matrix) <= _F32_MAX).all())  # False for NaN and ±inf too
    return matrix if clean else None


def _embeddings(s: pd.Series, present: NDArray[np.bool_], dim: int,
                textual: bool) -> tuple[pd.Series, NDArray[np.bool_], Callable[[int], str]]:
    """An embedding column as float64 vectors (None when missing), its bad rows and why each is bad."""
    n = len(s)
    rows = np.flatnonzero(present)
    values = s.to_numpy(dtype=object)[rows]
    if textual:
        parsed = np.empty(len(values), dtype=object)  # filled one by one: a list of lists stays 1-D
        for i, v in enumerate(values):
            parsed[i] = _vector_text(v)
        values = parsed
    cells: list[Any] = [None] * n
    bad = np.zeros(n, dtype=bool)
    problems: dict[int, str] = {}
    matrix = _vector_block(values, dim)
    if matrix is None:  # some cell is not a clean vector: find which, by row
        for row, v in zip(rows.tolist(), values, strict=True):
            problem = _vector_problem(v, dim)
            if problem is not None:
                problems[row] = problem
        bad[list(problems)] = True
        if not problems:  # e.g. tuples: clean, but not in the shapes the block takes
            matrix = np.asarray([np.asarray(v, dtype=np.float64) for v in values]).reshape(len(values), dim)
    if matrix is not None:
        for row, vector in zip(rows.tolist(), matrix, strict=True):
            cells[row] = vector
    return pd.Series(cells, index=s.index, dtype=object), bad, lambda row: problems[row]


class _Issues:
    def __init__(self) -> None:
        self.found: list[tuple[int, int, Issue]] = []
        self.total = 0

    def add(self, order: int, rows: NDArray[np.intp] | list[int], field: str, message: Callable[[int], str]) -> None:
        self.total += len(rows)
        self.found.extend((int(r), order, Issue(int(r), field, message(int(r)))) for r in rows[:MAX_ISSUES])

    def raise_any(self) -> None:
        if self.total:
            first = sorted(self.found, key=lambda t: (t[0], t[1]))[:MAX_ISSUES]
            raise BatchInvalid([issue for _, _, issue in first], self.total)


def _bad_text(s: pd.Series) -> NDArray[np.bool_]:
    """Values holding a NUL or a lone surrogate (vectorised over Arrow text; element-wise, in C,
    over Python objects)."""
    if _is_text(s.dtype):  # Arrow text is valid UTF-8 (checked when read), so only NUL can be in it
        return s.str.contains("\x00", regex=False, na=False).to_numpy(dtype=bool)
    if s.dtype != object:
        return np.zeros(len(s), dtype=bool)
    text = s.to_numpy(dtype=object)
    is_str = np.frompyfunc(lambda v: isinstance(v, str) and _BAD_TEXT.search(v) is not None, 1, 1)
    # An object loop does no float arithmetic, but NumPy reports the FPU's sticky flags after it,
    # and code run before (a driver, a float conversion) may have left "invalid" set.
    with np.errstate(invalid="ignore"):
        return is_str(text).astype(bool) if len(text) else np.zeros(0, dtype=bool)


def _bad_text_message(s: pd.Series) -> Callable[[int], str]:
    return lambda row: f"text must be valid UTF-8 without NUL characters or lone surrogates, got {_show(s.iloc[row])}"


def _wrong_value(s: pd.Series, kind: Kind) -> Callable[[int], str]:
    return lambda row: f"expected {_EXPECTED[kind]}, got {_show(s.iloc[row])}"


def validate_frame(raw: pd.DataFrame, spec: BatchSpec, *, now: datetime, textual: bool = False) -> pd.DataFrame:
    """Check every column of ``raw`` against ``spec`` and return the typed frame.

    ``textual`` says the values arrived as text (CSV), so ``"1.5"`` is a number; in JSON or
    Parquet it is not. Raises :class:`BatchInvalid` naming the row and column of each problem
    (a column-wide problem names the column's first row with a value). A batch without rows has
    no problems: nothing in it would be written.
    """
    n = len(raw)
    issues = _Issues()
    names = [str(c) for c in raw.columns]
    raw = raw.set_axis(names, axis=1)
    by_name = {c.name: c for c in spec.columns}
    for i, name in enumerate(names):
        if names.index(name) != i and n:
            issues.add(-1, [0], name, lambda r: "the column appears twice")
    raw = raw.loc[:, ~raw.columns.duplicated()]
    accepted = sorted(by_name)
    for name in raw.columns:
        if name not in by_name and name not in spec.ignored and n:
            rows = np.flatnonzero(raw[name].notna().to_numpy(dtype=bool))[:1]
            listed = ", ".join(accepted[:15]) + (", ..." if len(accepted) > 15 else "")
            issues.add(-1, rows if len(rows) else [0], _safe(name),
                       lambda r: f"unknown column; {spec.what} takes {listed}")  # noqa: B023 -- add() calls it at once
    out: dict[str, pd.Series] = {}
    for order, col in enumerate(spec.columns):
        s = raw[col.name] if col.name in raw.columns else pd.Series(np.full(n, None, dtype=object))
        present = s.notna().to_numpy(dtype=bool)
        if col.kind in (Kind.ID, Kind.CATEGORY):
            text_bad = _bad_text(s)
            if text_bad.any():
                issues.add(order, np.flatnonzero(text_bad), col.name, _bad_text_message(s))
                s = s.where(~text_bad)  # reported once; the rest of the column is still checked
        if col.kind is Kind.EMBEDDING:
            values, bad, why = _embeddings(s, present, col.dim or 0, textual)
            if bad.any():
                issues.add(order, np.flatnonzero(bad), col.name, why)
        elif col.kind is Kind.NUMBER:
            values, bad = _numbers(s, present, textual)
        elif col.kind is Kind.CATEGORY:
            values, bad = _categories(s, present)
        elif col.kind is Kind.ID:
            values, bad = _ids(s, present)
        else:
            values, bad = _timestamps(s, present, now)
        if bad.any() and col.kind is not Kind.EMBEDDING:
            issues.add(order, np.flatnonzero(bad), col.name, _wrong_value(s, col.kind))
        if col.presence is Presence.VALUE and not present.all():
            issues.add(order, np.flatnonzero(~present), col.name, lambda r: "missing required field")
        elif col.presence is Presence.COLUMN and n and not present.any():
            issues.add(order, [0], col.name, lambda r: "no values: the column needs at least one")
        if present.any() or not spec.drop_empty:
            out[col.output] = values
    issues.raise_any()
    return pd.DataFrame(out, index=pd.RangeIndex(n))


def parse_batch(body: bytes, fmt: Format, spec: BatchSpec, *, now: datetime,
                limits: Limits = DEFAULT_LIMITS) -> pd.DataFrame:
    """Read and validate one batch; raises :class:`InputError` (:class:`BatchInvalid` per row,
    :class:`BatchTooLarge` over a size limit).

    A small JSON or NDJSON batch of clean scalar values is read by :mod:`monitor._fast_ingest`
    (the same frame, without pandas' per-column cost); anything else, every bad batch included,
    by the general path below, which alone words the errors."""
    if fmt in (Format.JSON, Format.NDJSON) and body and not body.isspace():
        frame = fast_batch(body, spec, lines=fmt is Format.NDJSON, now=now, limits=limits)
        if frame is not None:
            return frame
    return validate_frame(read_frame(body, fmt, spec, limits), spec, now=now, textual=fmt is Format.CSV)
