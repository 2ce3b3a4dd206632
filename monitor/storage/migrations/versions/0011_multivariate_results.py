"""Multivariate drift results per run (issue 14).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05

One nullable JSON column on ``runs``: the list of the run's multivariate results (method,
statistic, threshold, p-value, verdict, top features, warnings, sizes), always read with the run.
Runs stored before have none (null), which reads as no multivariate result.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("multivariate", sa.JSON(), nullable=True))


def downgrade() -> None:
    # A plain DROP COLUMN, never a batch rebuild: on SQLite a rebuilt ``runs`` (with foreign keys on)
    # would cascade into the per-column and performance results.
    op.drop_column("runs", "multivariate")
