"""driftline.yaml validation: every error with file:line and the key's path; settings from env."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from monitor.cli import main
from monitor.config import ConfigErrors, Settings, load_config, parse_duration

GOOD = """\
monitors:
  - name: churn
    model: churn-v3
    schema:
      numerical: [age, income]
      categorical: [plan]
    every: 15m
    window: {last: 1h}
    min_rows: 200
    features:
      age: {method: ks, alpha: 0.01}
      plan: {method: psi, threshold: 0.2}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "driftline.yaml"
    path.write_text(text)
    return path


def test_a_valid_file_loads_with_its_defaults(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, GOOD))
    m = config.monitor("churn")
    assert m.schema_.features == ("age", "income", "plan")
    assert m.features["age"].alpha == 0.01  # type: ignore[union-attr]
    assert m.window.last == "1h" and m.source.type == "store"


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (("alpha: 0.01", "alpah: 0.01"), ":11 monitors.0.features.age.alpah: unknown key 'alpah' (did you mean 'alpha'?)"),
        (("last: 1h", "last: 1hh"), ":8 monitors.0.window.last: '1hh' is not a duration"),
        (("every: 15m", "every: 15m\n    cron: '*/5 * * * *'"), ":2 monitors.0: give exactly one of 'every' and 'cron'"),
        (("method: ks", "method: kss"), ":11 monitors.0.features.age"),
        (("alpha: 0.01", "alpha: 1.5"), ":11 monitors.0.features.age.alpha: must be in the open interval (0, 1), got 1.5"),
        (("plan: {method", "nope: {method"), ":12 monitors.0.features.nope: 'nope' is not a feature of the schema"),
        (("min_rows: 200", "min_rows: -1"), ":9 monitors.0.min_rows"),
    ],
    ids=["typo", "duration", "two-schedules", "unknown-method", "alpha-range", "unknown-feature", "min-rows"],
)
def test_errors_name_file_line_and_key(tmp_path: Path, change: tuple[str, str], expected: str) -> None:
    path = _write(tmp_path, GOOD.replace(*change))
    with pytest.raises(ConfigErrors) as err:
        load_config(path)
    assert any(expected in line for line in err.value.errors), err.value.errors
    assert all(line.startswith(str(path) + ":") for line in err.value.errors)


def test_every_error_is_reported_at_once(tmp_path: Path) -> None:
    text = GOOD.replace("alpha: 0.01", "alpah: 0.01").replace("last: 1h", "last: soon")
    with pytest.raises(ConfigErrors) as err:
        load_config(_write(tmp_path, text))
    assert len(err.value.errors) == 2


def test_broken_yaml_names_the_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigErrors, match=r"driftline.yaml:[34]: not valid YAML"):
        load_config(_write(tmp_path, "monitors:\n  - name: x\n    model: [unclosed\n"))


def test_check_config_command_prints_every_error_and_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, GOOD.replace("alpha: 0.01", "alpah: 0.01"))
    assert main(["check-config", str(path)]) == 2
    assert "driftline.yaml:11 monitors.0.features.age.alpah" in capsys.readouterr().err
    assert main(["check-config", str(_write(tmp_path, GOOD))]) == 0


def test_durations() -> None:
    assert parse_duration("30s") == timedelta(seconds=30) and parse_duration("7d") == timedelta(days=7)
    with pytest.raises(ValueError, match="'0m'"):
        parse_duration("0m")


def test_settings_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTLINE_DATABASE_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("DRIFTLINE_API_KEYS", "k1, k2")
    s = Settings()
    assert s.database_url == "postgresql+psycopg://u@h/db" and s.api_key_list() == [b"k1", b"k2"]
    assert "k1" not in repr(s)


def test_placeholder_api_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTLINE_API_KEYS", "changeme")
    with pytest.raises(ValueError, match="placeholder"):
        Settings()
