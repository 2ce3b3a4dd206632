"""Build the Driftline dashboards and write them as deterministic JSON under grafana/dashboards/.

The JSON files are generated, committed, and provisioned into Grafana from disk; a test rebuilds
them and fails when the committed files are stale. Output is byte-for-byte reproducible (sorted
keys, two-space indent, trailing newline, stable uids and panel ids), so a diff of the committed
files shows exactly what a code change did to the dashboards.

``panel_queries()`` lists every PromQL expression of every dashboard, so tests can check each
one with ``promtool`` and run each against a real Prometheus scraping a real Driftline.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from dashboards import monitor_page, operations, overview
from dashboards._layout import iter_panels

DEFAULT_OUT_DIR = Path("grafana/dashboards")
"""Relative to the working directory: the command is run from a checkout of the project."""

BUILDERS: dict[str, Callable[[], dict[str, Any]]] = {
    "driftline-overview.json": overview.build,
    "driftline-monitor.json": monitor_page.build,
    "driftline-operations.json": operations.build,
}

_VARIABLE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\$(\w+)|\[\[(\w+)(?::[^\]]*)?\]\]")


def build_all() -> dict[str, dict[str, Any]]:
    """Every dashboard as JSON data, keyed by its file name under grafana/dashboards/."""
    return {name: build() for name, build in BUILDERS.items()}


def render(dashboard: Mapping[str, Any]) -> str:
    """The committed text of a dashboard: sorted keys, indent 2, one trailing newline."""
    return json.dumps(dashboard, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


def write_all(out_dir: Path) -> list[Path]:
    """Write every dashboard into ``out_dir`` (created if missing); return the paths written.

    Files are only rewritten when their content changes, so an unchanged build leaves
    modification times alone (Grafana's file provider polls them).
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, dashboard in build_all().items():
        path = out_dir / name
        text = render(dashboard)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def panel_queries() -> list[tuple[str, str, str]]:
    """(dashboard uid, panel title, expr) for every query target and annotation query.

    Expressions are returned as Grafana stores them, with ``$__rate_interval``, ``$monitor`` and
    the like still in place; ``substitute_variables`` resolves them for Prometheus or promtool.
    Annotation queries are listed with the title ``annotation: <name>``.
    """
    found: list[tuple[str, str, str]] = []
    for dashboard in build_all().values():
        uid = dashboard["uid"]
        for panel in iter_panels(dashboard.get("panels", [])):
            for target in panel.get("targets", []):
                found.append((uid, panel.get("title", ""), target.get("expr", "")))
        for annotation in dashboard.get("annotations", {}).get("list", []):
            if not annotation.get("builtIn"):
                found.append((uid, f"annotation: {annotation.get('name', '')}", annotation.get("expr", "")))
    return found


def variable_queries() -> list[tuple[str, str, str]]:
    """(dashboard uid, variable name, selector) for every ``label_values(selector, label)`` variable.

    The selector is plain PromQL, so it can be checked like a panel query.
    """
    found: list[tuple[str, str, str]] = []
    for dashboard in build_all().values():
        for variable in dashboard.get("templating", {}).get("list", []):
            query = variable.get("query")
            if variable.get("type") == "query" and isinstance(query, str):
                match = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", query)
                if match:
                    found.append((dashboard["uid"], variable["name"], match.group(1)))
    return found


def substitute_variables(expr: str, values: Mapping[str, str]) -> str:
    """Replace Grafana variables (``$name``, ``${name}``, ``${name:fmt}``, ``[[name]]``) in ``expr``.

    Raises ``KeyError`` naming a variable missing from ``values``, so a query with a variable
    nobody resolved cannot slip through as an unparsable or empty query.
    """

    def replace(match: re.Match[str]) -> str:
        name = next(group for group in match.groups() if group)
        if name not in values:
            raise KeyError(f"variable ${name} in {expr!r} has no value (known: {sorted(values)})")
        return values[name]

    return _VARIABLE.sub(replace, expr)


def main(out_dir: str | None = None) -> int:
    """Write the dashboards (``driftline dashboards build``); print each path; exit status 0."""
    for path in write_all(Path(out_dir) if out_dir else DEFAULT_OUT_DIR):
        print(path)
    return 0
