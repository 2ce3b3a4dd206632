"""Reference versions remember the hash of the input they were fitted from.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02

A reference named in the configuration (a file) is fitted at start-up only when the hash of
its bytes and of the monitor's schema is unknown: a restart with 20 large file references no
longer refits every one of them just to learn that nothing changed. Nullable: versions stored
before (and uploads, whose input is the request) have none.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("reference_versions", sa.Column("input_hash", sa.String(), nullable=True))


def downgrade() -> None:
    op.drop_column("reference_versions", "input_hash")
