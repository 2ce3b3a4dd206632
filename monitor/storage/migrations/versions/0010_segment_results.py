"""Runs keep their segment verdicts: the top-K values per declared segment plus an 'other' aggregate.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04

One JSON document per run (``monitor.domain.segments.SegmentSummary.to_dict``): per declared
segment at most ``segment_top_k + 1`` rows, each with at most 10 features, and the new, gone and
too-small values (at most 20 named per segment), so its size is bounded by the configuration, not
by the number of values a segment has. Nullable: runs of monitors without segments, and every run
stored before, have none.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("runs", sa.Column("segments", sa.JSON(), nullable=True))


def downgrade() -> None:
    op.drop_column("runs", "segments")
