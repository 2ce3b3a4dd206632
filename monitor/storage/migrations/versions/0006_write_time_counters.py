"""Counters kept at write time: predictions per model, runs per (monitor, status, duration bucket).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02

A metrics scrape used to count the prediction log (``count(*)`` over millions of rows) and
aggregate every stored run on each scrape; now the ingest and the run write increment these rows
in their own transactions. ``run_counters`` is filled here from the runs already stored;
``ingest_counters`` is filled by the store's upgrade, which knows the prediction tables (they
follow the configuration, not the migrations).

The bucket bounds are those of ``monitor.storage.aggregates.DURATION_BUCKETS`` when this
revision was written; a release that changes them needs a migration that recomputes the rows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_TIME = sa.DateTime(timezone=True)
_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0)


def upgrade() -> None:
    op.create_table(
        "ingest_counters",
        sa.Column("model", sa.String(63), nullable=False),
        sa.Column("rows", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("model", name="pk_ingest_counters"),
    )
    op.create_table(
        "run_counters",
        sa.Column("monitor", sa.String(63), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("bucket", sa.Integer(), nullable=False),
        sa.Column("runs", sa.BigInteger(), nullable=False),
        sa.Column("duration_sum", sa.Double(), nullable=False),
        sa.Column("last_window_end", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("monitor", "status", "bucket", name="pk_run_counters"),
    )
    bucket = "CASE " + " ".join(f"WHEN duration_seconds <= {b!r} THEN {i}" for i, b in enumerate(_BUCKETS)) + \
        f" ELSE {len(_BUCKETS)} END"
    op.execute(
        "INSERT INTO run_counters (monitor, status, bucket, runs, duration_sum, last_window_end) "
        f"SELECT monitor, status, {bucket}, count(*), coalesce(sum(duration_seconds), 0), max(window_end) "
        f"FROM runs GROUP BY monitor, status, {bucket}")


def downgrade() -> None:
    op.drop_table("run_counters")
    op.drop_table("ingest_counters")
