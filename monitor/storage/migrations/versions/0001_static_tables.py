"""Static tables: reference versions, runs, feature results, performance results.

Revision ID: 0001
Revises:
Create Date: 2026-05-09

Times are ``DateTime(timezone=True)``: TIMESTAMPTZ on PostgreSQL, fixed-width UTC text on SQLite
(see ``monitor.storage._types``). Prediction tables are not here: they follow ``driftline.yaml``
and are created by ``Store.upgrade()`` itself.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

_TIME = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "reference_versions",
        sa.Column("monitor", sa.String(63), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("content_hash", sa.Text(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("n_rows", sa.BigInteger(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("profile", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("monitor", "version", name="pk_reference_versions"),
    )
    op.create_index("uq_reference_versions_active", "reference_versions", ["monitor"], unique=True,
                    postgresql_where=sa.text("active"), sqlite_where=sa.text("active"))
    op.create_table(
        "runs",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("monitor", sa.String(63), nullable=False),
        sa.Column("model", sa.String(63), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("window_start", _TIME, nullable=True),
        sa.Column("window_end", _TIME, nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.Column("started_at", _TIME, nullable=False),
        sa.Column("finished_at", _TIME, nullable=False),
        sa.Column("reference_version", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("dataset_drift_share", sa.Double(), nullable=True),
        sa.Column("dataset_drifted_features", sa.Integer(), nullable=True),
        sa.Column("dataset_total_features", sa.Integer(), nullable=True),
        sa.Column("dataset_drift", sa.Boolean(), nullable=True),
        sa.Column("dataset_threshold", sa.Double(), nullable=True),
        sa.Column("labelled_rows", sa.BigInteger(), nullable=False),
        sa.Column("label_coverage", sa.Double(), nullable=True),
        sa.Column("concept_drift", sa.Boolean(), nullable=True),
        sa.Column("concept_change_points", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_runs"),
        # Unique per window (a restarted scheduler cannot write a window twice); its index also
        # serves list_runs and latest_runs, which read by monitor, newest window_end first.
        sa.UniqueConstraint("monitor", "window_end", name="uq_runs_monitor_window_end"),
    )
    results: dict[str, list[sa.Column[Any]]] = {
        "feature_results": [
            sa.Column("column", sa.Text(), nullable=False),
            sa.Column("role", sa.String(16), nullable=False),
            sa.Column("type", sa.String(32), nullable=True),
            sa.Column("method", sa.String(32), nullable=True),
            sa.Column("reason", sa.Text(), nullable=False),
            sa.Column("statistic", sa.Double(), nullable=True),
            sa.Column("p_value", sa.Double(), nullable=True),
            sa.Column("adjusted_p_value", sa.Double(), nullable=True),
            sa.Column("threshold", sa.Double(), nullable=True),
            sa.Column("drifted", sa.Boolean(), nullable=False),
            sa.Column("status", sa.String(32), nullable=False),
            sa.Column("n_reference", sa.BigInteger(), nullable=False),
            sa.Column("n_current", sa.BigInteger(), nullable=False),
            sa.Column("missing_reference", sa.BigInteger(), nullable=False),
            sa.Column("missing_current", sa.BigInteger(), nullable=False),
            sa.Column("missing_p_value", sa.Double(), nullable=True),
            sa.Column("missing_drifted", sa.Boolean(), nullable=False),
            sa.Column("new_categories", sa.JSON(), nullable=False),
            sa.Column("out_of_range_current", sa.BigInteger(), nullable=True),
        ],
        "performance_results": [
            sa.Column("metric", sa.String(64), nullable=False),
            sa.Column("value", sa.Double(), nullable=True),
            sa.Column("reference_value", sa.Double(), nullable=True),
            sa.Column("p_value", sa.Double(), nullable=True),
            sa.Column("degraded", sa.Boolean(), nullable=False),
        ],
    }
    for table, columns in results.items():
        op.create_table(
            table,
            sa.Column("run_id", sa.Text(), nullable=False),
            sa.Column("position", sa.Integer(), nullable=False),
            *columns,
            sa.ForeignKeyConstraint(["run_id"], ["runs.id"], name=f"fk_{table}_run_id_runs", ondelete="CASCADE"),
            sa.PrimaryKeyConstraint("run_id", "position", name=f"pk_{table}"),
        )


def downgrade() -> None:
    op.drop_table("performance_results")
    op.drop_table("feature_results")
    op.drop_table("runs")
    op.drop_index("uq_reference_versions_active", table_name="reference_versions")
    op.drop_table("reference_versions")
