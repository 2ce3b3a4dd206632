"""Hostile YAML: alias bombs, cycles, deep nesting, repeated keys and binary files are one line, exit 2.

Before, a 421-byte "billion laughs" file took check-config 102 s; a cycle, deep nesting or a
binary file ended in a traceback and exit 1; a repeated key silently kept its last value.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config import ConfigErrors, load_config
from monitor.errors import ConfigError
from monitor.schema import load_schema

LAUGHS = 'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n' + "".join(
    f"{b}: &{b} [{','.join([f'*{a}'] * 9)}]\n" for a, b in zip("abcdefgh", "bcdefghi", strict=True))

GOOD = """\
monitors:
  - name: churn
    model: churn
    schema: &schema
      numerical: [age]
    every: 15m
  - name: churn-daily
    model: churn
    schema: *schema
    every: 1d
"""

CASES = {
    "laughs": (LAUGHS, ":1: expands to more than 100000 values (aliases included)"),
    "cycle": ("monitors: &m\n  - *m\n", ":1: an alias refers to a node that contains it"),
    "deep-flow": ("monitors: " + "[" * 5000 + "]" * 5000 + "\n", ":1: nests deeper than 64 levels"),
    "deep-block": ("".join("  " * i + "k:\n" for i in range(2000)), ":65: nests deeper than 64 levels"),
    "repeated-key": ("monitors: []\nwebhooks: []\nmonitors: []\n", ":3: key 'monitors' repeats the key of line 1"),
    "nul": ("monitors: [a\x00]\n", ": not valid YAML: unacceptable character #x0000"),
}


def _write(tmp_path: Path, content: str | bytes, name: str = "driftline.yaml") -> Path:
    path = tmp_path / name
    path.write_bytes(content.encode() if isinstance(content, str) else content)
    return path


@pytest.mark.parametrize(("text", "expected"), list(CASES.values()), ids=list(CASES))
def test_hostile_files_are_one_error_line(tmp_path: Path, text: str, expected: str) -> None:
    path = _write(tmp_path, text)
    started = time.perf_counter()
    with pytest.raises(ConfigErrors) as info:
        load_config(path)
    assert time.perf_counter() - started < 10  # the laughs took 102 s; a generous bound, not a benchmark
    assert info.value.errors == [f"{path}{expected}"] or (
        len(info.value.errors) == 1 and info.value.errors[0].startswith(f"{path}{expected}")), info.value.errors


def test_a_binary_file_is_one_line_naming_the_byte(tmp_path: Path) -> None:
    path = _write(tmp_path, b"monitors:\n  - \x89PNG\r\n\x1a\n\xff\xfe")
    with pytest.raises(ConfigErrors) as info:
        load_config(path)
    assert info.value.errors == [f"{path}:2: not UTF-8 text (byte 14); is this a binary file?"]


def test_aliases_within_the_budget_still_work(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, GOOD))
    assert [m.schema_.numerical for m in config.monitors] == [("age",), ("age",)]


@pytest.mark.parametrize("name", list(CASES))
def test_check_config_prints_one_line_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                  name: str) -> None:
    path = _write(tmp_path, CASES[name][0])
    assert main(["check-config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"driftline: error: {path}:"), err
    assert "Traceback" not in err


@pytest.mark.parametrize(("text", "expected"), [
    (LAUGHS, "expands to more than 100000 values"),
    ("columns: &c {a: *c}\n", "an alias refers to a node that contains it"),
    ("columns: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n", "nests deeper than 64 levels"),
    ("columns:\n  age: numerical\n  age: categorical\n", ":3: key 'age' repeats the key of line 2"),
], ids=["laughs", "cycle", "deep", "repeated-column"])
def test_the_check_schema_file_is_read_the_same_way(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError, match=expected):
        load_schema(_write(tmp_path, text, "schema.yaml"))


def test_a_binary_schema_file_is_one_line(tmp_path: Path) -> None:
    path = _write(tmp_path, b"\xff\xd8\xff\xe0 jpeg", "schema.yaml")
    with pytest.raises(ConfigError) as info:
        load_schema(path)
    assert str(info.value) == f"{path}:1: not UTF-8 text (byte 0); is this a binary file?"
