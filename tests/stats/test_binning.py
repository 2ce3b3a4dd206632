"""Binning survives ties: atoms get their own bins, tails catch out-of-range values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from monitor.stats.binning import bin_counts, quantile_edges, value_counts_sorted
from monitor.stats.sample import SortedSample


def test_zero_inflated_feature_keeps_zeros_apart_and_sees_the_nonzero_part_move() -> None:
    rng = np.random.default_rng(7)
    ref_values = np.where(rng.random(20_000) < 0.9, 0.0, rng.lognormal(0.0, 0.5, 20_000))
    cur_values = np.where(rng.random(20_000) < 0.9, 0.0, rng.lognormal(1.5, 0.5, 20_000))
    ref, cur = SortedSample.of(ref_values), SortedSample.of(cur_values)
    edges = quantile_edges(ref, 10)
    ref_counts, cur_counts = bin_counts(ref, edges), bin_counts(cur, edges)
    assert (ref_counts > 0).sum() >= 3, "the non-zero part must get bins of its own"
    zero_bin = int(np.searchsorted(edges, 0.0, side="right"))
    assert ref_counts[zero_bin] == np.count_nonzero(ref_values == 0.0)
    shares_ref, shares_cur = ref_counts / ref.size, cur_counts / cur.size
    assert np.abs(shares_ref - shares_cur).sum() / 2 > 0.05  # the move is visible in the bins


def test_out_of_range_values_fall_in_the_open_tail_bins() -> None:
    ref = SortedSample.of(np.linspace(0.0, 1.0, 1000))
    edges = quantile_edges(ref, 10)
    counts = bin_counts(SortedSample.of([-5.0, 0.5, 7.0]), edges)
    assert counts[0] == 1 and counts[-1] >= 1 and counts.sum() == 3


def test_few_distinct_values_get_one_bin_each() -> None:
    ref = SortedSample.of(np.repeat([1.0, 2.0, 3.0], [10, 20, 30]))
    counts = bin_counts(ref, quantile_edges(ref, 10))
    assert sorted(counts[counts > 0].tolist()) == [10, 20, 30]


def test_bad_bin_count_is_refused_with_the_value() -> None:
    with pytest.raises(ValueError, match=r"n_bins \(1\)"):
        quantile_edges(SortedSample.of([1.0, 2.0]), 1)


@given(st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=300), st.integers(2, 30))
def test_bins_partition_the_sample(values: list[float], n_bins: int) -> None:
    sample = SortedSample.of(values)
    edges = quantile_edges(sample, n_bins)
    assert np.all(np.diff(edges) > 0)
    assert bin_counts(sample, edges).sum() == sample.size


@given(st.lists(st.integers(-5, 5).map(float), min_size=1, max_size=100))
def test_value_counts_sorted_matches_numpy_unique(values: list[float]) -> None:
    arr = np.sort(np.asarray(values))
    v, c = value_counts_sorted(arr)
    uv, uc = np.unique(arr, return_counts=True)
    assert v.tolist() == uv.tolist() and c.tolist() == uc.tolist()


def test_continuous_edges_are_numpys_quantiles_of_the_reference() -> None:
    values = np.random.default_rng(3).normal(size=5001)
    edges = quantile_edges(SortedSample.of(values), 10)
    np.testing.assert_allclose(edges, np.quantile(values, np.linspace(0, 1, 11)[1:-1]), rtol=1e-12)
