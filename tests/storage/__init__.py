"""Tests of storage (a package: see tests/__init__.py)."""
