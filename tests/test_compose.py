"""docker-compose.yml, Dockerfile and .dockerignore: the team deployment, checked statically.

No Docker engine is needed: the compose file is parsed with PyYAML and its wiring is checked
(services, dependencies, health checks, volumes, ports, DSN) against the Dockerfile.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

import yaml  # noqa: E402  (the dev extra has PyYAML: missing, the test fails)

ROOT = Path(__file__).resolve().parents[1]
SERVICES = ("clickhouse", "collector", "ui")


def _interpolate(value: str) -> str:
    """Compose's ``${NAME:-default}`` / ``${NAME}`` as seen with the variable unset."""
    return re.sub(r"\$\{(\w+)(?::?[-?]([^}]*))?\}", lambda m: m.group(2) or "", value)


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # ["KEY=value", ...]
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {k: _interpolate(str(v)) for k, v in env.items()}


def _published_ports(service: dict[str, Any]) -> set[tuple[int, int]]:
    """(host port, container port) pairs from short ("8501:8501") or long syntax."""
    pairs = set()
    for port in service.get("ports") or []:
        if isinstance(port, dict):
            pairs.add((int(port["published"]), int(port["target"])))
        else:
            parts = str(port).split("/")[0].split(":")
            pairs.add((int(parts[-2]) if len(parts) > 1 else int(parts[-1]), int(parts[-1])))
    return pairs


def _depends_on(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return {name: "service_started" for name in deps}
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def _command(service: dict[str, Any]) -> list[str]:
    command = service.get("command") or []
    return command.split() if isinstance(command, str) else [str(c) for c in command]


def _named_volumes(service: dict[str, Any]) -> set[str]:
    names = set()
    for volume in service.get("volumes") or []:
        source = volume.get("source", "") if isinstance(volume, dict) else str(volume).split(":")[0]
        if isinstance(volume, dict) and volume.get("type", "volume") != "volume":
            continue
        if source and not source.startswith((".", "/", "~", "$")):
            names.add(source)
    return names


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return compose["services"]


@pytest.fixture(scope="module")
def dockerfile() -> str:
    return (ROOT / "Dockerfile").read_text()


def test_the_three_services_are_defined(services: dict) -> None:
    assert set(SERVICES) <= set(services)
    assert services["clickhouse"]["image"].startswith("clickhouse/clickhouse-server")
    assert services["collector"].get("build") and services["ui"].get("build")


def test_every_depends_on_target_exists_and_waits_for_health(services: dict) -> None:
    for name, service in services.items():
        for target in _depends_on(service):
            assert target in services, f"{name} depends on unknown service {target}"
    assert _depends_on(services["collector"]) == {"clickhouse": "service_healthy"}
    assert _depends_on(services["ui"]) == {"collector": "service_healthy"}


@pytest.mark.parametrize(("service", "probe"), [
    ("clickhouse", "8123/ping"),
    ("collector", "localhost:4318/healthz"),
    ("ui", "localhost:8501/_stcore/health"),
])
def test_every_service_has_a_healthcheck_that_probes_it(
        services: dict, service: str, probe: str) -> None:
    check = services[service]["healthcheck"]
    test = check["test"]
    assert test[0] in ("CMD", "CMD-SHELL") if isinstance(test, list) else test
    assert probe in " ".join(test if isinstance(test, list) else [test])
    assert not check.get("disable", False)


def test_named_volumes_are_declared(compose: dict, services: dict) -> None:
    used = set().union(*(_named_volumes(s) for s in services.values()))
    assert used >= {"clickhouse-data", "collector-data"}
    assert used <= set(compose.get("volumes") or {})


def test_configs_used_by_services_are_declared(compose: dict, services: dict) -> None:
    for service in services.values():
        for config in service.get("configs") or []:
            source = config["source"] if isinstance(config, dict) else config
            assert source in (compose.get("configs") or {})


def test_clickhouse_keeps_its_data_and_raises_the_open_files_limit(services: dict) -> None:
    clickhouse = services["clickhouse"]
    assert any(str(v).endswith(":/var/lib/clickhouse") for v in clickhouse["volumes"])
    nofile = clickhouse["ulimits"]["nofile"]
    assert min(nofile["soft"], nofile["hard"]) >= 65536
    assert not clickhouse.get("ports"), "ClickHouse stays inside the compose network"


def test_collector_and_ui_ports_are_published(services: dict) -> None:
    assert (4318, 4318) in _published_ports(services["collector"])
    assert (8501, 8501) in _published_ports(services["ui"])


def test_commands_start_the_right_role_on_all_interfaces(services: dict) -> None:
    assert _command(services["collector"]) == [
        "flightlog", "serve", "--host", "0.0.0.0", "--port", "4318"]
    assert _command(services["ui"]) == ["flightlog", "ui", "--host", "0.0.0.0", "--port", "8501"]


def test_collector_dsn_points_at_the_clickhouse_service(services: dict) -> None:
    env = _environment(services["collector"])
    dsn = urlsplit(env["FLIGHTLOG_DSN"])
    clickhouse = _environment(services["clickhouse"])
    assert dsn.scheme == "http"
    assert (dsn.hostname, dsn.port) == ("clickhouse", 8123)
    assert dsn.path.strip("/") == clickhouse["CLICKHOUSE_DB"]
    assert (dsn.username, dsn.password) == (clickhouse["CLICKHOUSE_USER"],
                                            clickhouse["CLICKHOUSE_PASSWORD"])
    # the password is one variable shared by both services, not two copies
    raw = services["collector"]["environment"]["FLIGHTLOG_DSN"]
    assert "${CLICKHOUSE_PASSWORD" in raw
    assert "${CLICKHOUSE_PASSWORD" in services["clickhouse"]["environment"]["CLICKHOUSE_PASSWORD"]


def test_collector_data_dir_is_on_a_volume(services: dict) -> None:
    data_dir = _environment(services["collector"])["FLIGHTLOG_DATA_DIR"]
    assert data_dir == "/var/lib/flightlog"
    assert any(str(v).split(":")[1] == data_dir for v in services["collector"]["volumes"])


def test_ui_reads_through_the_collector_query_api(services: dict) -> None:
    env = _environment(services["ui"])
    api = urlsplit(env["FLIGHTLOG_API_URL"])
    assert (api.hostname, api.port) == ("collector", 4318)
    assert "FLIGHTLOG_API_KEY" in services["ui"]["environment"]
    assert "FLIGHTLOG_DSN" not in env, "the UI never opens the store (docs/decisions/0001-the-collector-owns-the-store.md)"


def test_dockerfile_exposes_every_published_port(services: dict, dockerfile: str) -> None:
    exposed = {int(p.split("/")[0]) for line in re.findall(r"(?m)^EXPOSE\s+(.+)$", dockerfile)
               for p in line.split()}
    published = {target for s in services.values() if s.get("build")
                 for _, target in _published_ports(s)}
    assert published == {4318, 8501}
    assert published <= exposed


def test_dockerfile_installs_all_extras_and_runs_unprivileged(dockerfile: str) -> None:
    assert re.search(r"(?m)^FROM python:3\.11-slim\b", dockerfile)
    assert "pip install '.[all]'" in dockerfile
    users = re.findall(r"(?m)^USER\s+(\S+)", dockerfile)
    assert users and users[-1] not in ("root", "0")
    assert re.search(r'(?m)^VOLUME\s+.*"?/var/lib/flightlog"?', dockerfile)


def test_dockerignore_drops_local_state_but_keeps_the_sources() -> None:
    ignored = {line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
               if line.strip() and not line.startswith("#")}
    assert {".git", ".venv", "**/__pycache__"} <= ignored
    needed = {"pyproject.toml", "README.md", "sdk", "collector", "storage", "ui"}
    assert not needed & ignored
