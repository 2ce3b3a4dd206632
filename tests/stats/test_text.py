"""Text columns (monitor.stats.text): oracles for each statistic, the properties, a topic shift, the null.

Oracles: scikit-learn's ``roc_auc_score`` and SciPy's asymptotic ``mannwhitneyu`` for the
classifier's statistic and p-value, Python's ``str`` methods and ``re`` for the per-document
counts, and the ratio estimator's textbook variance computed from the residuals for the shares.
"""

from __future__ import annotations

import re
import sys

import numpy as np
import pandas as pd
import pytest
from scipy import stats
from sklearn.metrics import roc_auc_score

from monitor.errors import ConfigError, MissingExtra
from monitor.schema import parse_schema
from monitor.stats._domain import holdout_auc
from monitor.stats.check import CheckOptions, ColumnOptions, ColumnResult, check
from monitor.stats.profile import fit_profile, profile_from_bytes, profile_to_bytes
from monitor.stats.text import RatioSums, document_stats, ratio_test
from monitor.stats.types import ColumnType, DriftMethod

TEXT = {"t": ColumnType.TEXT}
# Two vocabularies of equal word lengths: a topic shift that moves no length statistic.
TOPIC_A = [f"a{i:03d}x" for i in range(400)]
TOPIC_B = [f"b{i:03d}x" for i in range(400)]


def documents(vocabulary: list[str], n: int, rng: np.random.Generator, *, zipf: bool = True) -> list[str]:
    """``n`` documents of 4-20 words from ``vocabulary``, Zipf-like word frequencies."""
    weights = 1.0 / np.arange(1, len(vocabulary) + 1) if zipf else np.ones(len(vocabulary))
    weights /= weights.sum()
    lengths = rng.integers(4, 21, n)
    words = rng.choice(vocabulary, size=int(lengths.sum()), p=weights)
    cuts = np.cumsum(lengths)[:-1]
    return [" ".join(w) + ("!" if i % 7 == 0 else "") for i, w in enumerate(np.split(words, cuts))]


def frame(docs: list[str | None]) -> pd.DataFrame:
    return pd.DataFrame({"t": pd.Series(docs, dtype=object)})


def by_column(results: tuple[ColumnResult, ...]) -> dict[str, ColumnResult]:
    return {r.column: r for r in results}


# --- oracles -------------------------------------------------------------------------------------


def test_document_counts_match_python_string_methods() -> None:
    docs = ["Hello, wörld! 42 times", "  ", "naïve café — 3€", "ÉTÉ été_x", "🙂 ok"]
    ds = document_stats(pd.Series(docs, dtype=object))
    assert ds.chars.tolist() == [len(d) for d in docs]
    assert ds.non_space.tolist() == [sum(not c.isspace() for c in d) for d in docs]
    assert ds.letters.tolist() == [sum(c.isalpha() for c in d) for d in docs]
    assert ds.tokens == [re.findall(r"\b\w+\b", d.lower()) for d in docs]


def test_ratio_test_uses_the_ratio_estimators_variance() -> None:
    rng = np.random.default_rng(3)
    totals_a, totals_b = rng.integers(1, 40, 300), rng.integers(1, 40, 200)
    parts_a, parts_b = rng.binomial(totals_a, 0.1), rng.binomial(totals_b, 0.14)
    a, b = RatioSums.of(parts_a, totals_a), RatioSums.of(parts_b, totals_b)

    def variance(o: np.ndarray, t: np.ndarray) -> float:  # n/(n-1) sum (o - r t)^2 / (sum t)^2, from residuals
        r = o.sum() / t.sum()
        return float(o.size / (o.size - 1) * ((o - r * t) ** 2).sum() / t.sum() ** 2)

    assert a.variance == pytest.approx(variance(parts_a, totals_a), rel=1e-9)
    z = (b.share - a.share) / np.sqrt(variance(parts_a, totals_a) + variance(parts_b, totals_b))
    outcome = ratio_test(a, b, alpha=0.05, floor=0.02)
    assert outcome.p_value == pytest.approx(2 * stats.norm.sf(abs(z)), rel=1e-9)
    assert outcome.effect == pytest.approx(abs(parts_b.sum() / totals_b.sum() - parts_a.sum() / totals_a.sum()))
    assert outcome.drifted is bool(outcome.p_value < 0.05 and outcome.effect >= 0.02)


def test_the_held_out_auc_is_mann_whitney_on_the_scored_half() -> None:
    rng = np.random.default_rng(0)
    n0, n1 = 120, 80
    scores = np.concatenate([rng.normal(0, 1, n0), rng.normal(0.4, 1, n1)])
    seen: list[np.ndarray] = []

    def score(train: np.ndarray, test: np.ndarray) -> np.ndarray:
        seen.extend([train, test])
        return scores[test]

    out = holdout_auc(n0, n1, score, alpha=0.05, floor=0.5, what="x")
    train, test = seen
    assert not set(train) & set(test) and len(test) == n0 // 2 + n1 // 2
    labels = np.arange(n0 + n1) >= n0
    assert out.auc == pytest.approx(roc_auc_score(labels[test], scores[test]))
    mw = stats.mannwhitneyu(scores[test][labels[test]], scores[test][~labels[test]], alternative="greater",
                            method="asymptotic", use_continuity=False)
    assert out.p_value == pytest.approx(mw.pvalue, rel=1e-9)


# --- properties ----------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", range(3))
def test_identical_samples_never_drift_and_row_order_does_not_matter(seed: int) -> None:
    rng = np.random.default_rng(seed)
    ref = frame([*documents(TOPIC_A, 600, rng), None, None])
    profile = fit_profile(ref, types=TEXT)
    same = check(profile, ref)
    assert [r.status.value for r in same.columns] == ["ok"] * 5
    assert not any(r.drifted for r in same.columns)
    assert same.columns[0].statistic == pytest.approx(0.5, abs=0.02)
    shuffled = ref.sample(frac=1.0, random_state=seed).reset_index(drop=True)
    assert check(profile, shuffled).columns == same.columns
    cur = frame(documents(TOPIC_A, 300, rng))
    refit = fit_profile(shuffled, types=TEXT)
    assert check(refit, cur).columns == check(profile, cur).columns
    assert check(profile, cur.iloc[::-1].reset_index(drop=True)).columns == check(profile, cur).columns


def test_a_topic_shift_is_found_by_the_classifier_and_the_vocabulary_not_by_the_lengths() -> None:
    rng = np.random.default_rng(11)
    profile = fit_profile(frame(documents(TOPIC_A, 1500, rng)), types=TEXT)
    shifted = frame(documents(TOPIC_A[:200] + TOPIC_B[:200], 800, rng))
    result = check(profile, shifted)
    got = by_column(result.columns)
    assert list(got) == ["t", "t:chars", "t:words", "t:oov", "t:non_letter"]
    assert got["t"].method is DriftMethod.TEXT_DOMAIN_CLASSIFIER and got["t"].drifted
    assert got["t"].statistic is not None and got["t"].statistic > 0.8
    named = re.search(r"words most typical of current: ([^;]+);", got["t"].reason)
    assert named is not None and all(w.startswith("b") for w in named.group(1).split(", "))
    assert got["t:oov"].method is DriftMethod.OOV_SHARE and got["t:oov"].drifted
    for part in ("t:chars", "t:words", "t:non_letter"):
        assert not got[part].drifted, got[part]
    assert got["t:chars"].method is DriftMethod.TEXT_LENGTH and got["t:chars"].type is ColumnType.TEXT
    # Only the classifier counts in the dataset verdict.
    assert result.counted_columns == ("t",) and result.dataset_drift


def test_a_length_change_is_found_by_the_length_tests() -> None:
    rng = np.random.default_rng(5)
    profile = fit_profile(frame(documents(TOPIC_A, 1000, rng)), types=TEXT)
    longer = frame([d + " " + d for d in documents(TOPIC_A, 500, rng)])
    got = by_column(check(profile, longer).columns)
    assert got["t:chars"].drifted and got["t:words"].drifted


def test_the_profile_round_trips_through_its_bytes() -> None:
    rng = np.random.default_rng(2)
    profile = fit_profile(frame(documents(TOPIC_A, 400, rng)), types=TEXT)
    back = profile_from_bytes(profile_to_bytes(profile))
    cur = frame(documents(TOPIC_A[:300] + TOPIC_B[:100], 200, rng))
    assert check(back, cur).columns == check(profile, cur).columns
    assert back.content_hash == profile.content_hash


def test_missing_documents_are_counted_and_an_empty_window_is_not_tested() -> None:
    rng = np.random.default_rng(4)
    profile = fit_profile(frame([*documents(TOPIC_A, 300, rng), None]), types=TEXT)
    result = check(profile, frame([None, None]))
    assert [(r.column, r.status.value) for r in result.columns] == [("t", "not_testable")]
    assert "no documents in the current data" in result.columns[0].reason
    assert result.columns[0].missing_reference == 1 and result.columns[0].missing_current == 2


def test_without_scikit_learn_the_error_names_the_ml_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(1)
    profile = fit_profile(frame(documents(TOPIC_A, 100, rng)), types=TEXT)
    monkeypatch.setitem(sys.modules, "sklearn.feature_extraction.text", None)
    with pytest.raises(MissingExtra, match=r"pip install 'driftline\[ml\]'"):
        check(profile, frame(documents(TOPIC_A, 100, rng)))


def test_the_schema_file_declares_text_and_embedding_columns() -> None:
    schema = parse_schema({"columns": {"p": "text", "v": {"type": "embedding", "dim": 4}}})
    assert schema.types == {"p": ColumnType.TEXT, "v": ColumnType.EMBEDDING} and schema.dims == {"v": 4}
    with pytest.raises(ConfigError, match=r"columns\.p\.dim: only embedding columns have a dim"):
        parse_schema({"columns": {"p": {"type": "text", "dim": 4}}})
    with pytest.raises(ConfigError, match=r"columns\.v\.dim: the vector length must be an integer"):
        parse_schema({"columns": {"v": {"type": "embedding", "dim": 0}}})


# --- the null: false alarms on stationary samples ------------------------------------------------


def clopper_pearson_upper(k: int, n: int, level: float = 0.99) -> float:
    return 1.0 if k == n else float(stats.beta.ppf(1.0 - (1.0 - level) / 2.0, k + 1, n - k))


def test_false_alarm_rate_on_stationary_text_is_within_budget() -> None:
    """The classifier's p-value alone (effect floor 0.5), and every verdict under the default rule.

    60 pairs of 250 reference and 150 current documents from one distribution: the rate of
    ``p < 0.05`` must not be significantly above 5% (its 99% Clopper-Pearson interval contains
    0.05 or lies below it), and the default verdicts (with their effect floors) alarm at most as often.
    """
    draws, alarms_p, alarms_default = 60, 0, {k: 0 for k in ("t", "t:chars", "t:words", "t:oov", "t:non_letter")}
    for seed in range(draws):
        rng = np.random.default_rng(1000 + seed)
        profile = fit_profile(frame(documents(TOPIC_A, 250, rng)), types=TEXT)
        cur = frame(documents(TOPIC_A, 150, rng))
        raw = by_column(check(profile, cur, CheckOptions(columns={"t": ColumnOptions(effect_floor=0.5)})).columns)
        assert raw["t"].p_value is not None
        alarms_p += raw["t"].p_value < 0.05
        for name, r in by_column(check(profile, cur).columns).items():
            alarms_default[name] += r.drifted
    rate = alarms_p / draws
    lower = 0.0 if alarms_p == 0 else float(stats.beta.ppf(0.005, alarms_p, draws - alarms_p + 1))
    assert lower <= 0.05, f"classifier p < 0.05 in {alarms_p}/{draws} = {rate:.3f}"
    for name, k in alarms_default.items():
        assert k <= alarms_p + 3 and (k == 0 or float(stats.beta.ppf(0.005, k, draws - k + 1)) <= 0.05), (name, k)
    print(f"stationary text: p<0.05 {alarms_p}/{draws}; default verdicts {alarms_default}")
