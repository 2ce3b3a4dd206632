"""Driftline's tests, a package: test modules import as ``tests.<area>.<module>``.

Without this file pytest's default (prepend) import mode put ``tests/`` itself on ``sys.path`` for
``tests/alerts``, whose name then shadowed the real ``alerts`` package. As a package, every test
area is named under ``tests`` and only the repository root (or nothing, for an installed copy of
the tests) decides where ``monitor``, ``alerts``, ``exporters`` and ``dashboards`` come from.
"""
