"""Runs record the time ranges a dynamic reference was read from.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03

A monitor whose reference is ``previous_window``, ``rolling`` or ``same_period`` fits its
reference from the monitor's source for every run; there is no stored version to name, so the run
keeps ``[[start, end], ...]`` (ISO 8601, UTC) instead. Nullable: runs against a stored reference
(and every run stored before) have none.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("reference_ranges", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("runs", "reference_ranges")
