"""Reference-versus-current distributions of one column, as shares, for the report's charts.

Numerical columns reuse the profile's own bins (the reference quantile bins that PSI and the
other histogram methods test on), so a chart shows what those methods saw; the current column
is counted with :func:`~monitor.stats.binning.bin_counts` on its sorted finite values.
Categorical columns show the 20 largest categories and fold the rest into ``other``, so one
chart stays readable at any cardinality. Everything here is pure: a profile and a series in,
a frozen :class:`Distribution` out.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from monitor.errors import InputError
from monitor.stats.binning import bin_counts
from monitor.stats.profile import (
    CategoricalProfile,
    ColumnProfile,
    NumericalProfile,
    categorical_counts,
    numerical_values,
)

__all__ = ["OTHER", "TOP_CATEGORIES", "Distribution", "distribution"]

#: Categories charted one by one; the rest are summed into :data:`OTHER`.
TOP_CATEGORIES = 20

#: The label of the bar that sums the categories beyond :data:`TOP_CATEGORIES`.
OTHER = "other"


@dataclass(frozen=True, slots=True, kw_only=True)
class Distribution:
    """Shares per bin or category; ``current`` is ``None`` when the window has no values to count."""

    kind: str  # "numerical" or "categorical"
    labels: tuple[str, ...]
    reference: tuple[float, ...]
    current: tuple[float, ...] | None
    new: tuple[bool, ...]  # per label: a category absent from the reference
    n_reference: int
    n_current: int


def _shares(counts: NDArray[np.int64]) -> tuple[float, ...]:
    total = int(counts.sum())
    return tuple(float(c) / total for c in counts) if total else tuple(0.0 for _ in counts)


def _number(value: float) -> str:
    """A bin edge in three significant digits, without an exponent in the everyday range."""
    if value == 0 or not math.isfinite(value):
        return f"{value:g}"
    magnitude = math.floor(math.log10(abs(value)))
    return f"{value:,.{max(0, 2 - magnitude)}f}" if -3 <= magnitude < 6 else f"{value:.2e}"


def _bin_labels(edges: NDArray[np.float64]) -> list[str]:
    """Labels of the bins ``(-inf, e0), [e0, e1), ..., [e_last, inf)``; an atom's bin reads ``= a``."""
    labels = [f"< {_number(edges[0])}"]
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        atom = hi == np.nextafter(lo, np.inf)
        labels.append(f"= {_number(lo)}" if atom else f"{_number(lo)} – {_number(hi)}")
    labels.append(f"≥ {_number(edges[-1])}")
    return labels


def _numerical(profile: NumericalProfile, series: pd.Series | None) -> Distribution | None:
    edges = profile.bin_edges
    if edges.size == 0:  # a reference without finite values has no bins
        return None
    ref_counts = profile.bin_counts
    cur_counts: NDArray[np.int64] | None = None
    if series is not None:
        try:
            sample, _ = numerical_values(series, profile.column)
        except InputError:  # not numbers in the window: the stored result says why; no bars
            sample = None
        if sample is not None and sample.size:
            cur_counts = bin_counts(sample, edges)
    # Bins empty on both sides (the open tails, mostly) carry nothing to look at.
    keep = ref_counts > 0 if cur_counts is None else (ref_counts > 0) | (cur_counts > 0)
    labels = tuple(label for label, k in zip(_bin_labels(edges), keep, strict=True) if k)

    def kept(counts: NDArray[np.int64]) -> tuple[float, ...]:
        return tuple(s for s, k in zip(_shares(counts), keep, strict=True) if k)

    return Distribution(
        kind="numerical", labels=labels, reference=kept(ref_counts),
        current=None if cur_counts is None else kept(cur_counts), new=tuple(False for _ in labels),
        n_reference=int(ref_counts.sum()), n_current=0 if cur_counts is None else int(cur_counts.sum()),
    )


def _by_text(categories: Iterable[Any], counts: NDArray[np.int64]) -> dict[str, int]:
    """Counts keyed by the category's text, so ``1`` from a CSV and ``"1"`` from the store meet."""
    out: dict[str, int] = {}
    for category, count in zip(categories, counts, strict=True):
        key = str(category)
        out[key] = out.get(key, 0) + int(count)
    return out


def _categorical(profile: CategoricalProfile, series: pd.Series | None) -> Distribution | None:
    ref = _by_text(profile.categories, profile.counts)
    cur: dict[str, int] | None = None
    if series is not None:
        index, counts, _ = categorical_counts(series)
        cur = _by_text(list(index), counts) if counts.size else None
    n_ref = sum(ref.values())
    n_cur = 0 if cur is None else sum(cur.values())
    if n_ref == 0 and n_cur == 0:
        return None
    names = list(ref) + [c for c in (cur or {}) if c not in ref]

    def share(table: dict[str, int] | None, total: int, name: str) -> float:
        return 0.0 if table is None or total == 0 else table.get(name, 0) / total

    # Largest first by the larger of its two shares: a new category that dominates the window is
    # charted even though the reference never saw it. Ties keep the reference's order.
    ranked = sorted(names, key=lambda n: -max(share(ref, n_ref, n), share(cur, n_cur, n)))
    top, rest = ranked[:TOP_CATEGORIES], ranked[TOP_CATEGORIES:]
    labels = list(top)
    ref_shares = [share(ref, n_ref, n) for n in top]
    cur_shares = [share(cur, n_cur, n) for n in top]
    new = [n not in ref for n in top]
    if rest:
        labels.append(OTHER)
        ref_shares.append(sum(share(ref, n_ref, n) for n in rest))
        cur_shares.append(sum(share(cur, n_cur, n) for n in rest))
        new.append(False)
    return Distribution(
        kind="categorical", labels=tuple(labels), reference=tuple(ref_shares),
        current=None if cur is None else tuple(cur_shares), new=tuple(new), n_reference=n_ref, n_current=n_cur,
    )


def distribution(profile: ColumnProfile, current: pd.Series | None) -> Distribution | None:
    """The chartable distributions of one column, or ``None`` when it has nothing to chart.

    Examples
    --------
    >>> from monitor.stats.profile import fit_profile
    >>> ref = pd.DataFrame({"plan": ["a", "a", "b", "b"]})
    >>> d = distribution(fit_profile(ref).columns["plan"], pd.Series(["a", "c", "c", "c"]))
    >>> d.labels, d.reference, d.current, d.new
    (('c', 'a', 'b'), (0.0, 0.5, 0.5), (0.75, 0.25, 0.0), (True, False, False))
    """
    if isinstance(profile, NumericalProfile):
        return _numerical(profile, current)
    if isinstance(profile, CategoricalProfile):
        return _categorical(profile, current)
    return None
