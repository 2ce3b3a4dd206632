"""The JSON Schema of ``driftline.yaml``, generated from the pydantic models of :mod:`monitor.config`.

Editors read it for completion and inline checks (the yaml-language-server modeline at the top of
``examples/driftline.yaml``; docs/configuration.md, "Editor setup"). ``driftline config-schema``
prints it; the committed ``docs/driftline.schema.json`` is this text, kept equal by a test.
The schema describes the keys and their types; the cross-field rules (a method that applies to
its feature's type, exactly one of ``every`` and ``cron``, ...) are checked by ``check-config`` only.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = ["config_schema", "schema_text"]

#: The JSON Schema dialect pydantic generates.
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def config_schema() -> dict[str, Any]:
    """The schema as a JSON object (keys as written in the file: ``schema``, ``from``, ``to``)."""
    from monitor.config import DriftlineConfig

    generated = DriftlineConfig.model_json_schema(by_alias=True, mode="validation")
    return {"$schema": DIALECT, **generated, "title": "driftline.yaml"}


def schema_text() -> str:
    """The schema as the text of ``docs/driftline.schema.json`` (2-space indent, final newline)."""
    return json.dumps(config_schema(), indent=2, ensure_ascii=False) + "\n"
