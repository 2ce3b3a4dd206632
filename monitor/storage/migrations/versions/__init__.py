"""Alembic revisions (``0001_static_tables`` and later)."""
