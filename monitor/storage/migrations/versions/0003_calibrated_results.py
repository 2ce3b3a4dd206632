"""Feature results record how their verdict was reached: effect, effect floor, null threshold, alpha, rule.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01

Plain nullable columns (no table rebuild); results stored before the calibrated rule have no
effect or null threshold, and their rule is left null (it was Evidently's).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

_COLUMNS = (("effect", sa.Double()), ("effect_floor", sa.Double()), ("null_threshold", sa.Double()),
            ("alpha", sa.Double()), ("rule", sa.String(32)))


def upgrade() -> None:
    for name, type_ in _COLUMNS:
        op.add_column("feature_results", sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    for name, _ in reversed(_COLUMNS):
        op.drop_column("feature_results", name)
