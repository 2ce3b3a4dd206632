"""Window leases: N ``serve`` replicas on one PostgreSQL claim each due window, so one runs it.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02

A new table, nothing rewritten: (monitor, window_end) -> the replica holding it (host:pid:uuid),
until when, and whether its run is saved. SQLite gets the table too (one schema) but a single
process never claims on it (docs/scaling.md).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "window_leases",
        sa.Column("monitor", sa.String(63), nullable=False),
        sa.Column("window_end", _TIME, nullable=False),
        sa.Column("holder", sa.Text(), nullable=False),
        sa.Column("expires_at", _TIME, nullable=False),
        sa.Column("done", sa.Boolean(), nullable=False),
        sa.PrimaryKeyConstraint("monitor", "window_end", name="pk_window_leases"),
    )


def downgrade() -> None:
    op.drop_table("window_leases")
