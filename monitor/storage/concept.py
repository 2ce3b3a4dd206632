"""The concept-drift detector state of each monitor (table ``concept_states``, revision 0008).

A run reads the state when it starts and writes the state it advanced in the run's own
transaction, with the revision it read: an update that finds another revision (a second writer
ran the same monitor meanwhile) changes nothing, so a state is never advanced twice by the same
rows nor overwritten with an older one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, Session, mapped_column

from monitor.domain.concept import ConceptStateRecord
from monitor.storage.tables import Base, Name

__all__ = ["ConceptStateRow", "read_state", "write_state"]


class ConceptStateRow(Base):
    """One monitor's detector state (JSON) and how many times it was written."""

    __tablename__ = "concept_states"

    monitor: Mapped[str] = mapped_column(Name, primary_key=True)
    state: Mapped[dict[str, Any]] = mapped_column(sa.JSON)
    revision: Mapped[int]
    updated_at: Mapped[datetime]


def read_state(session: Session, monitor: str) -> ConceptStateRecord | None:
    """The stored state of ``monitor``, or None."""
    row = session.get(ConceptStateRow, monitor)
    return None if row is None else ConceptStateRecord(monitor=monitor, state=dict(row.state), revision=row.revision)


def write_state(session: Session, record: ConceptStateRecord) -> bool:
    """Store ``record.state`` as revision ``record.revision + 1`` if the stored one is still
    ``record.revision`` (0: none stored); whether it was written."""
    now = datetime.now(UTC)
    if record.revision == 0:
        if session.get(ConceptStateRow, record.monitor) is not None:
            return False
        try:
            with session.begin_nested():  # a concurrent first write wins; ours is dropped, the run is kept
                session.add(ConceptStateRow(monitor=record.monitor, state=record.state, revision=1, updated_at=now))
        except sa.exc.IntegrityError:
            return False
        return True
    found = session.execute(sa.update(ConceptStateRow)
                            .where(ConceptStateRow.monitor == record.monitor,
                                   ConceptStateRow.revision == record.revision)
                            .values(state=record.state, revision=record.revision + 1, updated_at=now))
    return bool(found.rowcount)  # type: ignore[attr-defined]
