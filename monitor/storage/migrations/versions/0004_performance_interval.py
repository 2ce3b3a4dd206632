"""Performance results carry the degradation test's interval: lower and upper bounds of the difference.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01

Plain nullable columns (no table rebuild); results stored before the block-bootstrap test
(the row-level z-test) have no interval and keep null.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_COLUMNS = (("lower", sa.Double()), ("upper", sa.Double()))


def upgrade() -> None:
    for name, type_ in _COLUMNS:
        op.add_column("performance_results", sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    for name, _ in reversed(_COLUMNS):
        op.drop_column("performance_results", name)
