"""Drift of free-text columns (prompts, responses): length, vocabulary, character mix, and a classifier.

A column declared ``type: text`` is fitted into a :class:`TextProfile` and tested as five results
(docs/statistics.md, "Text and embedding columns"):

* ``<column>`` — ``text_domain_classifier``: can a linear model on TF-IDF features tell current
  documents from reference ones? Evidently's text drift idea (scikit-learn's ``TfidfVectorizer``
  and a linear classifier), here trained on half of up to ``max_documents`` documents per side
  and scored on the other half, whose ROC AUC has the exact Mann-Whitney null
  (:mod:`monitor.stats._domain`); drifted when ``p < alpha`` and ``AUC >= 0.55``. When it
  drifts, the words that most separate the two sides (the largest coefficients of one model fitted
  on all the documents) are named in ``reason``. This is the result the dataset verdict counts.
* ``<column>:chars``, ``<column>:words`` — ``text_length``: characters and words per document,
  tested as numerical columns under the calibrated rule (the method the automatic choice picks
  is named in ``reason``).
* ``<column>:oov`` — ``oov_share``: the share of word tokens not in the reference vocabulary.
* ``<column>:non_letter`` — ``non_letter_share``: the share of non-space characters that are not
  letters (digits, punctuation, symbols, emoji).

The two shares are **proportion tests that respect documents**: tokens of one document are not
independent, so the variance of a share ``r = sum o_i / sum t_i`` is the ratio estimator's
(linearised, ``n/(n-1) sum (o_i - r t_i)^2 / (sum t_i)^2``), and ``z = (r_cur - r_ref) /
sqrt(V_cur + V_ref)`` is two-sided; drifted when ``p < alpha`` and the share moves by at least
0.02. The vocabulary is that of half the reference documents (every other document in a seeded
order of their hashes), and the reference's own out-of-vocabulary share is measured on the other
half, so both sides meet the vocabulary as unseen documents do.

Words are ``(?u)\\b\\w+\\b`` tokens of the lower-cased text (scikit-learn's pattern, one-letter
words kept). Every choice of rows goes through a seeded order of the documents' hashes, so the
results do not depend on the order of the rows. scikit-learn is imported only by the classifier
(the ``ml`` extra; :class:`~monitor.errors.MissingExtra` without it).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray
from scipy import stats

from monitor.errors import InputError
from monitor.stats._domain import holdout_auc, sklearn_module
from monitor.stats.types import ColumnType, DriftMethod, Rule

if TYPE_CHECKING:
    from monitor.stats.check import ColumnOptions, ColumnResult
    from monitor.stats.profile import NumericalProfile

__all__ = [
    "AUC_FLOOR",
    "MAX_DOCUMENTS",
    "SHARE_FLOOR",
    "TOKEN_PATTERN",
    "RatioSums",
    "TextOptions",
    "TextProfile",
    "canonical_order",
    "check_text",
    "document_stats",
    "fit_text",
    "ratio_test",
    "text_values",
]

#: Word tokens: scikit-learn's pattern with one-letter words kept, applied to lower-cased text.
TOKEN_PATTERN = r"(?u)\b\w+\b"
#: Documents per side the classifier reads (a seeded sample of the rest).
MAX_DOCUMENTS = 5_000
#: The classifier's effect floor: 5 points of separability above chance.
AUC_FLOOR = 0.55
#: The shares' effect floor: an absolute change of 2 percentage points.
SHARE_FLOOR = 0.02
_LETTER = r"[^\W\d_]"
_F = NDArray[np.float64]


@dataclass(frozen=True, slots=True, kw_only=True)
class RatioSums:
    """The sums a share ``sum parts / sum totals`` over documents needs, with its ratio-estimator variance."""

    n: int
    parts: float
    totals: float
    parts2: float
    cross: float
    totals2: float

    @classmethod
    def of(cls, parts: NDArray[Any], totals: NDArray[Any]) -> RatioSums:
        """The sums of per-document counts ``parts`` out of ``totals``."""
        o, t = parts.astype(np.float64), totals.astype(np.float64)
        return cls(n=int(o.size), parts=float(o.sum()), totals=float(t.sum()), parts2=float(o @ o),
                   cross=float(o @ t), totals2=float(t @ t))

    @property
    def share(self) -> float:
        return self.parts / self.totals if self.totals > 0 else float("nan")

    @property
    def variance(self) -> float:
        """``n/(n-1) sum (o_i - r t_i)^2 / (sum t_i)^2``, from the stored sums."""
        if self.n < 2 or self.totals <= 0:
            return float("nan")
        r = self.share
        ss = max(self.parts2 - 2.0 * r * self.cross + r * r * self.totals2, 0.0)
        return self.n / (self.n - 1) * ss / (self.totals * self.totals)

    def to_list(self) -> list[float]:
        return [self.n, self.parts, self.totals, self.parts2, self.cross, self.totals2]

    @classmethod
    def from_list(cls, v: list[float]) -> RatioSums:
        return cls(n=int(v[0]), parts=v[1], totals=v[2], parts2=v[3], cross=v[4], totals2=v[5])


@dataclass(frozen=True, slots=True, kw_only=True)
class TextOptions:
    """Fit-time options of a text column."""

    max_documents: int = MAX_DOCUMENTS
    seed: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class TextProfile:
    """A text reference column: length profiles, the vocabulary, the shares' sums and a document sample."""

    column: str
    reason: str
    n_rows: int
    n_missing: int
    chars: NumericalProfile
    words: NumericalProfile
    vocabulary: frozenset[str]
    oov: RatioSums
    non_letter: RatioSums
    #: Up to ``max_documents`` reference documents, in the seeded hash order (the classifier's sample).
    documents: tuple[str, ...]
    seed: int = 0

    type = ColumnType.TEXT


def text_values(series: pd.Series, name: str) -> tuple[pd.Series, int]:
    """The present documents of a column as ``str`` (a non-string value is written as text), and the number missing."""
    present = series[series.notna().to_numpy()]
    if present.size and not all(isinstance(v, str) for v in present.head(1000)):
        present = present.map(str)
    docs = pd.Series(present.to_numpy(dtype=object), dtype=object)
    return docs, int(series.size - docs.size)


def canonical_order(docs: pd.Series, seed: int) -> NDArray[np.intp]:
    """A seeded order of documents that depends on their contents only (not their row order).

    Documents are sorted by hash (equal documents side by side), then shuffled with a
    generator seeded by ``seed`` and the sorted hashes, so rows given in any order come out in
    the same order and identical documents are not kept together.
    """
    hashes = pd.util.hash_pandas_object(docs, index=False).to_numpy()
    order = np.argsort(hashes, kind="stable")
    digest = int(np.bitwise_xor.reduce(hashes) if hashes.size else 0) & 0xFFFFFFFF
    shuffled: NDArray[np.intp] = order[np.random.default_rng([seed, digest]).permutation(order.size)]
    return shuffled


@dataclass(frozen=True, slots=True, kw_only=True)
class DocumentStats:
    """Per-document counts of one column's documents (vectorised, no per-row Python loop beyond ``re``)."""

    chars: NDArray[np.int64]
    non_space: NDArray[np.int64]
    letters: NDArray[np.int64]
    tokens: list[list[str]]

    @property
    def words(self) -> NDArray[np.int64]:
        return np.fromiter((len(t) for t in self.tokens), dtype=np.int64, count=len(self.tokens))


def document_stats(docs: pd.Series) -> DocumentStats:
    """Characters, non-space characters, letters and the word tokens of each document."""
    s = docs.astype(object)
    chars: NDArray[np.int64] = np.asarray(s.str.len().to_numpy(), dtype=np.int64)
    spaces: NDArray[np.int64] = np.asarray(s.str.count(r"\s").to_numpy(), dtype=np.int64)
    letters: NDArray[np.int64] = np.asarray(s.str.count(_LETTER).to_numpy(), dtype=np.int64)
    tokens = s.str.lower().str.findall(TOKEN_PATTERN).tolist()
    return DocumentStats(chars=chars, non_space=chars - spaces, letters=letters, tokens=tokens)


def _out_of_vocabulary(tokens: list[list[str]], vocabulary: frozenset[str]) -> NDArray[np.int64]:
    """Per document, how many of its tokens are not in ``vocabulary``."""
    lengths = np.fromiter((len(t) for t in tokens), dtype=np.int64, count=len(tokens))
    flat = pd.Series(list(itertools.chain.from_iterable(tokens)), dtype=object)
    unseen = (~flat.isin(vocabulary)).to_numpy()
    doc = np.repeat(np.arange(len(tokens)), lengths)
    return np.bincount(doc, weights=unseen, minlength=len(tokens)).astype(np.int64)


def fit_text(series: pd.Series, name: str, reason: str, options: TextOptions | None = None, *,
             numerical: Callable[[str, pd.Series], NumericalProfile]) -> TextProfile:
    """Fit a text column. ``numerical(name, values)`` fits a numerical profile (the lengths')."""
    options = options or TextOptions()
    docs, n_missing = text_values(series, name)
    order = canonical_order(docs, options.seed)
    ds = document_stats(docs)
    half_a, half_b = order[0::2], order[1::2]
    vocabulary = frozenset(itertools.chain.from_iterable(ds.tokens[i] for i in half_a))
    b_tokens = [ds.tokens[i] for i in half_b]
    oov = RatioSums.of(_out_of_vocabulary(b_tokens, vocabulary), ds.words[half_b])
    return TextProfile(
        column=name, reason=reason, n_rows=int(series.size), n_missing=n_missing,
        chars=numerical(f"{name}:chars", pd.Series(ds.chars, dtype=np.float64)),
        words=numerical(f"{name}:words", pd.Series(ds.words, dtype=np.float64)),
        vocabulary=vocabulary, oov=oov, non_letter=RatioSums.of(ds.non_space - ds.letters, ds.non_space),
        documents=tuple(docs.iloc[order[:options.max_documents]]), seed=options.seed,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class RatioOutcome:
    statistic: float  # the current share
    effect: float     # |current share - reference share|
    p_value: float
    drifted: bool


def ratio_test(reference: RatioSums, current: RatioSums, *, alpha: float, floor: float) -> RatioOutcome:
    """Two-sided z-test of two shares with the ratio estimator's variance on each side.

    >>> a = RatioSums.of(np.array([1, 0, 2, 1]), np.array([10, 10, 10, 10]))
    >>> ratio_test(a, a, alpha=0.05, floor=0.02).p_value
    1.0
    """
    if reference.totals <= 0 or current.totals <= 0 or reference.n < 2 or current.n < 2:
        side = "reference" if reference.totals <= 0 or reference.n < 2 else "current"
        raise InputError(f"too few words or characters in the {side} data for a share test")
    diff = current.share - reference.share
    var = reference.variance + current.variance
    if var > 0:
        p = float(2.0 * stats.norm.sf(abs(diff) / np.sqrt(var)))
    else:
        p = 1.0 if diff == 0 else 0.0
    return RatioOutcome(statistic=current.share, effect=abs(diff), p_value=min(p, 1.0),
                        drifted=bool(p < alpha and abs(diff) >= floor))


def _tfidf_scores(docs: list[str], n0: int, seed: int, alpha: float, floor: float, what: str
                  ) -> tuple[float, float, float, float, bool, Callable[[], tuple[list[str], list[str]]]]:
    text = sklearn_module("feature_extraction.text", "text drift (text_domain_classifier)")
    linear = sklearn_module("linear_model", "text drift (text_domain_classifier)")
    labels = np.arange(len(docs)) >= n0
    array = np.asarray(docs, dtype=object)

    def model() -> tuple[Any, Any]:
        vectorizer = text.TfidfVectorizer(token_pattern=TOKEN_PATTERN, lowercase=True, sublinear_tf=True,
                                          max_features=50_000, dtype=np.float32)
        classifier = linear.LogisticRegression(C=1.0, class_weight="balanced", max_iter=300, random_state=seed)
        return vectorizer, classifier

    def score(train: NDArray[np.intp], test: NDArray[np.intp]) -> _F:
        vectorizer, classifier = model()
        classifier.fit(vectorizer.fit_transform(array[train]), labels[train])
        out: _F = classifier.decision_function(vectorizer.transform(array[test])).astype(np.float64)
        return out

    outcome = holdout_auc(n0, len(docs) - n0, score, alpha=alpha, floor=floor, what=what)

    def top_words(k: int = 5) -> tuple[list[str], list[str]]:
        vectorizer, classifier = model()
        classifier.fit(vectorizer.fit_transform(array), labels)
        words = vectorizer.get_feature_names_out()
        coef = classifier.coef_[0]
        order = np.lexsort((words, -coef))
        return [str(words[i]) for i in order[:k] if coef[i] > 0], [str(words[i]) for i in order[::-1][:k] if coef[i] < 0]

    return (outcome.auc, outcome.p_value, outcome.null_threshold, outcome.threshold, outcome.drifted, top_words)


def _levels(opts: ColumnOptions, alpha: float, floor: float) -> tuple[float, float]:
    a = opts.alpha if opts.alpha is not None else alpha
    return a, opts.effect_floor if opts.effect_floor is not None else floor


def check_text(profile: TextProfile, series: pd.Series, *, alpha: float, column_options: ColumnOptions,
               base: Callable[[int, int], ColumnResult],
               numerical: Callable[[NumericalProfile, pd.Series], ColumnResult]) -> list[ColumnResult]:
    """The five results of a text column (see the module docstring).

    ``base(n_current, missing_current)`` is the column's untested result with its missing-rate
    test; ``numerical(profile, values)`` tests a length column under the calibrated rule.
    """
    from monitor.stats.check import Status

    docs, n_missing = text_values(series, profile.column)
    start = base(int(docs.size), n_missing)
    name = profile.column
    if docs.size == 0 or not profile.documents:
        side = "current" if profile.documents else "reference"
        return [replace(start, reason=f"no documents in the {side} data")]
    ds = document_stats(docs)
    out: list[ColumnResult] = []
    # 1. the domain classifier on TF-IDF features (counted)
    order = canonical_order(docs, profile.seed)
    current_docs = [str(d) for d in docs.iloc[order[:len(profile.documents)]]]
    a, floor = _levels(column_options, alpha, AUC_FLOOR)
    auc, p, null_q, threshold, drifted, top = _tfidf_scores(
        [*profile.documents, *current_docs], len(profile.documents), profile.seed, a, floor, name)
    reason = (f"logistic regression on TF-IDF words, trained on half and scored (ROC AUC) on the other half of "
              f"{len(profile.documents):,} reference and {len(current_docs):,} current documents")
    if drifted:
        more_current, more_reference = top()
        reason += (f"; words most typical of current: {', '.join(more_current) or '-'}; "
                   f"of reference: {', '.join(more_reference) or '-'}")
    out.append(replace(start, method=DriftMethod.TEXT_DOMAIN_CLASSIFIER, reason=reason, statistic=auc, p_value=p,
                       threshold=threshold, drifted=drifted, status=Status.OK, effect=auc, effect_floor=floor,
                       null_threshold=null_q, alpha=a, rule=Rule.CALIBRATED))
    # 2. lengths, as numerical columns under the calibrated rule
    for part, values, prof in (("characters", ds.chars, profile.chars), ("words", ds.words, profile.words)):
        r = numerical(prof, pd.Series(values, dtype=np.float64))
        out.append(replace(r, column=prof.column, type=ColumnType.TEXT, method=DriftMethod.TEXT_LENGTH,
                           reason=f"{part} per document; {r.reason}", out_of_range_current=None,
                           n_current=int(docs.size), missing_current=n_missing, missing_reference=profile.n_missing,
                           missing_p_value=start.missing_p_value, missing_drifted=start.missing_drifted))
    # 3. the shares, as proportion tests over documents
    a, floor = _levels(column_options, alpha, SHARE_FLOOR)
    shares: Iterable[tuple[str, DriftMethod, RatioSums, RatioSums, str]] = (
        ("oov", DriftMethod.OOV_SHARE, profile.oov,
         RatioSums.of(_out_of_vocabulary(ds.tokens, profile.vocabulary), ds.words),
         f"share of words not in the reference vocabulary ({len(profile.vocabulary):,} words)"),
        ("non_letter", DriftMethod.NON_LETTER_SHARE, profile.non_letter,
         RatioSums.of(ds.non_space - ds.letters, ds.non_space), "share of non-space characters that are not letters"),
    )
    for suffix, method, ref, cur, what in shares:
        try:
            t = ratio_test(ref, cur, alpha=a, floor=floor)
        except InputError as exc:
            out.append(replace(start, column=f"{name}:{suffix}", method=method, reason=str(exc)))
            continue
        out.append(replace(start, column=f"{name}:{suffix}", method=method,
                           reason=f"{what}: reference {ref.share:.4f}, current {cur.share:.4f}; two-proportion z-test "
                                  "with the ratio estimator's variance over documents",
                           statistic=t.statistic, p_value=t.p_value, threshold=a, drifted=t.drifted, status=Status.OK,
                           effect=t.effect, effect_floor=floor, alpha=a, rule=Rule.CALIBRATED))
    return out


# --- persistence (the profile's .npz: arrays plus a JSON header entry) ----------------------------


def _pack(strings: Iterable[str]) -> tuple[NDArray[np.uint8], NDArray[np.int64]]:
    encoded = [s.encode("utf-8") for s in strings]
    offsets = np.cumsum([0, *(len(b) for b in encoded)], dtype=np.int64)
    return np.frombuffer(b"".join(encoded), dtype=np.uint8).copy(), offsets


def _unpack(data: NDArray[np.uint8], offsets: NDArray[np.int64]) -> list[str]:
    raw = data.tobytes()
    return [raw[int(a):int(b)].decode("utf-8") for a, b in zip(offsets[:-1], offsets[1:], strict=True)]


def text_to_entry(profile: TextProfile, prefix: str) -> tuple[dict[str, Any], dict[str, NDArray[Any]]]:
    """The header entry and arrays of a text profile (the length profiles' values and edges included)."""
    vocab, vocab_at = _pack(sorted(profile.vocabulary))
    docs, docs_at = _pack(profile.documents)
    entry = {"type": "text", "n_missing": profile.n_missing, "seed": profile.seed, "oov": profile.oov.to_list(),
             "non_letter": profile.non_letter.to_list(),
             "chars_n_missing": profile.chars.n_missing, "words_n_missing": profile.words.n_missing}
    arrays: dict[str, NDArray[Any]] = {
        f"{prefix}_vocab": vocab, f"{prefix}_vocab_at": vocab_at, f"{prefix}_docs": docs, f"{prefix}_docs_at": docs_at,
        f"{prefix}_chars_values": profile.chars.sample.values, f"{prefix}_chars_edges": profile.chars.bin_edges,
        f"{prefix}_words_values": profile.words.sample.values, f"{prefix}_words_edges": profile.words.bin_edges,
    }
    return entry, arrays


def text_from_entry(entry: dict[str, Any], arrays: dict[str, NDArray[Any]], prefix: str,
                    numerical: Callable[[str, int, int, NDArray[np.float64], NDArray[np.float64]], NumericalProfile]
                    ) -> TextProfile:
    """Read what :func:`text_to_entry` wrote; ``numerical(name, n_rows, n_missing, values, edges)`` rebuilds a length profile."""
    name, n_rows = entry["column"], entry["n_rows"]
    return TextProfile(
        column=name, reason=entry["reason"], n_rows=n_rows, n_missing=entry["n_missing"],
        chars=numerical(f"{name}:chars", n_rows - entry["n_missing"], entry["chars_n_missing"],
                        arrays[f"{prefix}_chars_values"], arrays[f"{prefix}_chars_edges"]),
        words=numerical(f"{name}:words", n_rows - entry["n_missing"], entry["words_n_missing"],
                        arrays[f"{prefix}_words_values"], arrays[f"{prefix}_words_edges"]),
        vocabulary=frozenset(_unpack(arrays[f"{prefix}_vocab"], arrays[f"{prefix}_vocab_at"])),
        oov=RatioSums.from_list(entry["oov"]), non_letter=RatioSums.from_list(entry["non_letter"]),
        documents=tuple(_unpack(arrays[f"{prefix}_docs"], arrays[f"{prefix}_docs_at"])), seed=entry["seed"],
    )
