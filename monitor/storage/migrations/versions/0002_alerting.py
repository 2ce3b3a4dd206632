"""Alerting: the outbox, Alertmanager notifications, retraining jobs; runs get duration_seconds.

Revision ID: 0002
Revises: 0001
Create Date: 2026-05-16

``runs.duration_seconds`` is added as a plain nullable column (no table rebuild: on SQLite a
batch rebuild drops ``runs``, and with foreign keys on that would cascade into the results) and
filled for the runs already stored from ``finished_at - started_at``, to the microsecond.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_TIME = sa.DateTime(timezone=True)

# SQLite keeps times as fixed-width text "YYYY-MM-DD HH:MM:SS.ffffff": whole seconds from
# strftime('%s') of the first 19 characters (its clock counts milliseconds, so given the fraction
# it would round .999999 up), microseconds from the last six, and no float rounding until the end.
_SQLITE_DURATION = ("((strftime('%s', substr(finished_at, 1, 19)) - strftime('%s', substr(started_at, 1, 19)))"
                    " * 1000000 + CAST(substr(finished_at, 21, 6) AS INTEGER)"
                    " - CAST(substr(started_at, 21, 6) AS INTEGER)) / 1000000.0")
_POSTGRES_DURATION = "CAST(EXTRACT(EPOCH FROM finished_at - started_at) AS DOUBLE PRECISION)"


def upgrade() -> None:
    op.add_column("runs", sa.Column("duration_seconds", sa.Double(), nullable=True))
    duration = _SQLITE_DURATION if op.get_bind().dialect.name == "sqlite" else _POSTGRES_DURATION
    op.execute(f"UPDATE runs SET duration_seconds = {duration} WHERE duration_seconds IS NULL")

    op.create_table(
        "outbox",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("target", sa.Text(), nullable=False),
        sa.Column("idempotency_key", sa.Text(), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _TIME, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("delivered_at", _TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_outbox"),
        # Redelivering a run's events (or a trigger) is harmless: the second insert is skipped.
        sa.UniqueConstraint("target", "idempotency_key", name="uq_outbox_target_idempotency_key"),
    )
    op.create_index("ix_outbox_status_next_attempt_at", "outbox", ["status", "next_attempt_at"])
    op.create_table(
        "alertmanager_notifications",
        sa.Column("fingerprint", sa.Text(), nullable=False),
        sa.Column("starts_at", _TIME, nullable=False),
        sa.Column("alertname", sa.Text(), nullable=False),
        sa.Column("monitor", sa.Text(), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("labels", sa.Text(), nullable=False),
        sa.Column("received_at", _TIME, nullable=False),
        sa.Column("resolved_at", _TIME, nullable=True),
        # One firing episode of one alert; Alertmanager's repeats and retries land on this key.
        sa.PrimaryKeyConstraint("fingerprint", "starts_at", name="pk_alertmanager_notifications"),
    )
    op.create_table(
        "retrain_jobs",
        sa.Column("id", sa.Text(), nullable=False),
        sa.Column("monitor", sa.String(63), nullable=False),
        sa.Column("model", sa.String(63), nullable=False),
        sa.Column("trigger_key", sa.Text(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("outcome", sa.String(32), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("created_at", _TIME, nullable=False),
        sa.Column("triggered_at", _TIME, nullable=True),
        sa.Column("completed_at", _TIME, nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("reference_version", sa.Integer(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_retrain_jobs"),
        # One job per alert episode, however often the alert is delivered.
        sa.UniqueConstraint("trigger_key", name="uq_retrain_jobs_trigger_key"),
    )
    op.create_index("ix_retrain_jobs_monitor_created_at", "retrain_jobs", ["monitor", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_retrain_jobs_monitor_created_at", table_name="retrain_jobs")
    op.drop_table("retrain_jobs")
    op.drop_table("alertmanager_notifications")
    op.drop_index("ix_outbox_status_next_attempt_at", table_name="outbox")
    op.drop_table("outbox")
    op.drop_column("runs", "duration_seconds")  # ALTER TABLE ... DROP COLUMN, no rebuild (SQLite >= 3.35)
