"""``${VAR}`` in URLs: substituted from the environment after parsing, and the secret never shown.

The secret is a random token of this test run, so a leak anywhere (a message, a log line, a
traceback, an API body) is found by searching for it.
"""

from __future__ import annotations

import logging
import secrets
import traceback
from pathlib import Path

import httpx
import pytest
from asgi_lifespan import LifespanManager

from monitor._env import substitute
from monitor.cli import main
from monitor.config import ConfigErrors, Settings, load_config

SECRET = "pw-" + secrets.token_hex(8)

CONFIG = """\
monitors:
  - name: price
    model: price-v1
    schema:
      numerical: [sqft]
    every: 1h
    source:
      type: sql
      url: postgresql+psycopg://reader:${PGPASSWORD}@${PGHOST:-127.0.0.1}:1/analytics
      table: price_predictions
    reference: {type: file, path: REFERENCE}
webhooks:
  - name: ops
    url: https://hooks.example.com/services/${HOOK_TOKEN}
"""


def _write(tmp_path: Path, text: str = CONFIG) -> Path:
    (tmp_path / "reference.csv").write_text("sqft,prediction\n" + "".join(f"{i},{i}\n" for i in range(200)))
    path = tmp_path / "driftline.yaml"
    path.write_text(text.replace("REFERENCE", str(tmp_path / "reference.csv")))
    return path


def _errors(path: Path, env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigErrors) as err:
        load_config(path, env=env)
    return [line.removeprefix(f"{path}:") for line in err.value.errors]


ENV = {"PGPASSWORD": SECRET, "HOOK_TOKEN": SECRET}


def test_urls_are_substituted_with_defaults(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path), env=ENV)
    assert config.monitors[0].source.url == f"postgresql+psycopg://reader:{SECRET}@127.0.0.1:1/analytics"  # type: ignore[union-attr]
    assert config.webhooks[0].url == f"https://hooks.example.com/services/{SECRET}"
    # the default applies when the variable is unset or empty; a set one wins
    config = load_config(_write(tmp_path), env={**ENV, "PGHOST": "db.internal"})
    assert "@db.internal:1/" in config.monitors[0].source.url  # type: ignore[union-attr]
    assert "@127.0.0.1:1/" in load_config(_write(tmp_path), env={**ENV, "PGHOST": ""}).monitors[0].source.url  # type: ignore[union-attr]


def test_the_process_environment_is_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PGPASSWORD", SECRET)
    monkeypatch.setenv("HOOK_TOKEN", "t")
    assert SECRET in load_config(_write(tmp_path)).monitors[0].source.url  # type: ignore[union-attr]


def test_an_unset_variable_is_an_error_naming_it_at_its_line(tmp_path: Path) -> None:
    assert _errors(_write(tmp_path), {"HOOK_TOKEN": SECRET}) == [
        "9 monitors.0.source.url: environment variable PGPASSWORD is not set (referenced as ${PGPASSWORD}); "
        "set it, or give a default: ${PGPASSWORD:-value}"]
    assert _errors(_write(tmp_path), {}) == [
        "9 monitors.0.source.url: environment variable PGPASSWORD is not set (referenced as ${PGPASSWORD}); "
        "set it, or give a default: ${PGPASSWORD:-value}",
        "14 webhooks.0.url: environment variable HOOK_TOKEN is not set (referenced as ${HOOK_TOKEN}); "
        "set it, or give a default: ${HOOK_TOKEN:-value}"]


def test_escaping_and_literal_dollars() -> None:
    assert substitute("a$${X}b", {"X": "no"}) == "a${X}b"
    assert substitute("pa$word$$", {}) == "pa$word$$"  # only `${` starts a reference
    assert substitute("${X:-}", {}) == ""
    assert substitute("${X}", {"X": ""}) == ""
    with pytest.raises(ValueError, match=r"not closed by '\}'"):
        substitute("postgresql://u:${PW@h/db", {})
    with pytest.raises(ValueError, match=r"is not \$\{NAME\} or \$\{NAME:-default\}") as err:
        substitute("postgresql://u:${p w}@h/db", {})
    assert "p w" not in str(err.value)  # the file's own text is not echoed either


def test_a_value_is_text_never_yaml(tmp_path: Path) -> None:
    """Substitution runs on the parsed scalar: a value holding YAML cannot add keys or monitors."""
    injected = "x\nmonitors: []\n  - {name: evil}"
    config = load_config(_write(tmp_path), env={"PGPASSWORD": SECRET, "HOOK_TOKEN": injected})
    assert [m.name for m in config.monitors] == ["price"]
    assert config.webhooks[0].url == f"https://hooks.example.com/services/{injected}"


def test_only_urls_are_substituted(tmp_path: Path) -> None:
    path = _write(tmp_path, CONFIG.replace("table: price_predictions", "table: ${TABLE}"))
    assert load_config(path, env={**ENV, "TABLE": "t"}).monitors[0].source.table == "${TABLE}"  # type: ignore[union-attr]


@pytest.mark.parametrize(("change", "env", "expected"), [
    (("https://hooks.example.com/services/${HOOK_TOKEN}", "${HOOK_URL}"), {"HOOK_URL": f"ftp://u:{SECRET}@x/"},
     "14 webhooks.0.url: must start with http:// or https://"),
    (("127.0.0.1}:1/", "127.0.0.1}:${PORT}/"), {"PORT": f"{SECRET}"},
     "9 monitors.0.source.url: not a SQLAlchemy URL such as postgresql+psycopg://user:${PGPASSWORD}@host/database"),
    (("every: 1h", "every: 1h\n    min_rows: 0"), {}, "7 monitors.0.min_rows: must be at least 1, got 0"),  # elsewhere
], ids=["webhook-not-http", "sql-not-a-url", "other-error"])
def test_a_url_refused_after_substitution_is_not_echoed(tmp_path: Path, change: tuple[str, str], env: dict[str, str],
                                                         expected: str) -> None:
    errors = _errors(_write(tmp_path, CONFIG.replace(*change)), {**ENV, **env})
    assert expected in errors, errors
    assert SECRET not in "\n".join(errors)


def test_check_config_never_prints_the_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("PGPASSWORD", SECRET)
    monkeypatch.setenv("HOOK_TOKEN", SECRET)
    path = _write(tmp_path)
    assert main(["check-config", str(path)]) == 0
    out = capsys.readouterr()
    assert out.out.strip() == f"{path}: ok, 1 monitor(s): price"
    broken = _write(tmp_path, CONFIG.replace("every: 1h", "every: soon").replace("https://hooks", "ftp://hooks"))
    assert main(["check-config", str(broken)]) == 2
    out = capsys.readouterr()
    assert "every: 'soon' is not a duration" in out.err and "must start with http://" in out.err
    assert SECRET not in out.out + out.err


def test_the_models_reprs_hide_urls(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path), env=ENV)
    assert SECRET not in repr(config) and SECRET not in str(config)
    assert SECRET not in repr(config.to_domain())


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_the_monitors_api_never_shows_the_secret(tmp_path: Path, anyio_backend: str) -> None:
    from monitor.app import create_app
    from tests.fakes import FakeService, FakeStore

    config = load_config(_write(tmp_path), env=ENV)
    store = FakeStore(config)
    app = create_app(Settings(), config, store=store, service=FakeService(config, store))
    async with LifespanManager(app) as manager:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://test") as c:
            bodies = [(await c.get(url)).text for url in ("/v1/monitors", "/openapi.json", "/")]
    assert "price" in bodies[0]
    assert not [b for b in bodies if SECRET in b]


@pytest.mark.anyio
@pytest.mark.parametrize("anyio_backend", ["asyncio"])
async def test_a_failing_sql_source_never_shows_the_secret(tmp_path: Path, anyio_backend: str,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    """A run on an unreachable database (port 1): the run's error, the logs and the traceback are clean."""
    from monitor.service import MonitorService
    from monitor.storage.store import Store

    config = load_config(_write(tmp_path), env=ENV)
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'driftline.db'}", scheduler=False)
    store = Store.from_url(settings.database_url, config)
    store.upgrade()
    service = MonitorService(settings, config, store)
    caplog.set_level(logging.DEBUG)
    try:
        await service.start()
        run = await service.run_now("price")
    finally:
        await service.stop()
        store.dispose()
    assert str(run.status) == "error" and run.error
    assert "price_predictions" in run.error  # the message names the table ...
    assert SECRET not in run.error  # ... never the URL's password
    assert SECRET not in caplog.text
    for record in caplog.records:
        if record.exc_info and record.exc_info[1] is not None:
            assert SECRET not in "".join(traceback.format_exception(record.exc_info[1]))
