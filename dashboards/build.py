"""Build the Driftline dashboards and write them as deterministic JSON: two sets of the same dashboards.

* grafana/dashboards/: the provisioned set, read by Grafana's file provider (grafana/provisioning).
  Every panel reads the ``${datasource}`` variable, which defaults to the provisioned datasource.
* grafana/import/: the same dashboards in Grafana's "export for sharing externally" form, for
  Dashboards > New > Import in any Grafana: ``__inputs`` asks for a Prometheus (``DS_PROMETHEUS``),
  which becomes the datasource variable's default; ``__requires`` lists the plugins used.
  A separate folder, not a subfolder of grafana/dashboards/: the file provider walks subfolders,
  so copies there would be provisioned twice under the same uids, and it never substitutes
  ``__inputs`` (grafana/grafana#10786), so the provisioned set cannot carry them.

The JSON files are generated and committed; a test rebuilds them and fails when the committed
files are stale. Output is byte-for-byte reproducible (sorted keys, two-space indent, trailing
newline, stable uids and panel ids), so a diff of the committed files shows exactly what a code
change did to the dashboards.

``panel_queries()`` lists every PromQL expression of every dashboard, so tests can check each
one with ``promtool`` and run each against a real Prometheus scraping a real Driftline.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from dashboards import monitor_page, operations, overview
from dashboards._layout import iter_panels
from dashboards._panels import DATASOURCE_VARIABLE

DEFAULT_OUT_DIR = Path("grafana/dashboards")
"""Relative to the working directory: the command is run from a checkout of the project."""
DEFAULT_IMPORT_DIR = Path("grafana/import")
"""Where the importable variants go (beside, not under, the provisioned folder)."""

DATASOURCE_INPUT = "DS_PROMETHEUS"
"""The import input naming the Prometheus to use; Grafana's own name for it in exports."""
GRAFANA_VERSION = "12.2.0"
"""The Grafana the dashboards are provisioned into (docker-compose.yml's image), for ``__requires``."""
PANEL_PLUGINS = {
    "heatmap": "Heatmap",
    "stat": "Stat",
    "state-timeline": "State timeline",
    "table": "Table",
    "timeseries": "Time series",
}
"""Grafana's core panel plugins the dashboards use, by id, with the names Grafana exports."""

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


def for_import(dashboard: Mapping[str, Any]) -> dict[str, Any]:
    """The importable form of a provisioned dashboard: ``__inputs``, ``__requires``, the input as default.

    Grafana's import replaces ``${DS_PROMETHEUS}`` in every string of the JSON with the uid of
    the Prometheus picked in the import form, and leaves other ``${...}`` (the dashboard's own
    variables) alone; the only place the input appears is the datasource variable's default,
    since every panel and query already reads ``${datasource}``.

    Raises ``ValueError`` when the dashboard has no datasource variable to carry the input.
    """
    doc = copy.deepcopy(dict(dashboard))
    variables = doc.get("templating", {}).get("list", [])
    found = [v for v in variables if v.get("type") == "datasource" and v.get("name") == DATASOURCE_VARIABLE]
    if len(found) != 1:
        raise ValueError(f"dashboard {doc.get('uid')!r} has {len(found)} datasource variables ${DATASOURCE_VARIABLE}")
    placeholder = f"${{{DATASOURCE_INPUT}}}"
    found[0]["current"] = {"selected": True, "text": placeholder, "value": placeholder}
    panel_types = sorted({p["type"] for p in iter_panels(doc.get("panels", [])) if p.get("type") != "row"})
    unknown = set(panel_types) - set(PANEL_PLUGINS)
    if unknown:
        raise ValueError(f"dashboard {doc.get('uid')!r} uses panel types {sorted(unknown)} missing from PANEL_PLUGINS")
    doc["__inputs"] = [
        {
            "name": DATASOURCE_INPUT,
            "label": "Prometheus",
            "description": "The Prometheus that scrapes Driftline's /metrics",
            "type": "datasource",
            "pluginId": "prometheus",
            "pluginName": "Prometheus",
        }
    ]
    doc["__elements"] = {}
    doc["__requires"] = [
        {"type": "grafana", "id": "grafana", "name": "Grafana", "version": GRAFANA_VERSION},
        {"type": "datasource", "id": "prometheus", "name": "Prometheus", "version": "1.0.0"},
        *({"type": "panel", "id": kind, "name": PANEL_PLUGINS[kind], "version": ""} for kind in panel_types),
    ]
    return doc


def build_all_for_import() -> dict[str, dict[str, Any]]:
    """Every dashboard in its importable form, keyed by its file name under grafana/import/."""
    return {name: for_import(dashboard) for name, dashboard in build_all().items()}


def _write(out_dir: Path, dashboards: Mapping[str, Mapping[str, Any]]) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, dashboard in dashboards.items():
        path = out_dir / name
        text = render(dashboard)
        if not path.is_file() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
        written.append(path)
    return written


def write_all(out_dir: Path, import_dir: Path | None = None) -> list[Path]:
    """Write every dashboard into ``out_dir``, and its importable form into ``import_dir`` if given.

    Folders are created if missing; the paths written are returned, provisioned ones first.
    Files are only rewritten when their content changes, so an unchanged build leaves
    modification times alone (Grafana's file provider polls them).
    """
    built = build_all()
    written = _write(out_dir, built)
    if import_dir is not None:
        written += _write(import_dir, {name: for_import(dashboard) for name, dashboard in built.items()})
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


def main(out_dir: str | None = None, import_dir: str | None = None) -> int:
    """Write both sets (``driftline dashboards build [--out DIR] [--import-out DIR]``); print each path; exit 0."""
    written = write_all(
        Path(out_dir) if out_dir else DEFAULT_OUT_DIR, Path(import_dir) if import_dir else DEFAULT_IMPORT_DIR
    )
    for path in written:
        print(path)
    return 0
