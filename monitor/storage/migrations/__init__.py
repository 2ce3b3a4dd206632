"""Alembic migrations of the static tables; run by ``Store.upgrade()``."""
