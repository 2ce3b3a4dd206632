"""Tests of stats (a package: see tests/__init__.py)."""
