"""driftline.yaml: a feature's method must apply to its column type; the shipped example is valid.

`check-config` used to print `ok` for `plan: {method: ks}` on a categorical feature, and every
run then ended in `error`. The method sets come from the core (`monitor.stats.types`), the same
sets the run checks against.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config import ConfigErrors, load_config
from monitor.stats.types import CATEGORICAL_METHODS, NUMERICAL_METHODS, DriftMethod

ROOT = Path(__file__).resolve().parents[2]

TEMPLATE = """\
monitors:
  - name: churn
    model: churn-v3
    schema:
      numerical: [age]
      categorical: [plan]
    every: 15m
    features:
      age: {AGE}
      plan: {PLAN}
"""


def _options(method: DriftMethod) -> str:
    from monitor.stats.types import P_VALUE_METHODS

    return f"{{method: {method}, alpha: 0.05}}" if method in P_VALUE_METHODS else f"{{method: {method}}}"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "driftline.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize("method", sorted(DriftMethod), ids=str)
def test_each_method_is_accepted_exactly_for_the_types_it_applies_to(tmp_path: Path, method: DriftMethod) -> None:
    for column, allowed in (("age", NUMERICAL_METHODS), ("plan", CATEGORICAL_METHODS)):
        # The other feature keeps a method that applies to it.
        text = TEMPLATE.replace("{AGE}", _options(method) if column == "age" else "{method: ks}") \
                       .replace("{PLAN}", _options(method) if column == "plan" else "{method: psi}")
        if method in allowed:
            load_config(_write(tmp_path, text))
            continue
        with pytest.raises(ConfigErrors) as err:
            load_config(_write(tmp_path, text))
        line = 9 if column == "age" else 10
        kind = "numerical" if column == "age" else "categorical"
        assert err.value.errors == [
            f"{tmp_path / 'driftline.yaml'}:{line} monitors.0.features.{column}.method: {method} does not apply "
            f"to {kind} feature {column!r}; use one of: " + ", ".join(sorted(m.value for m in allowed))]


def test_all_mismatches_of_a_file_are_reported_at_once_with_their_lines(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    one = TEMPLATE.replace("{AGE}", "{method: chi_square, alpha: 0.05}").replace("{PLAN}", "{method: ks}")
    two = one.replace("monitors:\n", "").replace("name: churn", "name: churn-b")
    path = _write(tmp_path, one + two)
    assert main(["check-config", str(path)]) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    found = [re.sub(r"^driftline: error: ", "", x).split(" ")[0:2] for x in lines]
    assert found == [[f"{path}:9", "monitors.0.features.age.method:"],
                     [f"{path}:10", "monitors.0.features.plan.method:"],
                     [f"{path}:18", "monitors.1.features.age.method:"],
                     [f"{path}:19", "monitors.1.features.plan.method:"]]
    assert "ks does not apply to categorical feature 'plan'" in lines[1]


def test_the_shipped_example_config_passes_check_config(capsys: pytest.CaptureFixture[str]) -> None:
    example = ROOT / "examples" / "driftline.yaml"
    assert main(["check-config", str(example)]) == 0
    assert capsys.readouterr().out.strip() == f"{example}: ok, 1 monitor(s): churn"


def test_every_check_config_command_of_the_readme_names_a_file_that_passes(
        capsys: pytest.CaptureFixture[str]) -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    files = re.findall(r"driftline check-config (\S+)", readme)
    assert files, "the README shows no check-config command"
    for name in files:
        assert (ROOT / name).is_file(), f"README: driftline check-config {name}: no such file in the repository"
        assert main(["check-config", str(ROOT / name)]) == 0, capsys.readouterr().err
