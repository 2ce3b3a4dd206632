"""Frames in and out of the prediction log, as typed column arrays both dialects encode.

An ingest frame becomes a :class:`Batch`: ids and text columns as Arrow strings (UTF-8 buffers
the PostgreSQL encoder copies without a per-value loop), numbers as float64 with NaN for missing,
times as microseconds since the epoch, embeddings as Arrow binary (each vector's little-endian
float32 bytes, built from one matrix without a loop per row). Validation happens here, before any
SQL, so a bad value names its column and row and nothing reaches the database.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from numpy.typing import NDArray

from monitor.errors import InputError
from monitor.storage._types import utc_micros
from monitor.storage.layout import Kind, ModelLayout

__all__ = ["Batch", "Columns", "prepare_labels", "prepare_predictions", "to_frame", "vector_cells"]

NAT = np.iinfo(np.int64).min  # numpy's NaT as int64; missing label times use it


@dataclass(frozen=True, slots=True, kw_only=True)
class Batch:
    """Validated rows keyed by database column; ``duplicates`` were dropped inside the batch."""

    ids: pa.Array
    ts: NDArray[np.int64]
    numbers: dict[str, NDArray[np.float64]]
    texts: dict[str, pa.Array]
    duplicates: int
    binaries: dict[str, pa.Array] = field(default_factory=dict)  # embeddings, ``large_binary``

    def __len__(self) -> int:
        return len(self.ids)


@dataclass(frozen=True, slots=True, kw_only=True)
class Columns:
    """Rows read back from the log, keyed by database column, before naming them for a monitor."""

    ids: pa.Array
    ts: NDArray[np.int64]
    label_ts: NDArray[np.int64]
    numbers: dict[str, NDArray[np.float64]]
    texts: dict[str, pa.Array]
    binaries: dict[str, pa.Array] = field(default_factory=dict)  # embeddings, ``large_binary``


def _first_bad(mask: NDArray[np.bool_] | pd.Series) -> int:
    return int(np.flatnonzero(np.asarray(mask))[0])


def _text(series: pd.Series, field: str) -> pa.Array:
    """A column as Arrow large strings; non-string values become their ``str()``, missing stays NULL."""
    try:
        arr = pa.array(series, type=pa.large_string(), from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        arr = pa.array(series.map(str, na_action="ignore"), type=pa.large_string(), from_pandas=True)
    nul = pc.match_substring(arr, "\x00")
    if pc.any(nul).as_py():
        row = _first_bad(pc.fill_null(nul, False).to_numpy(zero_copy_only=False))
        raise InputError(f"{field}: row {row}: text contains a NUL character, which cannot be stored",
                         field=field, row=row)
    return arr


def _number(series: pd.Series, field: str) -> NDArray[np.float64]:
    """A column as float64 (NaN for missing); a value that is not a number names its row."""
    if pd.api.types.is_numeric_dtype(series) or pd.api.types.is_bool_dtype(series):
        return np.asarray(series.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)
    coerced = pd.to_numeric(series, errors="coerce")
    bad = coerced.isna().to_numpy() & series.notna().to_numpy()
    if bad.any():
        row = _first_bad(bad)
        raise InputError(f"{field}: row {row}: {series.iloc[row]!r} is not a number", field=field, row=row)
    return np.asarray(coerced.to_numpy(dtype=np.float64, na_value=np.nan), dtype=np.float64)


def _vectors(series: pd.Series, field: str, dim: int) -> pa.Array:
    """An embedding column (arrays or lists of ``dim`` finite numbers, None for missing) as Arrow
    binary: each vector's ``dim`` little-endian float32 values, cut from one matrix's bytes."""
    present = series.notna().to_numpy(dtype=bool)
    cells = series.to_numpy(dtype=object)[present]
    rows = np.flatnonzero(present)
    try:
        matrix = np.stack(list(cells)) if len(cells) else np.empty((0, dim))
    except (TypeError, ValueError):  # ragged, or not arrays at all
        matrix = np.empty((0, 0))
    if matrix.ndim != 2 or matrix.shape != (len(cells), dim) or matrix.dtype.kind not in "iuf":
        sizes = [np.size(c) if isinstance(c, list | tuple | np.ndarray) else -1 for c in cells]
        row = int(rows[next((i for i, z in enumerate(sizes) if z != dim), 0)])
        raise InputError(f"{field}: row {row}: expected a vector of {dim} numbers", field=field, row=row)
    with np.errstate(over="ignore"):
        matrix32 = matrix.astype("<f4")  # beyond float32's range becomes inf, refused below
    finite = np.isfinite(matrix32).all(axis=1)
    if not finite.all():
        row = int(rows[_first_bad(~finite)])
        raise InputError(f"{field}: row {row}: the vector holds a value that is not a finite 32-bit float",
                         field=field, row=row)
    offsets = np.zeros(len(series) + 1, dtype=np.int64)
    offsets[1:] = np.cumsum(present * (4 * dim))
    validity = None if present.all() else pa.array(present).buffers()[1]
    return pa.Array.from_buffers(pa.large_binary(), len(series), [validity, pa.py_buffer(offsets),
                                                                 pa.py_buffer(matrix32.tobytes())],
                                 null_count=int(len(series) - present.sum()))


def vector_cells(arr: pa.Array | pa.ChunkedArray, field: str = "embedding") -> pd.Series:
    """Stored embeddings (``large_binary``) as a column of float32 vectors (None for missing),
    decoded by one ``np.frombuffer`` over the joined bytes; every vector has the same length."""
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks() if arr.num_chunks else pa.array([], type=pa.large_binary())
    arr = arr.cast(pa.large_binary())
    n = len(arr)
    valid = ~arr.is_null().to_numpy(zero_copy_only=False)
    cells: list[object] = [None] * n
    if not valid.any():
        return pd.Series(cells, dtype=object)
    offsets = np.frombuffer(arr.buffers()[1], dtype=np.int64)[arr.offset:arr.offset + n + 1]
    sizes = np.diff(offsets)[valid]
    if sizes.min() != sizes.max() or sizes[0] % 4 or sizes[0] == 0:
        raise InputError(f"{field}: the stored vectors have different or invalid lengths", field=field)
    data = arr.buffers()[2]
    flat = np.frombuffer(data, dtype="<f4", count=int(offsets[-1] - offsets[0]) // 4, offset=int(offsets[0]))
    matrix = flat.reshape(-1, int(sizes[0]) // 4).astype(np.float32)  # native order, writable
    for i, row in zip(np.flatnonzero(valid).tolist(), matrix, strict=True):
        cells[i] = row
    return pd.Series(cells, dtype=object)


#: The timestamps stored: a year of margin inside Python's datetime (years 1-9999), where the
#: partitions of a day and the idempotency check's day either side are computed.
_FIRST_US = -62_104_060_800_000_000  # 0002-01-01T00:00Z, microseconds since the Unix epoch
_LAST_US = 253_370_764_800_000_000  # 9999-01-01T00:00Z


def _times(series: pd.Series, field: str) -> NDArray[np.int64]:
    if not isinstance(series.dtype, pd.DatetimeTZDtype):
        raise InputError(f"{field}: expected time-zone-aware timestamps, got {series.dtype}", field=field)
    if series.isna().any():
        row = _first_bad(series.isna())
        raise InputError(f"{field}: row {row}: the timestamp is missing", field=field, row=row)
    micros = utc_micros(series)
    outside = (micros < _FIRST_US) | (micros >= _LAST_US)
    if outside.any():  # pandas holds ~290,000 years; a window, a partition or a report only 1..9999
        row = _first_bad(outside)
        raise InputError(f"{field}: row {row}: the timestamp is outside the years 2 to 9998", field=field, row=row)
    return micros


def _ids(series: pd.Series, field: str) -> pa.Array:
    if series.isna().any():
        row = _first_bad(series.isna())
        raise InputError(f"{field}: row {row}: the prediction id is missing", field=field, row=row)
    return _text(series, field)


def _keep(ids: pa.Array, keep: str) -> tuple[NDArray[np.intp] | None, int]:
    """Positions of the rows to keep when ids repeat (``keep`` is "first" or "last"), and how many go."""
    if pc.count_distinct(ids).as_py() == len(ids):  # the usual case, without a pandas Index (~0.5 ms)
        return None, 0
    dup = pd.Index(ids.to_pandas()).duplicated(keep=keep)
    return (np.flatnonzero(~dup), int(dup.sum())) if dup.any() else (None, 0)


def prepare_predictions(layout: ModelLayout, frame: pd.DataFrame) -> Batch:
    """Validate an ingest frame against the model's layout; repeated ids keep their first row.

    Columns are named as in the monitors' schemas; unknown columns are refused, absent features
    and an absent score or label are stored as NULL.
    """
    names = layout.frame_to_db()
    unknown = [c for c in frame.columns if c not in names]
    if unknown:
        raise InputError(f"column {unknown[0]!r} is not in the schema of model {layout.model!r}", field=str(unknown[0]))
    # Only the keys and the prediction are required: monitors of one model may declare different
    # features, and a producer feeding one of them sends only its columns. What is not sent is
    # NULL, which every monitor counts (and exports) as missing; nothing is dropped.
    required = (layout.id_column, layout.ts_column, layout.prediction_column)
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InputError(f"column {missing[0]!r} is missing", field=missing[0])
    ids = _ids(frame[layout.id_column], layout.id_column)
    ts = _times(frame[layout.ts_column], layout.ts_column)
    numbers: dict[str, NDArray[np.float64]] = {}
    texts: dict[str, pa.Array] = {}
    binaries: dict[str, pa.Array] = {}
    for name, db in names.items():
        if db in ("prediction_id", "ts") or name not in frame.columns:
            continue
        kind = layout.kind(db)
        if kind is Kind.NUMBER:
            numbers[db] = _number(frame[name], name)
        elif kind is Kind.EMBEDDING:
            binaries[db] = _vectors(frame[name], name, layout.dims[db])
        else:
            texts[db] = _text(frame[name], name)
    keep, duplicates = _keep(ids, "first")
    if keep is not None:
        ids, ts = ids.take(keep), ts[keep]
        numbers = {k: v[keep] for k, v in numbers.items()}
        texts = {k: v.take(keep) for k, v in texts.items()}
        binaries = {k: v.take(keep) for k, v in binaries.items()}
    return Batch(ids=ids, ts=ts, numbers=numbers, texts=texts, duplicates=duplicates, binaries=binaries)


def prepare_labels(layout: ModelLayout, frame: pd.DataFrame) -> Batch:
    """Validate a label frame (``prediction_id``, ``label``, ``timestamp``); a repeated id keeps its last label."""
    missing = [c for c in ("prediction_id", "label", "timestamp") if c not in frame.columns]
    if missing:
        raise InputError(f"column {missing[0]!r} is missing", field=missing[0])
    ids = _ids(frame["prediction_id"], "prediction_id")
    ts = _times(frame["timestamp"], "timestamp")
    label = frame["label"]
    if label.isna().any():
        row = _first_bad(label.isna())
        raise InputError(f"label: row {row}: the label is missing", field="label", row=row)
    numbers, texts = {}, {}
    if layout.prediction_kind is Kind.NUMBER:
        numbers["label"] = _number(label, "label")
    else:
        texts["label"] = _text(label, "label")
    keep, duplicates = _keep(ids, "last")  # a resent label corrects the earlier one
    if keep is not None:
        ids, ts = ids.take(keep), ts[keep]
        numbers = {k: v[keep] for k, v in numbers.items()}
        texts = {k: v.take(keep) for k, v in texts.items()}
    return Batch(ids=ids, ts=ts, numbers=numbers, texts=texts, duplicates=duplicates)


def _utc(micros: NDArray[np.int64]) -> pd.Series:
    return pd.Series(micros.view("datetime64[us]")).dt.tz_localize("UTC")


def to_frame(names: dict[str, str], cols: Columns) -> pd.DataFrame:
    """A frame of the read columns, renamed and ordered by ``names`` (database column -> frame column)."""
    data: dict[str, object] = {}
    for db, name in names.items():
        if db == "prediction_id":
            data[name] = cols.ids.to_pandas()
        elif db == "ts":
            data[name] = _utc(cols.ts)
        elif db == "label_ts":
            data[name] = _utc(cols.label_ts)
        elif db in cols.numbers:
            data[name] = pd.Series(cols.numbers[db], dtype=np.float64)
        elif db in cols.binaries:
            data[name] = vector_cells(cols.binaries[db], name)
        else:
            data[name] = cols.texts[db].to_pandas()
    return pd.DataFrame(data)
