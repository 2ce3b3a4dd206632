"""Tests of exporters (a package: see tests/__init__.py)."""
