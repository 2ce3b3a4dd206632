"""Feature results say what their statistic was computed from, and its error bound (pushdown).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-02

Plain nullable columns (no table rebuild): ``basis`` is ``aggregates``, ``bounded``, ``rows`` or
``sample`` for a pushed-down window and null for a window read as rows (every result stored
before this revision); ``statistic_error_bound`` is the half-width of a bounded statistic's
interval (docs/scaling.md).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_COLUMNS = (("statistic_error_bound", sa.Double()), ("basis", sa.String(16)))


def upgrade() -> None:
    for name, type_ in _COLUMNS:
        op.add_column("feature_results", sa.Column(name, type_, nullable=True))


def downgrade() -> None:
    for name, _ in reversed(_COLUMNS):
        op.drop_column("feature_results", name)
