"""Concept-drift detector state per monitor, kept across runs and restarts.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

One row per monitor: the detector's JSON state (``monitor.stats.concept_state``) and a revision
that every write increments, so a run writes the state it advanced only if no other run wrote in
between. Nothing to backfill: a monitor without a row starts a fresh detector.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "concept_states",
        sa.Column("monitor", sa.String(63), nullable=False),
        sa.Column("state", sa.JSON(), nullable=False),
        sa.Column("revision", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("monitor", name="pk_concept_states"),
    )


def downgrade() -> None:
    op.drop_table("concept_states")
