"""Estimated performance per run (CBPE, DLE): the estimate, its band, the realized value, the status.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04

One row per metric of a run, replaced as a whole when late labels arrive (as performance_results
is). Runs stored before have no rows: they estimated nothing.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "estimated_performance",
        sa.Column("run_id", sa.Text(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(64), nullable=False),
        sa.Column("estimated", sa.Double(), nullable=True),
        sa.Column("est_lower", sa.Double(), nullable=True),
        sa.Column("est_upper", sa.Double(), nullable=True),
        sa.Column("sampling_error", sa.Double(), nullable=True),
        sa.Column("realized", sa.Double(), nullable=True),
        sa.Column("n_rows", sa.BigInteger(), nullable=False),
        sa.Column("n_estimated", sa.BigInteger(), nullable=False),
        sa.Column("n_labelled", sa.BigInteger(), nullable=False),
        sa.Column("coverage", sa.Double(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("warnings", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name="fk_estimated_performance_run_id_runs",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("run_id", "position", name="pk_estimated_performance"),
    )


def downgrade() -> None:
    op.drop_table("estimated_performance")
