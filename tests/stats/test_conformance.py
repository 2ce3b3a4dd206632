"""The conformance battery every drift method passes, generated from ``drift.FUNCTIONS``.

A method joins the battery by being registered in ``monitor.stats.drift.FUNCTIONS``: nothing
here names a method. What a method takes follows from the sets in ``monitor.stats.types``:
methods in ``CATEGORICAL_METHODS`` work on aligned count vectors (the histogram methods, which
also accept numerical columns, get them binned), the other ``NUMERICAL_METHODS`` on two raw
samples. ``P_VALUE_METHODS`` take ``alpha`` and report a p-value; the others are distances
with a ``threshold``. The per-method oracles (SciPy, Evidently) and each method's own edge
cases stay in test_numerical_methods.py and test_count_methods.py.
"""

from __future__ import annotations

import dataclasses
import doctest
import inspect
from collections.abc import Callable

import numpy as np
import pytest
from numpy.typing import NDArray

from monitor.errors import InsufficientData
from monitor.stats import drift
from monitor.stats.sample import SortedSample
from monitor.stats.types import (
    CATEGORICAL_METHODS,
    EMBEDDING_METHODS,
    NUMERICAL_METHODS,
    P_VALUE_METHODS,
    TEXT_METHODS,
    DriftMethod,
    DriftResult,
)

Array = NDArray[np.float64]
Method = Callable[..., DriftResult]

METHODS: dict[DriftMethod, Method] = dict(drift.FUNCTIONS)
IDS = [m.value for m in METHODS]
SEEDS = range(5)


def takes_counts(method: DriftMethod) -> bool:
    """Whether ``method`` works on aligned count vectors rather than on two raw samples."""
    return method in CATEGORICAL_METHODS


def inputs(method: DriftMethod, seed: int) -> tuple[Array, Array]:
    """A reference and a current input of the kind ``method`` takes, drawn from ``seed``.

    Counts have two categories (the one shape every count method, z_test included, accepts);
    samples lie in [0, 1), values that a circular method reads as angles and the rest as numbers.
    """
    rng = np.random.default_rng(seed)
    if takes_counts(method):
        return (rng.multinomial(200, [0.35, 0.65]).astype(np.float64),
                rng.multinomial(150, [0.4, 0.6]).astype(np.float64))
    return rng.uniform(0.0, 1.0, 60), rng.beta(2.0, 3.0, 45)


def call(method: DriftMethod, reference: object, current: object, **kwargs: object) -> DriftResult:
    """Call a method; one that draws random numbers gets a seeded Generator unless one is given."""
    if "rng" in inspect.signature(METHODS[method]).parameters:
        kwargs.setdefault("rng", np.random.default_rng(7))
    return METHODS[method](reference, current, **kwargs)


def expected_sizes(method: DriftMethod, reference: Array, current: Array) -> tuple[int, int]:
    if takes_counts(method):
        return int(reference.sum()), int(current.sum())
    return int(np.isfinite(reference).sum()), int(np.isfinite(current).sum())


# --- the registry --------------------------------------------------------------------------


#: Whole-column tests of text and embedding columns (monitor.stats.text, monitor.stats.embedding) are
#: not two-sample functions of ``drift.FUNCTIONS``: they take a fitted column profile and a column,
#: so this battery cannot call them; tests/stats/test_text.py and test_embedding.py test them.
COLUMN_LEVEL = TEXT_METHODS | EMBEDDING_METHODS


def test_every_method_name_has_a_function() -> None:
    assert set(METHODS) == set(DriftMethod) - COLUMN_LEVEL
    assert not set(METHODS) & COLUMN_LEVEL


@pytest.mark.parametrize("method", METHODS, ids=IDS)
def test_each_method_has_a_kind_a_module_and_its_own_name(method: DriftMethod) -> None:
    assert method in NUMERICAL_METHODS | CATEGORICAL_METHODS, f"{method} accepts no column type"
    function = METHODS[method]
    assert function.__name__ == method.value
    assert function.__module__ == f"monitor.stats.drift.{method.value}"
    assert getattr(drift, method.value) is function and method.value in drift.__all__


@pytest.mark.parametrize("method", METHODS, ids=IDS)
def test_p_value_methods_take_alpha_and_distances_take_threshold(method: DriftMethod) -> None:
    parameters = inspect.signature(METHODS[method]).parameters
    own, other = ("alpha", "threshold") if method in P_VALUE_METHODS else ("threshold", "alpha")
    assert own in parameters and other not in parameters
    assert parameters[own].kind is inspect.Parameter.KEYWORD_ONLY
    reference, current = inputs(method, 0)
    assert call(method, reference, current).threshold == parameters[own].default


# --- results ---------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("method", METHODS, ids=IDS)
def test_result_is_frozen_typed_and_reports_the_sizes(method: DriftMethod, seed: int) -> None:
    reference, current = inputs(method, seed)
    result = call(method, reference, current)
    assert result.method is method
    assert (result.n_reference, result.n_current) == expected_sizes(method, reference, current)
    assert type(result.n_reference) is int and type(result.n_current) is int
    assert type(result.statistic) is float and type(result.threshold) is float
    assert type(result.drifted) is bool
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.drifted = not result.drifted  # type: ignore[misc]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("method", METHODS, ids=IDS)
def test_p_values_are_probabilities_and_distances_are_non_negative(method: DriftMethod, seed: int) -> None:
    result = call(method, *inputs(method, seed))
    if method in P_VALUE_METHODS:
        assert type(result.p_value) is float and 0.0 <= result.p_value <= 1.0
    else:
        assert result.p_value is None and result.statistic >= 0.0


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("method", METHODS, ids=IDS)
def test_identical_inputs_never_drift(method: DriftMethod, seed: int) -> None:
    reference, _ = inputs(method, seed)
    result = call(method, reference, reference.copy())
    assert result.drifted is False
    if method not in P_VALUE_METHODS:
        assert result.statistic == 0.0


@pytest.mark.parametrize("method", METHODS, ids=IDS)
def test_deterministic_for_a_fixed_seed_and_the_global_rng_is_left_alone(method: DriftMethod) -> None:
    before = np.random.get_state(legacy=False)
    first = call(method, *inputs(method, 3))
    again = call(method, *inputs(method, 3))  # fresh inputs, and a fresh Generator of the same seed
    assert again == first
    if "rng" in inspect.signature(METHODS[method]).parameters:
        assert METHODS[method](*inputs(method, 3)) == METHODS[method](*inputs(method, 3))  # rng=None
    after = np.random.get_state(legacy=False)
    assert np.array_equal(after["state"]["key"], before["state"]["key"])
    assert after["state"]["pos"] == before["state"]["pos"]


@pytest.mark.parametrize("method", METHODS, ids=IDS)
def test_the_order_of_rows_or_categories_does_not_change_the_verdict(method: DriftMethod) -> None:
    reference, current = inputs(method, 1)
    result = call(method, reference, current)
    if takes_counts(method):  # categories reversed: a signed statistic (z_test) may flip its sign
        turned = call(method, reference[::-1].copy(), current[::-1].copy())
        assert abs(turned.statistic) == pytest.approx(abs(result.statistic), rel=1e-9, abs=1e-12)
        if result.p_value is None:
            assert turned.p_value is None
        else:
            assert turned.p_value == pytest.approx(result.p_value, rel=1e-9, abs=1e-12)
        assert turned.drifted is result.drifted
    else:
        rng = np.random.default_rng(11)
        assert call(method, rng.permutation(reference), rng.permutation(current)) == result


@pytest.mark.parametrize("method", [m for m in METHODS if not takes_counts(m)],
                         ids=[m.value for m in METHODS if not takes_counts(m)])
def test_sample_methods_accept_a_sorted_sample(method: DriftMethod) -> None:
    reference, current = inputs(method, 2)
    assert call(method, SortedSample.of(reference), SortedSample.of(current)) == call(method, reference, current)


# --- errors ----------------------------------------------------------------------------------


def _raises_section(method: DriftMethod) -> str:
    doc = inspect.getdoc(METHODS[method]) or ""
    assert "Raises\n------" in doc, f"{method} documents no Raises section"
    return doc.split("Raises\n------", 1)[1].split("\n\n", 1)[0]


@pytest.mark.parametrize("side", ["reference", "current"])
@pytest.mark.parametrize("method", METHODS, ids=IDS)
def test_an_empty_side_is_insufficient_data_naming_it(method: DriftMethod, side: str) -> None:
    assert "InsufficientData" in _raises_section(method)
    reference, current = inputs(method, 0)
    empty = np.zeros_like(reference) if takes_counts(method) else np.array([np.nan, np.inf, -np.inf])
    args = (empty, current) if side == "reference" else (reference, empty)
    with pytest.raises(InsufficientData, match=side) as info:
        call(method, *args)
    assert info.value.got == 0 and info.value.needed >= 1


@pytest.mark.parametrize("side", ["reference", "current"])
@pytest.mark.parametrize("method", [m for m in METHODS if not takes_counts(m)],
                         ids=[m.value for m in METHODS if not takes_counts(m)])
def test_the_minimum_sample_size_is_exact(method: DriftMethod, side: str) -> None:
    """One finite value either suffices or is refused with the size needed; that size then works."""
    plenty = np.linspace(0.05, 0.95, 50)

    def with_side(n: int) -> tuple[Array, Array]:
        few = np.concatenate([np.linspace(0.1, 0.9, n), [np.nan]])
        return (few, plenty) if side == "reference" else (plenty, few)

    try:
        call(method, *with_side(1))
        needed = 1
    except InsufficientData as exc:
        assert exc.got == 1 and exc.needed > 1 and side in str(exc)
        needed = exc.needed
        with pytest.raises(InsufficientData, match=side) as info:
            call(method, *with_side(needed - 1))
        assert (info.value.needed, info.value.got) == (needed, needed - 1)
    result = call(method, *with_side(needed))
    assert (result.n_reference if side == "reference" else result.n_current) == needed


@pytest.mark.parametrize("method", METHODS, ids=IDS)
def test_malformed_input_is_a_value_error(method: DriftMethod) -> None:
    """Misaligned count vectors, or a sample that is not one-dimensional, as the docstrings say."""
    reference, current = inputs(method, 0)
    if takes_counts(method):
        assert "aligned" in _raises_section(method)
        with pytest.raises(ValueError, match="aligned"):
            call(method, reference, np.append(current, 5.0))
    else:
        assert "one-dimensional" in _raises_section(method)
        with pytest.raises(ValueError, match="one-dimensional"):
            call(method, reference.reshape(6, 10), current)


@pytest.mark.parametrize("method", METHODS, ids=IDS)
def test_a_bad_alpha_or_threshold_is_refused_by_name(method: DriftMethod) -> None:
    reference, current = inputs(method, 0)
    name, bad = ("alpha", 1.5) if method in P_VALUE_METHODS else ("threshold", -0.1)
    with pytest.raises(ValueError, match=rf"{name} \({bad}\)"):
        call(method, reference, current, **{name: bad})


# --- documentation ---------------------------------------------------------------------------


@pytest.mark.parametrize("method", METHODS, ids=IDS)
def test_the_docstring_has_an_example_that_calls_the_method_and_passes(method: DriftMethod) -> None:
    function = METHODS[method]
    doc = inspect.getdoc(function) or ""
    assert "Examples\n--------" in doc, f"{method} has no Examples section"
    examples = doc.split("Examples\n--------", 1)[1]
    assert f"{method.value}(" in examples and ">>>" in examples
    module = inspect.getmodule(function)
    assert module is not None
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    for test in doctest.DocTestFinder().find(function, method.value, module=module, globs=vars(module).copy()):
        runner.run(test)
    outcome = runner.summarize(verbose=False)
    assert outcome.attempted > 0 and outcome.failed == 0
