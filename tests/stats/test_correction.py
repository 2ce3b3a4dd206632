"""P-value corrections against SciPy and the textbook definitions."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import stats

from monitor.stats.correction import Correction, adjust_p_values

p_lists = st.lists(st.floats(0.0, 1.0), min_size=1, max_size=60).map(np.asarray)


@given(p_lists)
def test_benjamini_hochberg_equals_scipy(p: np.ndarray) -> None:
    np.testing.assert_allclose(adjust_p_values(p, Correction.BENJAMINI_HOCHBERG),
                               stats.false_discovery_control(p, method="bh"), rtol=1e-12, atol=1e-15)


@given(p_lists)
def test_holm_equals_its_definition(p: np.ndarray) -> None:
    k = p.size
    order = np.argsort(p, kind="stable")
    expected = np.empty(k)
    running = 0.0
    for rank, idx in enumerate(order):  # the textbook step-down, one p-value at a time
        running = max(running, min(1.0, (k - rank) * p[idx]))
        expected[idx] = running
    np.testing.assert_allclose(adjust_p_values(p, Correction.HOLM), expected, rtol=1e-12)


@given(p_lists)
def test_adjusted_p_values_are_bounded_and_never_smaller(p: np.ndarray) -> None:
    for correction in Correction:
        adj = adjust_p_values(p, correction)
        assert np.all(adj >= p - 1e-15) and np.all(adj <= 1.0)


def test_bonferroni_multiplies_by_the_number_of_tests() -> None:
    assert adjust_p_values([0.01, 0.2, 0.5], Correction.BONFERRONI).tolist() == pytest.approx([0.03, 0.6, 1.0])


def test_invalid_p_values_are_refused() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        adjust_p_values([0.5, 1.5], Correction.HOLM)
