"""The report tests run on asyncio; the wide case (200 columns through ``driftline report``) is built once."""

from __future__ import annotations

import contextlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from monitor.cli import main
from tests.reports._data import wide_frames


@pytest.fixture()
def anyio_backend() -> str:
    return "asyncio"


@dataclass(frozen=True, slots=True)
class Wide:
    """The 200-column files, the report ``driftline report`` wrote of them, and ``driftline check``'s JSON."""

    reference: Path
    current: Path
    report: Path
    page: str
    check: dict[str, Any]
    stdout: str


def _run(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(argv))
    return code, out.getvalue()


@pytest.fixture(scope="session")
def wide(tmp_path_factory: pytest.TempPathFactory) -> Wide:
    folder = tmp_path_factory.mktemp("wide")
    reference, current = wide_frames()
    paths = folder / "reference.csv", folder / "current.csv", folder / "report.html"
    reference.to_csv(paths[0], index=False)
    current.to_csv(paths[1], index=False)
    code, stdout = _run("report", str(paths[0]), str(paths[1]), "-o", str(paths[2]))
    assert code == 0, stdout
    code, checked = _run("check", str(paths[0]), str(paths[1]), "--format", "json")
    assert code == 0, checked
    return Wide(reference=paths[0], current=paths[1], report=paths[2], page=paths[2].read_text(encoding="utf-8"),
                check=json.loads(checked), stdout=stdout)
