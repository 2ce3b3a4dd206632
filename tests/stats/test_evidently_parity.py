"""The automatic check equals Evidently's DataDriftPreset, column by column and on dataset drift.

Evidently 0.7.23 runs on the same frames. Method, score and verdict must agree for every column
except where docs/statistics.md says we differ on purpose: our ``chi_square`` is a two-sample
contingency test, Evidently's a goodness-of-fit against scaled reference counts, so on chi-square
columns only the method is compared (the test itself is checked against SciPy elsewhere) unless
the column is undrifted by construction (a shuffled copy), where both must say "no drift".
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitor.stats.check import CheckOptions, Status, check
from monitor.stats.profile import fit_profile
from monitor.stats.types import Compat
from tests.oracles.evidently import evidently_drift
from tests.oracles.frames import mixed_frames

pytestmark = pytest.mark.slow

#: Parity with Evidently is the ``evidently`` compatibility mode's promise (the default rule is calibrated).
EVIDENTLY = CheckOptions(compat=Compat.EVIDENTLY)

SCENARIOS = {
    # name: (n_reference, n_current, n_columns, seed, mirror)
    "small-windows": (800, 700, 20, 1, False),
    "large-windows": (5000, 4000, 20, 2, False),
    "mirrored-small": (600, 600, 20, 3, True),
    "mirrored-large": (3000, 3000, 20, 4, True),
}


def _compare(ref: pd.DataFrame, cur: pd.DataFrame, *, unchanged: set[str] = frozenset()) -> None:  # type: ignore[assignment]
    """Compare with Evidently; ``unchanged`` columns are shuffled copies (no test may flag them)."""
    peer = evidently_drift(ref, cur)
    ours = {c.column: c for c in check(fit_profile(ref), cur, EVIDENTLY).columns}
    assert set(peer.columns) == set(ours)
    for name, p in peer.columns.items():
        o = ours[name]
        assert o.status is Status.OK, (name, o.reason)
        assert str(o.method) == p.method, name
        if p.method == "chi_square":  # a different test by design: compare verdicts only, and only
            if name in unchanged:  # where the data make the verdict unambiguous
                assert not o.drifted and not p.drifted, name
            continue
        score = o.p_value if o.p_value is not None else o.statistic
        assert score == pytest.approx(p.score, rel=1e-9, abs=1e-12), name
        assert o.threshold == p.threshold and o.drifted == p.drifted, name
    differ = {n for n, p in peer.columns.items() if p.method == "chi_square" and n not in unchanged}
    ours_drifted = sum(o.drifted for n, o in ours.items() if n not in differ)
    peer_drifted = sum(p.drifted for n, p in peer.columns.items() if n not in differ)
    assert ours_drifted == peer_drifted
    if not differ:
        result = check(fit_profile(ref), cur, EVIDENTLY)
        assert result.drift_share == pytest.approx(peer.drift_share)
        assert result.dataset_drift == (peer.drift_share >= 0.5)


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_automatic_check_equals_evidently(scenario: str) -> None:
    n_ref, n_cur, n_cols, seed, mirror = SCENARIOS[scenario]
    ref, cur = mixed_frames(n_ref, n_cur, n_cols, seed=seed, mirror=mirror)
    unchanged = {c for i, c in enumerate(cur.columns) if mirror and i % 3 != 0}
    _compare(ref, cur, unchanged=unchanged)


def test_every_branch_of_the_automatic_choice_is_covered() -> None:
    methods = set()
    for n_ref, n_cur, n_cols, seed, mirror in SCENARIOS.values():
        ref, cur = mixed_frames(n_ref, n_cur, n_cols, seed=seed, mirror=mirror)
        methods |= {str(c.method) for c in check(fit_profile(ref), cur, EVIDENTLY).columns}
    assert methods == {"ks", "chi_square", "z_test", "wasserstein", "jensen_shannon"}


def test_reference_size_counts_non_missing_values_like_evidently() -> None:
    # 1040 rows of which about 60 missing: under 1000 values, so the small-sample tests apply.
    rng = np.random.default_rng(5)
    x = rng.normal(size=1040)
    x[:60] = np.nan
    ref = pd.DataFrame({"x": x, "y": rng.normal(size=1040)})
    cur = pd.DataFrame({"x": rng.normal(0.2, size=900), "y": rng.normal(size=900)})
    ours = {c.column: c for c in check(fit_profile(ref), cur, EVIDENTLY).columns}
    assert str(ours["x"].method) == "ks" and str(ours["y"].method) == "wasserstein"
    _compare(ref, cur)


def test_new_category_in_current_is_handled_like_evidently() -> None:
    rng = np.random.default_rng(6)
    ref = pd.DataFrame({"plan": rng.choice(["a", "b", "c"], 3000), "n": rng.normal(size=3000)})
    cur = pd.DataFrame({"plan": rng.choice(["a", "b", "c", "d"], 2500), "n": rng.normal(size=2500)})
    _compare(ref, cur)
    ours = {c.column: c for c in check(fit_profile(ref), cur, EVIDENTLY).columns}
    assert ours["plan"].new_categories == ("d",)
