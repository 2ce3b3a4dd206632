"""Counters kept at write time for webhook deliveries and retraining triggers.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02

A scrape used to rebuild ``driftline_webhook_deliveries_total`` and
``driftline_retrain_triggers_total`` with a ``GROUP BY`` over the whole outbox and the whole
retrain-job log on every scrape: cost growing with history, like the prediction and run counts
revision 0006 replaced. Now the outbox write and the job insert add to these rows in their own
transactions. Both are filled here from the rows already stored, with the same reconstruction
the scrape used: a delivered or dead-lettered message counts its last attempt as that outcome and
every earlier attempt as failed; any other message counts every attempt as failed.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "delivery_counters",
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("attempts", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("target", "outcome", name="pk_delivery_counters"),
    )
    op.create_table(
        "retrain_counters",
        sa.Column("monitor", sa.String(63), nullable=False),
        sa.Column("model", sa.String(63), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("jobs", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("monitor", "model", "outcome", name="pk_retrain_counters"),
    )
    final = "status IN ('delivered', 'dead_letter')"
    op.execute(
        "INSERT INTO delivery_counters (target, outcome, attempts) "
        "SELECT target, 'delivered', sum(CASE WHEN status = 'delivered' THEN 1 ELSE 0 END) FROM outbox GROUP BY target "
        "UNION ALL "
        "SELECT target, 'dead_letter', sum(CASE WHEN status = 'dead_letter' THEN 1 ELSE 0 END) FROM outbox GROUP BY target "
        "UNION ALL "
        f"SELECT target, 'failed', sum(CASE WHEN attempts < 1 THEN 0 WHEN {final} THEN attempts - 1 ELSE attempts END) "
        "FROM outbox GROUP BY target")
    op.execute("INSERT INTO retrain_counters (monitor, model, outcome, jobs) "
               "SELECT monitor, model, outcome, count(*) FROM retrain_jobs GROUP BY monitor, model, outcome")


def downgrade() -> None:
    op.drop_table("retrain_counters")
    op.drop_table("delivery_counters")
