"""A monitor's concept-drift detector state, as stored between runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ConceptStateRecord"]


@dataclass(frozen=True, slots=True, kw_only=True)
class ConceptStateRecord:
    """The JSON state of ``monitor``'s detector (``monitor.stats.concept_state.ConceptState.to_json``).

    ``revision`` counts the writes; a run saves the state it advanced with the revision it read,
    and a store writes it only if no other run wrote in between (the other run's state wins).
    ``revision`` 0 means "not stored yet".
    """

    monitor: str
    state: dict[str, Any]
    revision: int = 0
