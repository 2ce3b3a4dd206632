"""`driftline check` on large files: the streaming CSV reader reads what pandas reads, and above
--max-rows a seeded uniform sample is checked, which the JSON and the table say.

Oracles: ``pandas.read_csv`` for the reader (frames compared exactly); the sampling distribution
of a uniform sample without replacement (mean and variance of the mean, a CLT bound) and SciPy's
chi-square test of equal inclusion counts for the reservoir.
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from monitor import frames
from monitor.errors import InputError
from monitor.frames import Reservoir, read_sample


def driftline(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    beside = Path(sys.executable).with_name("driftline")
    script = str(beside) if beside.exists() else shutil.which("driftline")
    assert script is not None, "the `driftline` console script is not installed (pip install -e .)"
    return subprocess.run([script, *args], cwd=cwd, capture_output=True, text=True, timeout=120,
                          env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin"})


def _mixed_csv(path: Path, n: int = 3000) -> Path:
    """Columns whose type only shows after the first blocks, missing values, text, booleans, dates."""
    rng = np.random.default_rng(5)
    lines = ["count,score,late_float,late_text,empty_first,flag,flag_missing,city,day,stamp"]
    cities = ["paris", "lyon", "", "NA", "None", "berlin"]
    for i in range(n):
        late_float = f"{i}" if i < n - 10 else f"{i}.5"
        late_text = f"{i}" if i != n - 3 else "n/a-ish"
        empty_first = "" if i < n // 2 else f"{rng.normal():.4f}"
        flag_missing = "" if i % 97 == 0 else ("True" if i % 2 else "false")
        lines.append(f"{i},{rng.normal():.6f},{late_float},{late_text},{empty_first},{'True' if i % 3 else 'False'},"
                     f"{flag_missing},{cities[i % len(cities)]},2024-01-{1 + i % 28:02d},"
                     f"2024-01-01T{i % 24:02d}:00:00Z")
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.mark.parametrize("block_bytes", [1 << 10, 1 << 14, frames.BLOCK_BYTES])
def test_the_streaming_reader_reads_what_pandas_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                       block_bytes: int) -> None:
    path = _mixed_csv(tmp_path / "mixed.csv")
    monkeypatch.setattr(frames, "BLOCK_BYTES", block_bytes)
    frame, sample = read_sample(path, max_rows=None)
    assert sample.rows == sample.of == 3000 and not sample.sampled
    pd.testing.assert_frame_equal(frame, pd.read_csv(path))


def test_header_only_and_odd_headers_fall_back_to_pandas(tmp_path: Path) -> None:
    header = tmp_path / "header.csv"
    header.write_text("a,b\n")
    frame, sample = read_sample(header, max_rows=10)
    pd.testing.assert_frame_equal(frame, pd.read_csv(header))
    assert sample.of == 0
    dupes = tmp_path / "dupes.csv"
    dupes.write_text("a,a,\n1,2,3\n")
    pd.testing.assert_frame_equal(read_sample(dupes, max_rows=None)[0], pd.read_csv(dupes))
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(InputError, match="empty.csv: cannot read"):
        read_sample(empty, max_rows=None)
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b\n1,2\n3,4,5\n")
    with pytest.raises(InputError, match="ragged.csv: cannot read"):
        read_sample(ragged, max_rows=None)


def _indexed_csv(path: Path, n: int) -> Path:
    rng = np.random.default_rng(11)
    pd.DataFrame({"row": np.arange(n), "x": rng.normal(size=n).round(6),
                  "plan": rng.choice(["free", "pro", "team"], n)}).to_csv(path, index=False)
    return path


def test_a_sample_above_max_rows_is_uniform_by_the_clt_bound_in_file_order_and_distinct(tmp_path: Path,
                                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    n, k = 40_000, 2_000
    monkeypatch.setattr(frames, "BLOCK_BYTES", 1 << 15)  # many blocks
    path = _indexed_csv(tmp_path / "rows.csv", n)
    frame, sample = read_sample(path, max_rows=k, seed=4)
    assert (sample.rows, sample.of, sample.seed, sample.sampled) == (k, n, 4, True)
    rows = frame["row"].to_numpy()
    assert len(np.unique(rows)) == k and np.all(np.diff(rows) > 0)  # distinct rows, in file order
    full = pd.read_csv(path).set_index("row")
    pd.testing.assert_frame_equal(frame.set_index("row"), full.loc[rows])  # the rows themselves, unchanged
    # A uniform sample without replacement of 0..n-1: mean (n-1)/2, variance of the mean
    # sigma^2/k * (n-k)/(n-1) with sigma^2 = (n^2-1)/12 (finite-population correction).
    se = math.sqrt((n * n - 1) / 12 / k * (n - k) / (n - 1))
    assert abs(rows.mean() - (n - 1) / 2) < 4.5 * se
    # The first and the last fifth of the file are each about a fifth of the sample (binomial bound).
    for part in (rows < n // 5, rows >= n - n // 5):
        assert abs(part.sum() - k / 5) < 4.5 * math.sqrt(k * 0.2 * 0.8)


def test_every_row_is_equally_likely_to_be_kept_by_scipy_chisquare() -> None:
    n, k, draws = 60, 12, 3000
    counts = np.zeros(n)
    for seed in range(draws):
        r = Reservoir(size=k, seed=seed)
        slots_of = np.empty(k, dtype=np.int64)
        for start, size in ((0, 7), (7, 20), (27, 33)):  # batches of uneven sizes
            positions, slots = r.offer(size)
            slots_of[slots] = start + positions
        assert len(np.unique(slots_of)) == k
        counts[slots_of] += 1
    assert counts.sum() == k * draws
    assert stats.chisquare(counts).pvalue > 1e-3


def test_the_sample_depends_on_the_seed_not_on_the_blocks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _indexed_csv(tmp_path / "rows.csv", 20_000)
    picks = []
    for block in (1 << 12, 1 << 16, frames.BLOCK_BYTES):
        monkeypatch.setattr(frames, "BLOCK_BYTES", block)
        picks.append(read_sample(path, max_rows=500, seed=9)[0]["row"].tolist())
    assert picks[0] == picks[1] == picks[2]
    assert read_sample(path, max_rows=500, seed=10)[0]["row"].tolist() != picks[0]
    parquet = tmp_path / "rows.parquet"
    pd.read_csv(path).to_parquet(parquet, index=False)
    from_parquet, sample = read_sample(parquet, max_rows=500, seed=9)
    assert from_parquet["row"].tolist() == picks[0] and sample.sampled  # the same rule for Parquet


def test_check_says_it_ran_on_a_sample_in_json_and_table(tmp_path: Path) -> None:
    _indexed_csv(tmp_path / "ref.csv", 3000)
    _indexed_csv(tmp_path / "cur.csv", 800)

    done = driftline("check", "ref.csv", "cur.csv", "--max-rows", "1000", "--seed", "7", "--format", "json", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["sampled"] == {"max_rows": 1000, "seed": 7, "method": "uniform",
                              "reference": {"rows": 1000, "of": 3000}, "current": {"rows": 800, "of": 800}}
    x = next(c for c in out["columns"] if c["column"] == "x")
    assert x["n_reference"] == 1000 and x["n_current"] == 800
    again = driftline("check", "ref.csv", "cur.csv", "--max-rows", "1000", "--seed", "7", "--format", "json", cwd=tmp_path)
    assert json.loads(again.stdout) == out  # seeded: the same sample, the same verdict

    table = driftline("check", "ref.csv", "cur.csv", "--max-rows", "1000", "--seed", "7", cwd=tmp_path)
    assert table.returncode == 0, table.stderr
    assert ("checked on a uniform random sample: reference 1,000 of 3,000 rows, current 800 of 800 rows "
            "(--max-rows 1,000, seed 7)") in table.stdout

    whole = driftline("check", "ref.csv", "cur.csv", "--format", "json", cwd=tmp_path)
    assert json.loads(whole.stdout)["sampled"] is None
    every = driftline("check", "ref.csv", "cur.csv", "--max-rows", "0", "--format", "json", cwd=tmp_path)
    assert json.loads(every.stdout)["sampled"] is None
    assert next(c for c in json.loads(every.stdout)["columns"] if c["column"] == "x")["n_reference"] == 3000


def test_progress_without_a_terminal_is_plain_lines_with_counts(tmp_path: Path) -> None:
    _indexed_csv(tmp_path / "ref.csv", 3000)
    _indexed_csv(tmp_path / "cur.csv", 3000)

    done = driftline("check", "ref.csv", "cur.csv", "--progress", "--format", "json", cwd=tmp_path)

    assert done.returncode == 0, done.stderr
    assert "\r" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.startswith("reading ")]
    assert any(line.startswith("reading ref.csv: ") and "(100%)" in line and "3,000 rows" in line for line in lines)
    assert any(line.startswith("reading cur.csv: ") and "(100%)" in line for line in lines), done.stderr
    quiet = driftline("check", "ref.csv", "cur.csv", "--format", "json", cwd=tmp_path)
    assert "reading " not in quiet.stderr  # not a terminal, no --progress: nothing
