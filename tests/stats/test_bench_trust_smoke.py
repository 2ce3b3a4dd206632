"""benchmarks/bench_trust.py at a tiny size: its figures are well formed and its arithmetic is right.

The interval is checked against the closed form of Clopper-Pearson (beta quantiles), not against
the benchmark's own output; the rates against what docs/statistics.md documents for 30-row
windows (Evidently's rule fires on nearly every normal column, the calibrated one rarely).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats

from benchmarks.bench_trust import ALPHA, STREAMS, Rate, render, run, shifted_shares


@pytest.mark.parametrize(("k", "n"), [(0, 40), (3, 40), (40, 40), (17, 200)])
def test_rate_interval_is_the_exact_clopper_pearson_interval(k: int, n: int) -> None:
    low = 0.0 if k == 0 else float(stats.beta.ppf(0.025, k, n - k + 1))
    high = 1.0 if k == n else float(stats.beta.ppf(0.975, k + 1, n - k))
    assert Rate(k, n).interval == pytest.approx((low, high), abs=1e-9)
    assert Rate(k, n).meets_nominal is (low <= ALPHA)


def test_shifted_shares_move_the_first_category_only_by_plus() -> None:
    shares = shifted_shares(0.2)
    assert shares.sum() == pytest.approx(1.0)
    assert shares[0] == pytest.approx(0.6)
    assert np.all(np.diff(shares[1:]) < 0)  # the rest keep their order


def test_tiny_run_gives_every_figure_and_separates_the_rules_on_small_windows() -> None:
    figures = run(sizes=(30,), references=(2000,), draws=20, draws_large=2, power_draws=10, peer_draws=0,
                  seed=0, progress=lambda _: None)
    cell = figures["references"]["2000"]["sizes"]["30"]
    assert set(cell["columns"]["calibrated"]) == set(STREAMS)
    normal_cal = cell["columns"]["calibrated"]["normal"]
    normal_evi = cell["columns"]["evidently"]["normal"]
    assert normal_cal["draws"] == normal_evi["draws"] == 20
    assert normal_evi["rate"] >= 0.8  # a fixed 0.1 Wasserstein threshold fires on 30-row noise
    assert normal_cal["alarms"] <= 5
    assert cell["power"]["normal +0.5 sd"]["evidently"]["draws"] == 10
    table = render(json.loads(json.dumps(figures)))  # the JSON form renders the same tables
    assert "| normal | 30 | 20 |" in table and ("PASS" in table or "FAIL" in table)
