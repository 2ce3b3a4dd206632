"""docker-compose.yml, checked by Debian's docker-compose 1.29 without a Docker engine.

``docker-compose -f FILE config`` interpolates the variables and validates the file against the
compose schema (exit 0 and the normalized file, or exit 1). Here it runs with a scratch
``--env-file`` and an environment scrubbed of the caller's variables, so what passes is what a
fresh ``.env`` gives. On top of the schema, the normalized file must agree with the configs it
mounts: the host names and ports in prometheus.yml, alertmanager.yml, the Grafana datasource and
examples/compose/driftline.yaml.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import service_unavailable

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
SERVICES = {"driftline", "postgres", "prometheus", "alertmanager", "grafana", "retrain"}

#: A filled-in .env: distinct values, so where each one lands can be checked.
ENV = {
    "POSTGRES_PASSWORD": "pg-0a1b2c3d",
    "DRIFTLINE_API_KEYS": "ops-key-1,ops-key-2",
    "RETRAIN_API_KEY": "retrain-key-4e5f",
    "DRIFTLINE_ALERTMANAGER_TOKEN": "am-token-6a7b",
    "RETRAIN_WEBHOOK_SECRET": "webhook-secret-8c9d",
    "GRAFANA_ADMIN_PASSWORD": "grafana-pw-0e1f",
}
#: Which services may see each secret (least privilege: nobody else gets it).
SEES = {
    "POSTGRES_PASSWORD": {"postgres", "driftline"},
    "DRIFTLINE_API_KEYS": {"driftline"},
    "RETRAIN_API_KEY": {"driftline", "retrain"},
    "DRIFTLINE_ALERTMANAGER_TOKEN": {"driftline", "alertmanager-token"},
    "RETRAIN_WEBHOOK_SECRET": {"driftline", "retrain"},
    "GRAFANA_ADMIN_PASSWORD": {"grafana"},
}


def docker_compose() -> str:
    found = shutil.which("docker-compose")
    if found is None:
        service_unavailable("docker-compose is not installed (scripts/install-monitoring.sh installs Debian's)")
    return found


def write_env(path: Path, values: dict[str, str]) -> Path:
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()))
    return path


def compose_config(tmp_path: Path, env: dict[str, str],
                   compose_file: Path = COMPOSE) -> subprocess.CompletedProcess[str]:
    """``docker-compose -f FILE --env-file ENV config`` with nothing of the caller's environment."""
    env_file = write_env(tmp_path / "test.env", env)
    clean = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path), "LANG": "C.UTF-8"}
    return subprocess.run([docker_compose(), "-f", str(compose_file), "--env-file", str(env_file), "config"],
                          capture_output=True, text=True, env=clean, cwd=tmp_path, timeout=120, check=False)


@pytest.fixture(scope="module")
def normalized(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    result = compose_config(tmp_path_factory.mktemp("compose"), ENV)
    assert result.returncode == 0, result.stderr
    data: dict[str, Any] = yaml.safe_load(result.stdout)
    return data


def test_config_is_valid_with_the_six_services_and_their_healthchecks(normalized: dict[str, Any]) -> None:
    services = normalized["services"]
    assert SERVICES <= set(services)
    for name in SERVICES:
        check = services[name].get("healthcheck")
        assert check and check["test"][0] == "CMD" and not check.get("disable"), name


def test_driftline_service(normalized: dict[str, Any]) -> None:
    svc = normalized["services"]["driftline"]
    assert svc["build"]["context"] == str(REPO)
    assert svc["command"] == ["driftline", "serve", "--config", "/etc/driftline/driftline.yaml",
                              "--host", "0.0.0.0", "--port", "8000"]
    env = svc["environment"]
    password = ENV["POSTGRES_PASSWORD"]
    assert env["DRIFTLINE_DATABASE_URL"] == f"postgresql+psycopg://driftline:{password}@postgres:5432/driftline"
    assert env["DRIFTLINE_API_KEYS"].split(",") == [*ENV["DRIFTLINE_API_KEYS"].split(","), ENV["RETRAIN_API_KEY"]]
    assert env["DRIFTLINE_ALERTMANAGER_TOKEN"] == ENV["DRIFTLINE_ALERTMANAGER_TOKEN"]
    assert svc["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "/readyz" in " ".join(svc["healthcheck"]["test"])
    assert f"{REPO}/examples/compose/driftline.yaml:/etc/driftline/driftline.yaml:ro" in svc["volumes"]


def test_the_mounted_monitors_file_is_valid_and_names_the_retrain_service(normalized: dict[str, Any]) -> None:
    from monitor.config import load_config

    config = load_config(REPO / "examples" / "compose" / "driftline.yaml")
    [target] = config.webhooks
    retrain = normalized["services"]["retrain"]
    port = retrain["command"][retrain["command"].index("--port") + 1]
    assert target.url == f"http://retrain:{port}/retrain"
    assert retrain["environment"][target.secret_env] == ENV["RETRAIN_WEBHOOK_SECRET"]
    assert normalized["services"]["driftline"]["environment"][target.secret_env] == ENV["RETRAIN_WEBHOOK_SECRET"]
    assert retrain["environment"]["DRIFTLINE_URL"] == "http://driftline:8000"
    assert retrain["environment"]["DRIFTLINE_API_KEY"] == ENV["RETRAIN_API_KEY"]
    assert retrain["command"][:2] == ["uvicorn", "examples.retrain_service.app:app"]
    assert (REPO / "examples" / "retrain_service" / "app.py").exists()
    assert retrain["environment"]["RETRAIN_DATA"] == "/app/examples/current.csv"  # copied by the Dockerfile


def test_names_and_ports_match_the_mounted_configs(normalized: dict[str, Any]) -> None:
    services = normalized["services"]
    prom = yaml.safe_load((REPO / "prometheus" / "prometheus.yml").read_text())
    scrape = {t for job in prom["scrape_configs"] for sc in job["static_configs"] for t in sc["targets"]}
    alerting = {t for am in prom["alerting"]["alertmanagers"] for sc in am["static_configs"] for t in sc["targets"]}
    assert scrape == {"driftline:8000"} and alerting == {"alertmanager:9093"}
    am = yaml.safe_load((REPO / "prometheus" / "alertmanager.yml").read_text())
    [hook] = am["receivers"][0]["webhook_configs"]
    assert hook["url"].startswith("http://driftline:8000/")
    datasource = yaml.safe_load((REPO / "grafana" / "provisioning" / "datasources" / "driftline.yml").read_text())
    assert datasource["datasources"][0]["url"] == "http://prometheus:9090"
    for host, port in [("driftline", 8000), ("alertmanager", 9093), ("prometheus", 9090)]:
        assert host in services
        assert any(p.split(":")[-1] == f"{port}/tcp" for p in services[host]["ports"]), host
        assert f":{port}/" in " ".join(services[host]["healthcheck"]["test"]), host

    # Prometheus: the whole folder, so rule_files (relative to prometheus.yml) resolve.
    assert f"{REPO}/prometheus:/etc/prometheus:ro" in services["prometheus"]["volumes"]
    assert all((REPO / "prometheus" / "rules").glob("*.yml"))
    # Grafana: provisioning and the dashboards where the dashboard provider looks for them.
    provider = yaml.safe_load((REPO / "grafana" / "provisioning" / "dashboards" / "driftline.yml").read_text())
    dashboards_path = provider["providers"][0]["options"]["path"]
    assert f"{REPO}/grafana/provisioning:/etc/grafana/provisioning:ro" in services["grafana"]["volumes"]
    assert f"{REPO}/grafana/dashboards:{dashboards_path}:ro" in services["grafana"]["volumes"]
    assert services["grafana"]["environment"]["GF_SECURITY_ADMIN_PASSWORD"] == ENV["GRAFANA_ADMIN_PASSWORD"]


def test_alertmanager_gets_its_config_and_the_token_file(normalized: dict[str, Any]) -> None:
    services = normalized["services"]
    am = yaml.safe_load((REPO / "prometheus" / "alertmanager.yml").read_text())
    token_file = Path(am["receivers"][0]["webhook_configs"][0]["http_config"]["authorization"]["credentials_file"])
    volumes = services["alertmanager"]["volumes"]
    assert f"{REPO}/prometheus/alertmanager.yml:/etc/alertmanager/alertmanager.yml:ro" in volumes
    # The token file lives in a volume mounted over its folder, written by the one-shot service.
    shared = next(v.split(":")[0] for v in volumes if v.split(":")[1] == str(token_file.parent))
    writer = services["alertmanager-token"]
    mount = next(v.split(":")[1] for v in writer["volumes"] if v.split(":")[0] == shared)
    script = " ".join(writer["command"])
    assert f"> {mount}/{token_file.name}" in script
    assert writer["environment"]["ALERTMANAGER_TOKEN"] == ENV["DRIFTLINE_ALERTMANAGER_TOKEN"]
    assert services["alertmanager"]["depends_on"]["alertmanager-token"]["condition"] == "service_completed_successfully"


def test_each_secret_reaches_only_the_services_that_need_it(normalized: dict[str, Any]) -> None:
    for name, value in ENV.items():
        seen = {svc for svc, spec in normalized["services"].items()
                if any(value in str(v) for v in (spec.get("environment") or {}).values())}
        assert seen == SEES[name], name


@pytest.mark.parametrize("variable", sorted(ENV))
def test_a_missing_secret_stops_compose(variable: str, tmp_path: Path) -> None:
    result = compose_config(tmp_path, {k: v for k, v in ENV.items() if k != variable})
    assert result.returncode != 0
    assert variable in result.stderr


def test_an_empty_secret_stops_compose(tmp_path: Path) -> None:
    result = compose_config(tmp_path, ENV | {"GRAFANA_ADMIN_PASSWORD": ""})
    assert result.returncode != 0
    assert "GRAFANA_ADMIN_PASSWORD" in result.stderr


def test_env_example_lists_every_variable_and_is_refused_as_is(tmp_path: Path) -> None:
    """`cp .env.example .env` without filling it in must not start a stack with blank secrets."""
    example = (REPO / ".env.example").read_text()
    values = dict(line.split("=", 1) for line in example.splitlines() if line and not line.startswith("#"))
    code = "\n".join(line for line in COMPOSE.read_text().splitlines() if not line.lstrip().startswith("#"))
    referenced = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*)", code))
    assert referenced == set(values)
    required = set(re.findall(r"\$\{([A-Z_][A-Z0-9_]*):\?", code))
    assert required == set(ENV)
    assert all(values[name] == "" for name in required)
    result = compose_config(tmp_path, values)
    assert result.returncode != 0


def test_the_real_env_file_is_not_committed() -> None:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("git is not installed, or this is not a git checkout")
    ignored = subprocess.run(["git", "check-ignore", "-q", ".env"], cwd=REPO, check=False)
    assert ignored.returncode == 0, ".env must be in .gitignore"


@pytest.mark.parametrize(("where", "bad"), [
    ("  driftline:\n", "  driftline:\n    restat: always\n"),           # unknown key of a service
    ("    healthcheck:\n", "    healthcheck:\n      intervall: 10s\n"),  # unknown key of a healthcheck
    ("    image: postgres:16\n", "    image: postgres:16\n    ports: 5432\n"),  # bad value
])
def test_an_invalid_file_exits_1(where: str, bad: str, tmp_path: Path) -> None:
    text = COMPOSE.read_text()
    assert where in text
    broken = tmp_path / "docker-compose.yml"
    broken.write_text(text.replace(where, bad, 1))
    result = compose_config(tmp_path, ENV, broken)
    assert result.returncode == 1, result.stdout
    assert "Invalid" in result.stderr or "invalid" in result.stderr


def test_dockerfile() -> None:
    """The image both services run: slim Python 3.11, the package without test extras, no root."""
    text = (REPO / "Dockerfile").read_text()
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    assert lines[0] == "FROM python:3.11-slim"
    assert "EXPOSE 8000" in lines
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1] not in ("root", "0")
    installs = [line for line in lines if "pip install" in line]
    assert installs and not any("[test" in line or "-e " in line for line in installs)
    for line in lines:
        if line.startswith("COPY "):
            for source in line.split()[1:-1]:
                assert (REPO / source).exists(), source
