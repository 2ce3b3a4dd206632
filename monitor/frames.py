"""Reading data files into frames, by extension, with errors that name the file."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from monitor.errors import InputError

__all__ = ["read_frame"]

_PARQUET = {".parquet", ".pq"}
_CSV = {".csv"}


def read_frame(path: str | Path) -> pd.DataFrame:
    """Read a Parquet or CSV file (chosen by extension) into a DataFrame."""
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in _PARQUET | _CSV:
        raise InputError(f"{p}: unsupported file type {suffix or '(none)'!r}; use .parquet or .csv", field=str(p))
    if not p.is_file():
        raise InputError(f"{p}: no such file", field=str(p))
    try:
        frame = pd.read_parquet(p) if suffix in _PARQUET else pd.read_csv(p)
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise InputError(f"{p}: cannot read: {first}", field=str(p)) from exc
    except Exception as exc:  # pyarrow raises its own types for corrupt files
        if type(exc).__module__.startswith("pyarrow"):
            raise InputError(f"{p}: cannot read: {str(exc).splitlines()[0]}", field=str(p)) from exc
        raise
    if frame.columns.empty:
        raise InputError(f"{p}: no columns", field=str(p))
    return frame
