"""Tests of config (a package: see tests/__init__.py)."""
