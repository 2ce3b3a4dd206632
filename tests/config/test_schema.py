"""The JSON Schema of driftline.yaml: generated from the models, committed, and right about real files.

The committed ``docs/driftline.schema.json`` must be exactly what ``driftline config-schema``
prints (a stale file fails here). The schema is checked by an independent validator
(``jsonschema_rs``, Draft 2020-12): it accepts the shipped example and the annotated example
of docs/configuration.md, and rejects what the loader rejects for key typos and choices.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import yaml

from monitor._yaml import plain
from monitor.cli import main
from monitor.config_schema import schema_text

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "driftline.schema.json"
EXAMPLE = ROOT / "examples" / "driftline.yaml"


def _validator() -> Any:
    return jsonschema_rs.validator_for(json.loads(COMMITTED.read_text(encoding="utf-8")))


def _read(text: str) -> Any:
    """YAML as the loader reads it (and as YAML 1.2 editors do: a key ``on`` stays the text "on")."""
    return plain(yaml.compose(text, Loader=yaml.SafeLoader), "test")


def _example() -> Any:
    return _read(EXAMPLE.read_text(encoding="utf-8"))


def _docs_example() -> Any:
    text = (ROOT / "docs" / "configuration.md").read_text(encoding="utf-8")
    return _read(next(b for b in re.findall(r"```yaml\n(.*?)```", text, re.DOTALL)
                      if b.startswith("# driftline.yaml: every")))


def test_the_committed_schema_is_the_generated_one() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == schema_text(), (
        "docs/driftline.schema.json is stale: run `driftline config-schema > docs/driftline.schema.json`")


def test_config_schema_prints_the_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config-schema"]) == 0
    out = capsys.readouterr().out
    assert out == COMMITTED.read_text(encoding="utf-8")
    schema = json.loads(out)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "driftline.yaml" and schema["required"] == ["monitors"]


def test_every_key_has_a_description() -> None:
    schema = json.loads(COMMITTED.read_text(encoding="utf-8"))
    models = {"DriftlineConfig": schema, **schema["$defs"]}
    undocumented = [f"{name}.{key}" for name, model in models.items()
                    for key, prop in model.get("properties", {}).items() if not prop.get("description")]
    assert undocumented == []
    assert all(model.get("description") for model in models.values() if "properties" in model)


def test_the_keys_are_the_files_keys_not_the_python_names() -> None:
    schema = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert "schema" in schema["$defs"]["MonitorConfig"]["properties"]
    assert "schema_" not in schema["$defs"]["MonitorConfig"]["properties"]
    assert {"from", "to"} <= set(schema["$defs"]["StoreReference"]["properties"])


@pytest.mark.parametrize("data", [pytest.param(_example, id="examples"),
                                  pytest.param(_docs_example, id="docs-annotated")])
def test_the_schema_accepts_the_shipped_examples(data: Any) -> None:
    errors = [e.message for e in _validator().iter_errors(data())]
    assert errors == []


@pytest.mark.parametrize(("path", "value"), [
    (("monitors", 0, "features", "age", "alpah"), 0.01),   # a typo
    (("monitors", 0, "features", "age", "method"), "kss"),  # not a method
    (("monitors", 0, "features", "age", "threshold"), 0.2),  # a distance's key on a test
    (("monitors", 0, "correction"), "holmes"),
    (("monitors", 0, "every"), "1hour"),                    # not a duration
    (("monitors", 0, "name"), "Churn"),                     # not a name
    (("webhooks", 0, "url"), "ftp://x"),
    (("monitors", 0, "window"), "1h"),
], ids=["typo", "method", "threshold-on-ks", "enum", "duration", "name", "url", "window-not-mapping"])
def test_the_schema_rejects_what_the_loader_rejects(path: tuple[Any, ...], value: Any) -> None:
    data = _example()
    target = data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    assert not _validator().is_valid(data)


def test_the_example_names_the_schema_for_editors() -> None:
    first = EXAMPLE.read_text(encoding="utf-8").splitlines()[0]
    m = re.fullmatch(r"# yaml-language-server: \$schema=(\S+)", first)
    assert m, first
    assert (EXAMPLE.parent / m[1]).resolve() == COMMITTED.resolve()
