"""Reading data files into frames, by extension, with errors that name the file.

:func:`read_frame` reads a whole file with pandas. :func:`read_sample` is what ``driftline check``
uses on files of any size: a CSV is streamed in blocks through pyarrow's CSV reader, each block
turned into compact per-column arrays (int64 / float64 / bool values, strings as codes into one
dictionary), and above ``max_rows`` rows only a uniform random sample of ``max_rows`` rows is
kept (a reservoir, :class:`Reservoir`), so memory stays bounded by the sample, not the file.
The frame it returns has the dtypes ``pandas.read_csv`` gives the same file (an integer column
with a missing value anywhere in the file is float64, as in pandas), with its rows in file order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from monitor.errors import InputError

if TYPE_CHECKING:
    import pyarrow as pa

    from monitor.progress import Progress

__all__ = ["Reservoir", "Sample", "read_frame", "read_sample"]

_PARQUET = {".parquet", ".pq"}
_CSV = {".csv"}
#: Bytes per block of the streaming CSV reader; types are inferred from the first block.
BLOCK_BYTES: Final = 16 << 20


def _checked(path: str | Path) -> tuple[Path, str]:
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in _PARQUET | _CSV:
        raise InputError(f"{p}: unsupported file type {suffix or '(none)'!r}; use .parquet or .csv", field=str(p))
    if not p.is_file():
        raise InputError(f"{p}: no such file", field=str(p))
    return p, suffix


def _cannot_read(p: Path, exc: BaseException) -> InputError:
    first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return InputError(f"{p}: cannot read: {first}", field=str(p))


def read_frame(path: str | Path) -> pd.DataFrame:
    """Read a Parquet or CSV file (chosen by extension) into a DataFrame."""
    p, suffix = _checked(path)
    try:
        frame = pd.read_parquet(p) if suffix in _PARQUET else pd.read_csv(p)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise _cannot_read(p, exc) from exc
    except Exception as exc:  # pyarrow raises its own types for corrupt files
        if type(exc).__module__.startswith("pyarrow"):
            raise _cannot_read(p, exc) from exc
        raise
    if frame.columns.empty:
        raise InputError(f"{p}: no columns", field=str(p))
    return frame


@dataclass(frozen=True, slots=True, kw_only=True)
class Sample:
    """How many rows of a file were kept: all of them, or a uniform sample of ``rows`` of ``of``."""

    rows: int
    of: int
    seed: int

    @property
    def sampled(self) -> bool:
        return self.rows < self.of

    def to_dict(self) -> dict[str, int]:
        return {"rows": self.rows, "of": self.of}


class Reservoir:
    """A uniform sample of ``size`` rows of a stream offered in batches (Algorithm R, vectorised).

    Row ``i`` (0-based) of the stream, once the reservoir is full, replaces slot ``j`` when
    ``j = floor(u * (i + 1)) < size`` for a fresh ``u ~ U[0, 1)``: every row ends in the sample with
    probability ``size / n``, every ``size``-subset equally likely. One float per row, drawn in row
    order, so the sample depends on the seed and the rows only, not on how they were batched.

    >>> r = Reservoir(size=3, seed=0)
    >>> positions, slots = r.offer(10)
    >>> len(positions), sorted(slots.tolist())
    (3, [0, 1, 2])
    """

    def __init__(self, *, size: int | None, seed: int) -> None:
        self.size = size
        self.seen = 0
        self._rng = np.random.default_rng(seed)

    def offer(self, n: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """For the next ``n`` rows: the positions (in the batch) to keep and the slot each goes to.

        Positions are increasing; a slot appears at most once (the last row sent there wins).
        """
        start = self.seen
        self.seen += n
        if self.size is None:
            return np.arange(n, dtype=np.int64), np.arange(start, start + n, dtype=np.int64)
        fill = max(0, min(n, self.size - start))
        positions = np.arange(fill, dtype=np.int64)
        slots = np.arange(start, start + fill, dtype=np.int64)
        if fill == n:
            return positions, slots
        rest = np.arange(fill, n, dtype=np.int64)
        draws = np.floor(self._rng.random(rest.size) * (start + rest + 1)).astype(np.int64)
        hit = draws < self.size
        positions = np.concatenate([positions, rest[hit]])
        slots = np.concatenate([slots, draws[hit]])
        # Later rows overwrite earlier ones in the same slot (a row of this batch may replace one it
        # has just filled): keep the last per slot.
        _, last = np.unique(slots[::-1], return_index=True)
        keep = np.sort(slots.size - 1 - last)
        return positions[keep], slots[keep]


class _Column:
    """One column's kept values: int64/float64/bool values with a validity mask, or string codes."""

    def __init__(self, kind: str) -> None:
        self.kind = kind  # "i", "f", "b", "s" or "n" (no value seen: all missing)
        self.values: NDArray[Any] = np.empty(0, dtype={"i": np.int64, "f": np.float64, "b": np.bool_,
                                                       "s": np.int32, "n": np.float64}[kind])
        self.valid: NDArray[np.bool_] = np.empty(0, dtype=np.bool_)
        self.any_missing = False
        self.categories: list[str] = []
        self._codes: dict[str, int] = {}

    def _batch_values(self, array: pa.ChunkedArray | pa.Array, positions: NDArray[np.int64]) -> tuple[Any, Any]:
        import pyarrow as pa
        import pyarrow.compute as pc

        if isinstance(array, pa.ChunkedArray):
            array = array.combine_chunks()
        if array.null_count:
            self.any_missing = True
        if self.kind == "n":
            return np.full(positions.size, np.nan), None
        if self.kind == "s":
            encoded = pc.dictionary_encode(array)
            local = encoded.indices.fill_null(-1).to_numpy(zero_copy_only=False).astype(np.int32)[positions]
            used = np.unique(local[local >= 0])
            mapping = np.full(len(encoded.dictionary) + 1, -1, dtype=np.int32)  # the last entry: missing
            names = encoded.dictionary.take(pa.array(used)).to_pylist()
            for code, name in zip(used.tolist(), names, strict=True):
                mapping[code] = self._codes.setdefault(name, len(self._codes))
            if len(self._codes) > len(self.categories):
                self.categories.extend(list(self._codes)[len(self.categories):])
            return mapping[local], None
        fill: Any = {"i": 0, "f": np.nan, "b": False}[self.kind]
        valid = array.is_valid().to_numpy(zero_copy_only=False)[positions]
        values = array.fill_null(fill).to_numpy(zero_copy_only=False)[positions]
        return values, valid

    def put(self, array: pa.ChunkedArray | pa.Array, positions: NDArray[np.int64], slots: NDArray[np.int64],
            size: int) -> None:
        """Write the kept rows of a batch into their slots (growing the arrays up to ``size``)."""
        values, valid = self._batch_values(array, positions)
        if slots.size and slots.max() >= self.values.size:
            grow = max(int(slots.max()) + 1, min(size, 2 * self.values.size))
            self.values = np.resize(self.values, grow)
            self.valid = np.resize(self.valid, grow)
        self.values[slots] = values
        self.valid[slots] = True if valid is None else valid
        if self.kind == "s" and len(self.categories) > 2 * max(size, 1) + 1024:
            self._compact(size)

    def _compact(self, size: int) -> None:
        """Drop the categories no kept row uses (a high-cardinality column would grow them without bound)."""
        kept = self.values
        used = np.unique(kept[kept >= 0])
        remap = np.full(len(self.categories) + 1, -1, dtype=np.int32)
        remap[used] = np.arange(used.size, dtype=np.int32)
        self.values = remap[kept]
        self.categories = [self.categories[i] for i in used.tolist()]
        self._codes = {name: i for i, name in enumerate(self.categories)}

    def series(self, order: NDArray[np.int64], text: Any) -> Any:
        """The kept values in ``order``, with pandas.read_csv's dtype for this column."""
        values = self.values[order]
        if self.kind == "s":
            table = np.array([*self.categories, np.nan], dtype=object)
            out = table[values]  # -1: the last entry, missing
            return out if text is None else pd.array(out, dtype=text)
        if self.kind == "i":
            if not self.any_missing:
                return values
            floats = values.astype(np.float64)
            floats[~self.valid[order]] = np.nan
            return floats
        if self.kind == "b" and self.any_missing:
            out = values.astype(object)
            out[~self.valid[order]] = np.nan
            return out
        return values


def _kind(t: pa.DataType) -> str | None:
    """Our kind of an Arrow type inferred by the CSV reader; ``None``: read it as text."""
    import pyarrow as pa

    if pa.types.is_integer(t):
        return "i"
    if pa.types.is_floating(t):
        return "f"
    if pa.types.is_boolean(t):
        return "b"
    if pa.types.is_null(t):
        return "n"
    if pa.types.is_string(t) or pa.types.is_large_string(t):
        return "s"
    return None  # dates, times, timestamps: pandas keeps the text


#: pandas.read_csv's missing-value strings (its default ``na_values``) and its booleans, given to Arrow's
#: reader so both read a file alike (Arrow's own lists differ: no ``None`` or ``<NA>``, ``1``/``0`` as booleans).
NA_VALUES: Final = ("", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan", "1.#IND", "1.#QNAN",
                    "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a", "nan", "null")
TRUE_VALUES: Final = ("True", "TRUE", "true")
FALSE_VALUES: Final = ("False", "FALSE", "false")

#: After a conversion error in a later block, a column is read as the next wider type.
_WIDER: Final = {"n": "f", "i": "f", "b": "s", "f": "s"}
_CONVERSION: Final = re.compile(r"In CSV column #(\d+): .*CSV conversion error")


def _text_dtype() -> Any:
    """The dtype pandas.read_csv gives text columns here: ``None`` for object (pandas 2), else pandas 3's str."""
    import io

    dtype = pd.read_csv(io.StringIO("a\nx\n"))["a"].dtype
    return None if isinstance(dtype, np.dtype) else dtype


def _stream_csv(p: Path, reservoir_size: int | None, seed: int, progress: Progress | None
                ) -> tuple[pd.DataFrame, Sample] | None:
    """The CSV streamed into a (sampled) frame; ``None`` when pandas must read it (no rows, odd header)."""
    import pyarrow as pa
    import pyarrow.csv as pcsv

    forced: dict[str, str] = {}
    for _attempt in range(64):
        read = pcsv.ReadOptions(block_size=BLOCK_BYTES)
        types = {name: {"i": pa.int64(), "f": pa.float64(), "b": pa.bool_(), "s": pa.string()}[k]
                 for name, k in forced.items()}
        convert = pcsv.ConvertOptions(strings_can_be_null=True, column_types=types, null_values=list(NA_VALUES),
                                      true_values=list(TRUE_VALUES), false_values=list(FALSE_VALUES))
        try:
            source = pa.OSFile(str(p))
            reader = pcsv.open_csv(source, read_options=read, convert_options=convert)
        except pa.ArrowInvalid as exc:
            if "Empty CSV file" in str(exc):
                return None
            raise _cannot_read(p, exc) from exc
        names = reader.schema.names
        if len(set(names)) < len(names) or any(not n or not n.strip() for n in names):
            source.close()
            return None  # duplicate or empty headers: pandas' renaming rules apply
        kinds = {f.name: forced.get(f.name) or _kind(f.type) for f in reader.schema}
        untyped = {n: "s" for n, k in kinds.items() if k is None}
        if untyped:  # a date or timestamp column: read again as text
            forced.update(untyped)
            source.close()
            continue
        columns = {n: _Column(str(k)) for n, k in kinds.items()}
        reservoir = Reservoir(size=reservoir_size, seed=seed)
        order = np.empty(0, dtype=np.int64)
        size = reservoir_size or 0
        blocks = 0
        if progress is not None:
            progress.restart()
        try:
            for batch in reader:
                positions, slots = reservoir.offer(batch.num_rows)
                grow_to = reservoir_size if reservoir_size is not None else reservoir.seen
                if slots.size and slots.max() >= order.size:
                    order = np.resize(order, max(int(slots.max()) + 1, min(grow_to, 2 * order.size)))
                order[slots] = reservoir.seen - batch.num_rows + positions
                for name, column in zip(names, batch.columns, strict=True):
                    columns[name].put(column, positions, slots, size or reservoir.seen)
                blocks += 1
                if progress is not None:  # Arrow reads ahead of the batches: count the blocks parsed
                    progress.update_to(min(source.tell(), blocks * BLOCK_BYTES), f"{reservoir.seen:,} rows")
        except pa.ArrowInvalid as exc:
            match = _CONVERSION.search(str(exc))
            if match is None:
                raise _cannot_read(p, exc) from exc
            name = names[int(match.group(1))]
            wider = _WIDER.get(kinds[name] or "")
            if wider is None:
                raise _cannot_read(p, exc) from exc
            forced[name] = wider  # a later block does not fit the first block's type
            continue
        finally:
            source.close()
        if reservoir.seen == 0:
            return None
        if progress is not None:
            progress.update_to(p.stat().st_size, f"{reservoir.seen:,} rows")
        kept = min(reservoir.seen, reservoir_size) if reservoir_size is not None else reservoir.seen
        rows = np.argsort(order[:kept], kind="stable")
        text = _text_dtype()
        frame = pd.DataFrame({name: columns[name].series(rows, text) for name in names})
        return frame, Sample(rows=kept, of=reservoir.seen, seed=seed)
    raise InputError(f"{p}: cannot read: the column types kept changing between blocks", field=str(p))


def read_sample(path: str | Path, *, max_rows: int | None, seed: int = 0,
                progress: Progress | None = None) -> tuple[pd.DataFrame, Sample]:
    """A file's rows, or a uniform random sample of ``max_rows`` of them (``None``: every row).

    A CSV is streamed (memory bounded by the sample); a Parquet file is read whole, then the same
    reservoir picks its rows. ``progress`` (bytes read) is updated as a CSV is read.
    """
    p, suffix = _checked(path)
    if max_rows is not None and max_rows < 1:
        raise InputError(f"max_rows ({max_rows}) must be at least 1", field="max_rows")
    streamed = None
    if suffix in _CSV:
        try:
            streamed = _stream_csv(p, max_rows, seed, progress)
        except OSError as exc:
            raise _cannot_read(p, exc) from exc
    if streamed is not None:
        return streamed
    frame = read_frame(p)
    n = len(frame)
    if max_rows is None or n <= max_rows:
        return frame, Sample(rows=n, of=n, seed=seed)
    reservoir = Reservoir(size=max_rows, seed=seed)
    order = np.empty(max_rows, dtype=np.int64)
    for start in range(0, n, 1 << 20):
        count = min(1 << 20, n - start)
        positions, slots = reservoir.offer(count)
        order[slots] = start + positions
    return frame.iloc[np.sort(order)].reset_index(drop=True), Sample(rows=max_rows, of=n, seed=seed)
