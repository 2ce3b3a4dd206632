"""The Grafana dashboards: committed JSON is fresh (both sets), structure follows the conventions,
every panel reads the datasource variable, the importable set carries ``__inputs``, every query
names only contract metrics and labels (docs/metrics.md), and every query parses.

Grafana cannot run here, so PromQL is checked by ``promtool check rules`` on a throw-away
recording-rules file, and test_relative_score.py evaluates the queries on a real Prometheus
over a seeded metric set; the end-to-end tests run them against a Prometheus scraping Driftline.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from dashboards import build
from dashboards._layout import iter_panels
from dashboards._panels import DATASOURCE_NAME, DATASOURCE_UID
from dashboards._sdk import heatmap_models

REPO = Path(__file__).resolve().parents[2]
COMMITTED = REPO / "grafana" / "dashboards"
COMMITTED_IMPORT = REPO / "grafana" / "import"
EXPECTED_UIDS = {"driftline-overview", "driftline-monitor", "driftline-operations"}
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
INPUT = "${DS_PROMETHEUS}"
#: Grafana's built-in variables that dashboards may reference as ${...}.
BUILTIN_VARIABLES = re.compile(r"__(data\.fields\.\w+|url_time_range|rate_interval|interval|range|all)")

# What promtool sees in place of Grafana's variables: durations for the built-ins, plain names
# (no regex metacharacters) for the template variables.
SUBSTITUTIONS = {
    "__rate_interval": "5m",
    "__interval": "5m",
    "__range": "5m",
    "monitor": "churn",
    "model": "churn_v3",
    "feature": "age",
}
PROMETHEUS_SERIES = {"ALERTS", "ALERTS_FOR_STATE"}
TARGET_LABELS = {"job", "instance"}  # attached by Prometheus to every scraped series
KEYWORDS = {
    "and", "or", "unless", "by", "without", "on", "ignoring", "group_left", "group_right", "bool",
    "offset", "inf", "nan", "sum", "min", "max", "avg", "group", "stddev", "stdvar", "count",
    "count_values", "bottomk", "topk", "quantile", "limitk", "limit_ratio",
}  # fmt: skip
HISTOGRAM_SUFFIXES = ("_bucket", "_sum", "_count")


# --------------------------------------------------------------------------- contract helpers


def documented_metrics() -> dict[str, tuple[str, set[str]]]:
    """docs/metrics.md's table: metric name -> (type, labels)."""
    rows = re.findall(
        r"^\|\s*`(driftline_\w+)`\s*\|\s*([^|]+?)\s*\|\s*([^|]*?)\s*\|",
        (REPO / "docs" / "metrics.md").read_text(encoding="utf-8"),
        flags=re.MULTILINE,
    )
    return {
        name: (kind, {label.strip() for label in labels.split(",") if label.strip()}) for name, kind, labels in rows
    }


def recorded_names() -> set[str]:
    """Every ``record:`` name in prometheus/rules/*.yml (none while that folder does not exist)."""
    names: set[str] = set()
    for path in sorted((REPO / "prometheus" / "rules").glob("*.yml")):
        for group in (yaml.safe_load(path.read_text(encoding="utf-8")) or {}).get("groups", []):
            names.update(rule["record"] for rule in group.get("rules", []) if "record" in rule)
    return names


def labels_of(name: str, docs: dict[str, tuple[str, set[str]]]) -> set[str] | None:
    """The labels a documented series carries (histogram parts included); None if undocumented."""
    if name in docs:
        return docs[name][1] | TARGET_LABELS
    for suffix in HISTOGRAM_SUFFIXES:
        base = name.removesuffix(suffix)
        if name.endswith(suffix) and docs.get(base, ("", set()))[0] == "histogram":
            extra = {"le"} if suffix == "_bucket" else set()
            return docs[base][1] | TARGET_LABELS | extra
    return None


def _strip_strings(expr: str) -> str:
    return re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`', '""', expr)


def metric_names(expr: str) -> set[str]:
    """The metric names an expression selects: identifiers that are not functions or keywords.

    Strings, label matchers, range/subquery brackets and grouping label lists are blanked first,
    so only selectors and keywords remain; a name followed by ``(`` is a function call.
    """
    s = _strip_strings(expr)
    s = re.sub(r"\{[^}]*\}", "{}", s)
    s = re.sub(r"\[[^\]]*\]", "[]", s)
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", r"\1 ()", s)
    names = set()
    for match in re.finditer(r"(?<![\w:.])([A-Za-z_:][\w:]*)(?![\w:])(\s*\()?", s):
        if match.group(2) is None and match.group(1).lower() not in KEYWORDS:
            names.add(match.group(1))
    return names


def selector_labels(expr: str) -> Iterator[tuple[str, str]]:
    """(metric, label) for every label matcher written inside ``metric{...}``."""
    for match in re.finditer(r"([A-Za-z_:][\w:]*)\s*\{([^}]*)\}", expr):
        for label in re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", _strip_strings(match.group(2))):
            yield match.group(1), label


def grouping_labels(expr: str) -> set[str]:
    """Labels named in by/without/on/ignoring/group_left/group_right clauses."""
    clauses = re.findall(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\(([^)]*)\)", _strip_strings(expr))
    return {label.strip() for clause in clauses for label in clause.split(",") if label.strip()}


def all_queries() -> list[tuple[str, str, str]]:
    """Panel targets, annotations and variable selectors: everything sent to Prometheus."""
    variables = [(uid, f"variable {name}", selector) for uid, name, selector in build.variable_queries()]
    return build.panel_queries() + variables


def query_id(query: tuple[str, str, str]) -> str:
    return f"{query[0]}:{query[1]}:{query[2][:40]}"


def promtool() -> str:
    """The promtool binary; a skip with the reason when missing, a failure under CI=true."""
    path = shutil.which("promtool")
    if path is None:
        reason = (
            "promtool is not installed (scripts/install-monitoring.sh, or "
            "`apt-get install -y --no-install-recommends prometheus`)"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; it is required under CI=true")
        pytest.skip(reason)
    return path


def strings_in(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """(JSON path, string) for every string value in a JSON document."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from strings_in(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from strings_in(item, f"{path}[{i}]")


def grafana_import(template: dict[str, Any], inputs: dict[str, str]) -> dict[str, Any]:
    """What Grafana's import does with a template and the values picked in its form.

    A transcription of pkg/services/dashboardimport/utils/dash_template_evaluator.go: every
    ``__inputs`` entry needs a value (else the import fails), ``${NAME}`` of an input is replaced
    in every string of the document, any other ``${...}`` is kept, and ``__inputs`` is dropped.
    """
    for entry in template["__inputs"]:
        if entry["name"] not in inputs:
            raise LookupError(f"Dashboard input variable: {entry['name']} missing from import command")
    values = {f"${{{name}}}": value for name, value in inputs.items()}

    def evaluate(value: Any) -> Any:
        if isinstance(value, str):
            return re.sub(r"\$\{.+?\}", lambda m: values.get(m.group(0), m.group(0)), value)
        if isinstance(value, dict):
            return {key: evaluate(item) for key, item in value.items() if key != "__inputs"}
        if isinstance(value, list):
            return [evaluate(item) for item in value]
        return value

    result: dict[str, Any] = evaluate(template)
    return result


def datasource_variables(dashboard: dict[str, Any]) -> list[dict[str, Any]]:
    return [v for v in dashboard.get("templating", {}).get("list", []) if v["type"] == "datasource"]


@pytest.fixture(scope="module")
def dashboards() -> dict[str, dict[str, Any]]:
    """Built once: building is pure and the tests only read the result."""
    return build.build_all()


@pytest.fixture(scope="module")
def importable() -> dict[str, dict[str, Any]]:
    return build.build_all_for_import()


# --------------------------------------------------------------------------- freshness


def test_committed_dashboards_equal_a_fresh_build(dashboards: dict[str, dict[str, Any]]) -> None:
    stale = [
        name
        for name, dashboard in dashboards.items()
        if not (COMMITTED / name).is_file() or (COMMITTED / name).read_text(encoding="utf-8") != build.render(dashboard)
    ]
    assert not stale, f"grafana/dashboards/{', '.join(stale)} stale or missing: run `driftline dashboards build`"


def test_committed_import_variants_equal_a_fresh_build(importable: dict[str, dict[str, Any]]) -> None:
    stale = [
        name
        for name, dashboard in importable.items()
        if not (COMMITTED_IMPORT / name).is_file()
        or (COMMITTED_IMPORT / name).read_text(encoding="utf-8") != build.render(dashboard)
    ]
    assert not stale, f"grafana/import/{', '.join(stale)} stale or missing: run `driftline dashboards build`"


def test_no_committed_dashboard_is_left_over(dashboards: dict[str, dict[str, Any]]) -> None:
    # rglob: Grafana's file provider walks subfolders, so a JSON file anywhere under the
    # provisioned folder is provisioned (an import copy there would clash on its uid).
    for folder in (COMMITTED, COMMITTED_IMPORT):
        found = sorted(str(path.relative_to(folder)) for path in folder.rglob("*.json"))
        extra = sorted(set(found) - set(dashboards))
        assert not extra, f"{folder.relative_to(REPO)}/ has files the builder does not write: {extra}; delete them"


def test_write_all_is_deterministic_and_canonical(tmp_path: Path) -> None:
    def written(root: Path) -> dict[str, bytes]:
        paths = build.write_all(root / "dashboards", root / "import")
        return {str(path.relative_to(root)): path.read_bytes() for path in paths}

    first, second = written(tmp_path / "a"), written(tmp_path / "b")
    assert first == second
    assert set(first) == {f"{folder}/{name}" for folder in ("dashboards", "import") for name in build.BUILDERS}
    for text in (raw.decode("utf-8") for raw in first.values()):
        assert text == json.dumps(json.loads(text), sort_keys=True, indent=2, ensure_ascii=False) + "\n"
    assert build.write_all(tmp_path / "c") == [tmp_path / "c" / name for name in build.BUILDERS]


def test_main_writes_into_the_given_folders(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert build.main(str(tmp_path / "out"), str(tmp_path / "imp")) == 0
    assert sorted(path.name for path in tmp_path.iterdir()) == ["imp", "out"]
    for folder in ("out", "imp"):
        assert sorted(path.name for path in (tmp_path / folder).iterdir()) == sorted(build.BUILDERS)
    out = capsys.readouterr().out
    assert str(tmp_path / "out" / "driftline-monitor.json") in out
    assert str(tmp_path / "imp" / "driftline-monitor.json") in out
    assert "__inputs" in (tmp_path / "imp" / "driftline-monitor.json").read_text(encoding="utf-8")
    assert "__inputs" not in (tmp_path / "out" / "driftline-monitor.json").read_text(encoding="utf-8")


# --------------------------------------------------------------------------- structure


def test_dashboards_have_stable_identity(dashboards: dict[str, dict[str, Any]]) -> None:
    uids = [dashboard["uid"] for dashboard in dashboards.values()]
    assert sorted(uids) == sorted(EXPECTED_UIDS)  # also: no duplicates
    for name, dashboard in dashboards.items():
        assert name == f"{dashboard['uid']}.json"
        assert dashboard["tags"] == ["driftline"]
        assert dashboard["refresh"] == "30s"
        assert "id" not in dashboard, "a numeric id would clash between Grafana instances"


def test_every_dashboard_has_a_prometheus_datasource_variable_defaulting_to_the_provisioned_one(
    dashboards: dict[str, dict[str, Any]],
) -> None:
    for dashboard in dashboards.values():
        variables = dashboard["templating"]["list"]
        (variable,) = datasource_variables(dashboard)
        assert variables[0] is variable, f"{dashboard['uid']}: query variables read it, so it comes first"
        assert (variable["name"], variable["query"]) == ("datasource", "prometheus")
        assert variable["current"]["value"] == DATASOURCE_UID
        assert variable.get("hide", 0) == 0, "users must be able to pick another Prometheus"
        assert not variable.get("multi") and not variable.get("includeAll")


def test_no_datasource_uid_is_hard_coded(dashboards: dict[str, dict[str, Any]]) -> None:
    """The provisioned uid appears once per dashboard, as the variable's default; nowhere else."""
    for dashboard in dashboards.values():
        hits = [path for path, text in strings_in(dashboard) if DATASOURCE_UID in text]
        (variable,) = datasource_variables(dashboard)
        index = dashboard["templating"]["list"].index(variable)
        assert hits == [f".templating.list[{index}].current.value"], f"{dashboard['uid']}: {hits}"
        refs = {path: text for path, text in strings_in(dashboard) if path.endswith(".datasource.uid")}
        assert len(refs) > 10, refs
        wrong = {path: uid for path, uid in refs.items() if uid not in ("${datasource}", "-- Grafana --")}
        assert not wrong, f"{dashboard['uid']}: {wrong}"


def test_every_panel_and_query_uses_the_datasource_variable(dashboards: dict[str, dict[str, Any]]) -> None:
    for dashboard in dashboards.values():
        for panel in iter_panels(dashboard["panels"]):
            if panel["type"] == "row":
                assert not panel.get("targets"), f"row {panel['title']!r} has queries"
                continue
            where = f"{dashboard['uid']}: {panel['title']!r}"
            assert panel.get("datasource") == DATASOURCE, where
            assert panel.get("targets"), f"{where} has no query"
            for target in panel["targets"]:
                assert target.get("datasource") == DATASOURCE, where
                assert target.get("expr", "").strip(), f"{where} has an empty expr"
        for annotation in dashboard["annotations"]["list"]:
            if not annotation.get("builtIn"):
                assert annotation.get("datasource") == DATASOURCE, annotation["name"]
                assert annotation.get("expr", "").strip(), annotation["name"]
        for variable in dashboard.get("templating", {}).get("list", []):
            if variable["type"] == "query":
                assert variable.get("datasource") == DATASOURCE, variable["name"]


def test_heatmaps_have_a_palette(dashboards: dict[str, dict[str, Any]]) -> None:
    """``color.steps: 0`` (a fresh HeatmapColorOptions) gives Grafana an empty palette."""
    sdk_default = heatmap_models.Options().color  # the SDK's default options: Grafana's
    heatmaps = [
        (dashboard["uid"], panel)
        for dashboard in dashboards.values()
        for panel in iter_panels(dashboard["panels"])
        if panel["type"] == "heatmap"
    ]
    assert heatmaps, "the monitor dashboard has a run duration heatmap"
    for uid, panel in heatmaps:
        color = panel["options"]["color"]
        where = f"{uid}: {panel['title']!r}"
        assert color["steps"] > 0, f"{where}: {color}"
        assert color["steps"] == sdk_default.steps == 64, where
        assert color["mode"] == "scheme" and color["scheme"] == sdk_default.scheme == "Oranges", where
        assert color["fill"] == sdk_default.fill, f"{where}: fill (opacity mode) {color['fill']!r}"
        assert color["scale"] in ("exponential", "linear") and 0 < color["exponent"] <= 1, where
        assert color["reverse"] is False, where
        assert panel["options"]["calculate"] is False, f"{where}: Prometheus buckets are already counted"
        assert {target["format"] for target in panel["targets"]} == {"heatmap"}, where


def test_import_variant_asks_for_a_prometheus_and_uses_it_everywhere(
    dashboards: dict[str, dict[str, Any]], importable: dict[str, dict[str, Any]]
) -> None:
    for name, template in importable.items():
        uid = template["uid"]
        (entry,) = template["__inputs"]
        assert entry == {
            "name": "DS_PROMETHEUS", "label": "Prometheus", "description": entry["description"],
            "type": "datasource", "pluginId": "prometheus", "pluginName": "Prometheus",
        }  # fmt: skip
        (variable,) = datasource_variables(template)
        assert variable["current"]["value"] == variable["current"]["text"] == INPUT, uid
        uses = [path for path, text in strings_in(template) if INPUT in text]
        assert uses == [f".templating.list[0].current.{key}" for key in ("text", "value")], f"{uid}: {uses}"
        assert DATASOURCE_UID not in json.dumps(template), f"{uid}: the provisioned uid would not exist elsewhere"
        # Every ${...} left is one of the dashboard's variables or a Grafana built-in.
        own = {v["name"] for v in template["templating"]["list"]} | {"DS_PROMETHEUS"}
        for path, text in strings_in(template):
            for ref in re.findall(r"\$\{([^}:]+)", text):
                assert ref in own or BUILTIN_VARIABLES.fullmatch(ref), f"{uid} {path}: ${{{ref}}}"
        # Imported with a datasource picked in the form, it is the provisioned dashboard on that datasource.
        imported = grafana_import(template, {"DS_PROMETHEUS": "their-prometheus"})
        assert INPUT not in json.dumps(imported)
        expected = json.loads(json.dumps(dashboards[name]))
        datasource_variables(expected)[0]["current"] = {"selected": True, "text": "their-prometheus",
                                                        "value": "their-prometheus"}  # fmt: skip
        extras = {key: imported.pop(key) for key in ("__requires", "__elements")}
        assert imported == expected, uid
        assert extras["__elements"] == {}
        with pytest.raises(LookupError, match="DS_PROMETHEUS"):
            grafana_import(template, {})


def test_import_variant_requires_what_it_uses(importable: dict[str, dict[str, Any]]) -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    grafana_image = compose["services"]["grafana"]["image"]
    for template in importable.values():
        required = {(r["type"], r["id"]): r for r in template["__requires"]}
        used = {p["type"] for p in iter_panels(template["panels"]) if p["type"] != "row"}
        assert {key[1] for key in required if key[0] == "panel"} == used, template["uid"]
        assert ("datasource", "prometheus") in required
        assert grafana_image == f"grafana/grafana:{required['grafana', 'grafana']['version']}"


def test_for_import_refuses_a_dashboard_without_the_datasource_variable(
    dashboards: dict[str, dict[str, Any]],
) -> None:
    bare = json.loads(json.dumps(dashboards["driftline-operations.json"]))
    bare["templating"]["list"] = [v for v in bare["templating"]["list"] if v["type"] != "datasource"]
    with pytest.raises(ValueError, match="driftline-operations.*0 datasource variables"):
        build.for_import(bare)


def test_panels_fit_the_grid_with_unique_ids(dashboards: dict[str, dict[str, Any]]) -> None:
    for dashboard in dashboards.values():
        panels = list(iter_panels(dashboard["panels"]))
        ids = [panel["id"] for panel in panels]
        assert len(ids) == len(set(ids)), f"{dashboard['uid']}: duplicate panel ids"
        cells: set[tuple[int, int]] = set()
        for panel in panels:
            pos = panel["gridPos"]
            assert pos["x"] >= 0 and pos["x"] + pos["w"] <= 24, f"{dashboard['uid']}: {panel['title']!r} overflows"
            mine = {(x, y) for x in range(pos["x"], pos["x"] + pos["w"]) for y in range(pos["y"], pos["y"] + pos["h"])}
            assert not cells & mine, f"{dashboard['uid']}: {panel['title']!r} overlaps another panel"
            cells |= mine


def test_monitor_dashboard_links_to_the_report(dashboards: dict[str, dict[str, Any]]) -> None:
    monitor = dashboards["driftline-monitor.json"]
    report = "${driftline_url}/v1/monitors/${monitor}/report"
    assert report in [dashboard_link.get("url") for dashboard_link in monitor["links"]]
    variables = {variable["name"]: variable for variable in monitor["templating"]["list"]}
    url = variables["driftline_url"]
    assert (url["type"], url["query"]) == ("query", "label_values(driftline_public_url_info, url)")
    assert url["datasource"] == DATASOURCE and url["allowCustomValue"] is True
    assert {"monitor", "model", "feature"} <= set(variables)


# --------------------------------------------------------------------------- the metrics contract


@pytest.mark.parametrize("query", all_queries(), ids=query_id)
def test_queries_name_only_contract_metrics(query: tuple[str, str, str]) -> None:
    uid, title, expr = query
    docs, recorded = documented_metrics(), recorded_names()
    unknown = {
        name
        for name in metric_names(expr)
        if labels_of(name, docs) is None and name not in PROMETHEUS_SERIES and name not in recorded
    }
    assert not unknown, (
        f"{uid} {title!r} queries {sorted(unknown)}: not in docs/metrics.md, not a Prometheus series, "
        "and not recorded by prometheus/rules/*.yml"
    )


@pytest.mark.parametrize("query", all_queries(), ids=query_id)
def test_queries_use_only_contract_labels(query: tuple[str, str, str]) -> None:
    uid, title, expr = query
    docs = documented_metrics()
    for metric, label in selector_labels(expr):
        allowed = labels_of(metric, docs)
        if allowed is not None:
            assert label in allowed, f"{uid} {title!r}: {metric} has no label {label!r} (docs: {sorted(allowed)})"
    known = [labels_of(name, docs) for name in metric_names(expr)]
    if known and all(labels is not None for labels in known):
        available = set().union(*(labels for labels in known if labels is not None))
        missing = grouping_labels(expr) - available
        assert not missing, f"{uid} {title!r} groups by {sorted(missing)}, which none of its metrics has"


def test_legends_name_labels_the_query_can_return(dashboards: dict[str, dict[str, Any]]) -> None:
    docs = documented_metrics()
    for dashboard in dashboards.values():
        for panel in iter_panels(dashboard["panels"]):
            for target in panel.get("targets", []):
                available = {"le"}.union(*(labels_of(name, docs) or set() for name in metric_names(target["expr"])))
                used = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", target.get("legendFormat", "")))
                assert used <= available, (
                    f"{dashboard['uid']} {panel['title']!r}: legend uses {sorted(used - available)}"
                )


def test_metric_name_extraction() -> None:
    expr = (
        'histogram_quantile(0.9, max by (monitor, le) (rate(driftline_run_duration_seconds_bucket{monitor="a b"}[5m])))'
        " / on (monitor) group_left () topk by (monitor) (1, driftline_window_rows offset 1h) or vector(1e3)"
        ' and ALERTS{alertname=~"Driftline.*"}'
    )
    assert metric_names(expr) == {"driftline_run_duration_seconds_bucket", "driftline_window_rows", "ALERTS"}
    assert grouping_labels(expr) == {"monitor", "le"}
    assert list(selector_labels(expr)) == [
        ("driftline_run_duration_seconds_bucket", "monitor"),
        ("ALERTS", "alertname"),
    ]


def test_substitute_variables_resolves_every_form_and_refuses_unknown_ones() -> None:
    got = build.substitute_variables(
        'x{a="$monitor", b="${model}", c=~"${feature:regex}"}[$__rate_interval]', SUBSTITUTIONS
    )
    assert got == 'x{a="churn", b="churn_v3", c=~"age"}[5m]'
    with pytest.raises(KeyError, match="nobody"):
        build.substitute_variables('x{a="$nobody"}', SUBSTITUTIONS)


# --------------------------------------------------------------------------- PromQL syntax


@pytest.mark.parametrize("uid", sorted(EXPECTED_UIDS))
def test_queries_pass_promtool(uid: str, tmp_path: Path) -> None:
    binary = promtool()
    queries = [query for query in all_queries() if query[0] == uid]
    assert queries
    names = {f"dashboard_query_{i}": query for i, query in enumerate(queries)}
    rules = [
        {"record": name, "expr": build.substitute_variables(expr, SUBSTITUTIONS)}
        for name, (_, _, expr) in names.items()
    ]
    path = tmp_path / f"{uid}.rules.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": uid, "rules": rules}]}, sort_keys=False), encoding="utf-8")
    done = subprocess.run(
        [binary, "check", "rules", str(path)], capture_output=True, text=True, timeout=60, check=False
    )
    output = done.stdout + done.stderr
    failed = [f"{name} = {title!r}: {expr}" for name, (_, title, expr) in names.items() if f'"{name}"' in output]
    assert done.returncode == 0, f"promtool check rules failed:\n{output}\n" + "\n".join(failed)
    assert f"SUCCESS: {len(rules)} rules found" in done.stdout


# --------------------------------------------------------------------------- provisioning


def test_provisioned_datasource_is_the_one_the_dashboards_use() -> None:
    config = yaml.safe_load((REPO / "grafana/provisioning/datasources/driftline.yml").read_text(encoding="utf-8"))
    (source,) = config["datasources"]
    assert (source["uid"], source["type"]) == (DATASOURCE_UID, "prometheus")
    assert source["name"] == DATASOURCE_NAME, "the datasource variable shows this name for its default"
    assert source["url"] == "http://prometheus:9090"
    assert source["isDefault"] is True


def test_dashboard_provider_reads_the_mounted_folder() -> None:
    config = yaml.safe_load((REPO / "grafana/provisioning/dashboards/driftline.yml").read_text(encoding="utf-8"))
    (provider,) = config["providers"]
    assert provider["type"] == "file"
    assert provider["folder"] == "Driftline"
    assert provider["options"]["path"] == "/var/lib/grafana/dashboards"


def test_docs_state_what_the_builder_writes() -> None:
    """docs/dashboards.md names the folders, the input, the default uid, the Grafana version and the floor."""
    from dashboards import monitor_page

    docs = (REPO / "docs" / "dashboards.md").read_text(encoding="utf-8")
    for fact in (
        f"`{build.DEFAULT_OUT_DIR}/`", f"`{build.DEFAULT_IMPORT_DIR}/`", f"`{build.DATASOURCE_INPUT}`",
        f"`{DATASOURCE_UID}`", f"Grafana {build.GRAFANA_VERSION}", f"{monitor_page.P_FLOOR:g}",
        "Drift score / threshold", *(f"`{uid}`" for uid in sorted(EXPECTED_UIDS)),
    ):  # fmt: skip
        assert fact in docs, f"docs/dashboards.md does not say {fact}"
