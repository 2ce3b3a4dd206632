"""What a new user meets first: --version, python -m monitor, a fast --help, a missing extra."""

from __future__ import annotations

import subprocess
import sys
import time
from importlib.metadata import version

import pytest

from monitor.cli import main


def test_version_is_the_installed_distributions(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--version"])
    assert exited.value.code == 0
    assert capsys.readouterr().out.strip() == f"driftline {version('driftline')}"


def test_python_dash_m_monitor_is_the_command_line() -> None:
    done = subprocess.run([sys.executable, "-m", "monitor", "--version"], capture_output=True, text=True,
                          timeout=60, check=False)
    assert (done.returncode, done.stdout.strip()) == (0, f"driftline {version('driftline')}")


def test_help_does_not_import_pandas_or_scipy() -> None:
    # The measure of a fast --help that does not depend on the machine's speed: what it imports.
    code = ("import sys; from monitor.cli import main\n"
            "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in ('pandas', 'scipy', 'sklearn', 'pyarrow', 'sqlalchemy') if m in sys.modules))")
    started = time.monotonic()
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.strip().splitlines()[-1] == "[]", done.stdout
    assert time.monotonic() - started < 30  # a sanity bound only; speed is not measured by unit tests


def test_dashboards_without_their_extra_is_one_line_naming_it(monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    # As if the extra were not installed: forget every loaded module of it and of dashboards.
    for name in [m for m in sys.modules if m.split(".")[0] in ("grafana_foundation_sdk", "dashboards")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "grafana_foundation_sdk", None)
    assert main(["dashboards", "build", "--out", "/nonexistent"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "pip install 'driftline[dashboards]'" in err
