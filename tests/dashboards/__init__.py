"""Tests of dashboards (a package: see tests/__init__.py)."""
