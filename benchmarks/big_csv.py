"""Large CSV files for the bounded-memory ``driftline check`` figures of docs/benchmarks.md.

``python -m benchmarks.big_csv /tmp/bigcsv 6000000 24000000`` writes ``ref.csv`` (6M rows, about
0.5 GB) and ``cur.csv`` (24M rows, about 2 GB): 12 columns, 7 normal floats (``x0`` shifted by
0.05 in the current file), 2 integers and 3 categoricals. Measure a check with
``/usr/bin/time -v driftline check ref.csv cur.csv --format json`` (peak RSS is "Maximum resident
set size"); for the figures before a change, run the same from a ``git worktree`` of the older
commit with ``python -m monitor check ...``. Nothing here is written inside the repository.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pcsv

CITIES = np.array(["paris", "lyon", "berlin", "madrid", "rome", "oslo", "lima", "quito"])
PLANS = np.array(["free", "basic", "pro", "enterprise"])
SCHEMA = pa.schema([(f"x{i}", pa.float64()) for i in range(7)] + [
    ("age", pa.int64()), ("visits", pa.int64()), ("city", pa.string()), ("plan", pa.string()), ("device", pa.string())])


def write(path: Path, rows: int, *, shift: float, seed: int, chunk: int = 1_000_000) -> None:
    rng = np.random.default_rng(seed)
    with pcsv.CSVWriter(str(path), SCHEMA) as out:
        for start in range(0, rows, chunk):
            n = min(chunk, rows - start)
            cols = [np.round(rng.normal(shift * (i == 0), 1, n), 5) for i in range(7)]
            cols += [rng.integers(18, 90, n), rng.poisson(3, n), CITIES[rng.integers(0, 8, n)],
                     PLANS[rng.integers(0, 4, n)], np.where(rng.random(n) < 0.6, "mobile", "desktop")]
            out.write_table(pa.Table.from_arrays([pa.array(c) for c in cols], schema=SCHEMA))


def main(argv: list[str]) -> None:
    folder, reference_rows, current_rows = Path(argv[0]), int(argv[1]), int(argv[2])
    folder.mkdir(parents=True, exist_ok=True)
    write(folder / "ref.csv", reference_rows, shift=0.0, seed=3)
    write(folder / "cur.csv", current_rows, shift=0.05, seed=7)


if __name__ == "__main__":
    main(sys.argv[1:])
