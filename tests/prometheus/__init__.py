"""Tests of prometheus (a package: see tests/__init__.py)."""
