"""Text and embedding columns: time of fit and check at 10k and 100k rows, peers in the same run.

Text: one column of 4-20-word documents (Zipf words); Driftline's fit (lengths, vocabulary, a
5,000-document sample) and check (TF-IDF classifier on <= 5,000 documents per side, lengths and
shares on every row), against the plain scikit-learn floor of the classifier alone
(``TfidfVectorizer`` + ``LogisticRegression`` on the same 5,000 + 5,000 documents, one split).
Embedding: dim 384, three clusters; Driftline's fit (PCA by SVD on <= 5,000 rows) and check
(random-Fourier-feature MMD, 200 permutations), against an exact O(n^2) Gaussian-kernel MMD² on
2,000 rows per side (no permutations: one statistic) as the quadratic peer.

    .venv/bin/python benchmarks/bench_text.py [--rows 10000,100000]

Prints one line per measurement with the load average, so figures from a busy machine say so.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import pandas as pd
from scipy.spatial.distance import cdist

from monitor.stats.check import check
from monitor.stats.profile import fit_profile
from monitor.stats.types import ColumnType


def _documents(n: int, rng: np.random.Generator, vocabulary: list[str]) -> list[str]:
    weights = 1.0 / np.arange(1, len(vocabulary) + 1)
    lengths = rng.integers(4, 21, n)
    words = rng.choice(vocabulary, size=int(lengths.sum()), p=weights / weights.sum())
    return [" ".join(w) for w in np.split(words, np.cumsum(lengths)[:-1])]


def _clusters(n: int, rng: np.random.Generator, dim: int = 384) -> np.ndarray:
    centres = np.random.default_rng(99).normal(0.0, 1.0, size=(3, dim))
    out: np.ndarray = centres[rng.choice(3, size=n, p=[0.5, 0.3, 0.2])] + rng.normal(0.0, 1.0, size=(n, dim))
    return out.astype(np.float32)


def _timed(what: str, fn):  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    out = fn()
    print(f"{what:<58} {time.perf_counter() - start:8.2f} s   load {os.getloadavg()[0]:.1f}", flush=True)
    return out


def text(rows: int) -> None:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(0)
    vocabulary = [f"w{i}" for i in range(20_000)]
    ref = pd.DataFrame({"t": _documents(rows, rng, vocabulary)})
    cur = pd.DataFrame({"t": _documents(rows, rng, vocabulary)})
    profile = _timed(f"text {rows:>7,} rows: driftline fit", lambda: fit_profile(ref, types={"t": ColumnType.TEXT}))
    _timed(f"text {rows:>7,} rows: driftline check (5 results)", lambda: check(profile, cur))

    def floor() -> float:
        docs = [*ref["t"].iloc[:5000], *cur["t"].iloc[:5000]]
        y = np.arange(len(docs)) >= 5000
        train = np.arange(len(docs)) % 2 == 1
        vec = TfidfVectorizer(sublinear_tf=True)
        model = LogisticRegression(max_iter=300).fit(vec.fit_transform(np.asarray(docs, dtype=object)[train]), y[train])
        scores = model.decision_function(vec.transform(np.asarray(docs, dtype=object)[~train]))
        return float(roc_auc_score(y[~train], scores))

    _timed(f"text {rows:>7,} rows: sklearn floor (TF-IDF + LR, 5k+5k)", floor)


def embedding(rows: int) -> None:
    rng = np.random.default_rng(1)
    ref = pd.DataFrame({"v": list(_clusters(rows, rng))})
    cur = pd.DataFrame({"v": list(_clusters(rows, rng))})
    profile = _timed(f"embedding {rows:>7,} x 384: driftline fit", lambda: fit_profile(ref, types={"v": ColumnType.EMBEDDING}))
    _timed(f"embedding {rows:>7,} x 384: driftline check (mmd)", lambda: check(profile, cur))

    def exact() -> float:
        a = np.stack(ref["v"].iloc[:2000].to_numpy()).astype(np.float64)
        b = np.stack(cur["v"].iloc[:2000].to_numpy()).astype(np.float64)
        sigma2 = float(np.median(cdist(a[:1000], a[:1000], "sqeuclidean"))) / 2

        def k(x: np.ndarray, y: np.ndarray) -> float:
            return float(np.exp(-cdist(x, y, "sqeuclidean") / (2 * sigma2)).mean())

        return k(a, a) + k(b, b) - 2 * k(a, b)

    _timed("embedding: exact O(n^2) MMD², 2k+2k rows, no null", exact)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="10000,100000")
    args = parser.parse_args()
    for rows in (int(r) for r in args.rows.split(",")):
        text(rows)
        embedding(rows)


if __name__ == "__main__":
    main()
