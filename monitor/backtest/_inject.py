"""Known drift injected at a known time: the ground truth a backtest measures detection against.

A spec is ``KIND:COLUMN[:VALUE]@TIME``:

- ``shift:COL:K@T``   add ``K`` reference standard deviations to a numerical column
- ``scale:COL:F@T``   stretch a numerical column about the reference mean by ``F``
- ``swap:COL@T``      exchange the reference's two most common categories of a column
- ``missing:COL:S@T`` blank a share ``S`` of the column's values (a missing burst)

Every row at or after ``T`` is changed; rows before ``T`` are left exactly as recorded. The only
random step (which values go missing) draws from the seeded ``numpy.random.Generator`` it is
given, so a backtest is reproducible.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from monitor.errors import InputError
from monitor.stats.profile import CategoricalProfile, NumericalProfile, ReferenceProfile

__all__ = ["Injection", "InjectionKind", "apply_injections", "check_injections", "parse_injection"]


class InjectionKind(StrEnum):
    """What an injection does to its column."""

    SHIFT = "shift"
    SCALE = "scale"
    SWAP = "swap"
    MISSING = "missing"
    CONCEPT = "concept"  # flipped labels (``concept:S@T``), applied by ``_concept`` for a stored monitor


@dataclass(frozen=True, slots=True, kw_only=True)
class Injection:
    """One injected change: its kind, column, size (``None`` for ``swap``) and start time."""

    kind: InjectionKind
    column: str
    value: float | None
    at: datetime

    def to_dict(self) -> dict[str, object]:
        """The JSON form (docs/json-output.md)."""
        return {"kind": str(self.kind), "column": self.column, "value": self.value, "at": self.at.isoformat()}


_USAGE = "expected KIND:COLUMN[:VALUE]@TIME, e.g. shift:age:0.5@2024-03-01 (kinds: shift, scale, swap, missing)"


def parse_injection(spec: str) -> Injection:
    """Parse ``--inject`` (``shift:age:0.5@2024-03-01``); a bad spec raises :class:`InputError`.

    Examples
    --------
    >>> parse_injection("shift:age:0.5@2024-03-01").value
    0.5
    >>> str(parse_injection("swap:plan@2024-03-01T12:00").at)
    '2024-03-01 12:00:00+00:00'
    """
    body, sep, when = spec.rpartition("@")
    if not sep or not body:
        raise InputError(f"--inject {spec!r}: no @TIME; {_USAGE}", field="inject")
    try:
        at = datetime.fromisoformat(when)
    except ValueError:
        raise InputError(f"--inject {spec!r}: {when!r} is not an ISO 8601 time", field="inject") from None
    at = at if at.tzinfo else at.replace(tzinfo=UTC)
    kind_text, _, rest = body.partition(":")
    if kind_text == "concept":
        try:
            share = float(rest)
        except ValueError:
            raise InputError(f"--inject {spec!r}: expected concept:SHARE@TIME, a share of labels to flip in (0, 1]",
                             field="inject") from None
        if not 0.0 < share <= 1.0:
            raise InputError(f"--inject {spec!r}: a share of labels ({share}) must be in (0, 1]", field="inject")
        return Injection(kind=InjectionKind.CONCEPT, column="labels", value=share, at=at)
    try:
        kind = InjectionKind(kind_text)
    except ValueError:
        raise InputError(f"--inject {spec!r}: unknown kind {kind_text!r}; {_USAGE}", field="inject") from None
    if kind is InjectionKind.SWAP:
        column, value = rest, None
    else:
        column, _, value_text = rest.rpartition(":")
        try:
            value = float(value_text)
        except ValueError:
            raise InputError(f"--inject {spec!r}: {value_text!r} is not a number; {_USAGE}", field="inject") from None
        if not np.isfinite(value):
            raise InputError(f"--inject {spec!r}: the size must be finite", field="inject")
        if kind is InjectionKind.MISSING and not 0.0 < value <= 1.0:
            raise InputError(f"--inject {spec!r}: a missing share ({value}) must be in (0, 1]", field="inject")
    if not column:
        raise InputError(f"--inject {spec!r}: no column; {_USAGE}", field="inject")
    return Injection(kind=kind, column=column, value=value, at=at)


def _check_target(injection: Injection, profile: ReferenceProfile) -> None:
    prof = profile.columns.get(injection.column)
    if prof is None:
        raise InputError(f"--inject {injection.kind}:{injection.column}: column {injection.column!r} is not a "
                         "tested column of the reference", field="inject")
    needs = {InjectionKind.SHIFT: NumericalProfile, InjectionKind.SCALE: NumericalProfile,
             InjectionKind.SWAP: CategoricalProfile}.get(injection.kind)
    if needs is not None and not isinstance(prof, needs):
        wanted = "numerical" if needs is NumericalProfile else "categorical"
        raise InputError(f"--inject {injection.kind}:{injection.column}: {injection.kind} needs a {wanted} column, "
                         f"{injection.column!r} is {prof.type or 'not testable'}", field="inject")
    if isinstance(prof, CategoricalProfile) and injection.kind is InjectionKind.SWAP and prof.counts.size < 2:
        raise InputError(f"--inject swap:{injection.column}: the reference has fewer than two categories",
                         field="inject")


def check_injections(injections: list[Injection], profile: ReferenceProfile) -> None:
    """Refuse an injection whose column is not a tested column of the reference, or of the wrong type.

    Called once before a replay reads its windows, so a bad spec fails before the first read.
    """
    for injection in injections:
        if injection.kind is not InjectionKind.CONCEPT:  # labels, not a tested column
            _check_target(injection, profile)


def apply_injections(history: pd.DataFrame, times: NDArray[np.int64], profile: ReferenceProfile,
                     injections: list[Injection], rng: np.random.Generator) -> pd.DataFrame:
    """A copy of ``history`` with every injection applied to its rows at or after its time.

    ``times`` are the rows' timestamps as UTC nanoseconds; sizes are in the reference's units
    (its standard deviation, its mean, its most common categories), so one spec means the same
    change on any data set.
    """
    check_injections(injections, profile)
    out = history.copy()
    for injection in injections:
        if injection.kind is InjectionKind.CONCEPT:
            continue  # flipped by monitor.backtest._concept, which knows the labels
        after = times >= pd.Timestamp(injection.at).value
        col = injection.column
        prof = profile.columns[col]
        if isinstance(prof, NumericalProfile) and injection.kind in (InjectionKind.SHIFT, InjectionKind.SCALE):
            assert injection.value is not None
            values = pd.to_numeric(out[col], errors="coerce").to_numpy(dtype=np.float64, copy=True)
            if injection.kind is InjectionKind.SHIFT:
                values[after] += injection.value * prof.std
            else:
                values[after] = prof.mean + injection.value * (values[after] - prof.mean)
            out[col] = values
        elif isinstance(prof, CategoricalProfile) and injection.kind is InjectionKind.SWAP:
            order = np.argsort(-prof.counts, kind="stable")
            first, second = prof.categories[int(order[0])], prof.categories[int(order[1])]
            column = out[col].to_numpy(dtype=object, copy=True)
            is_first, is_second = (column == first) & after, (column == second) & after
            column[is_first], column[is_second] = second, first
            out[col] = column
        else:  # missing
            assert injection.value is not None
            blank = after & (rng.random(len(out)) < injection.value)
            out[col] = out[col].mask(blank)
    return out
