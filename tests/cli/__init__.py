"""Tests of cli (a package: see tests/__init__.py)."""
