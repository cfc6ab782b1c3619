"""docker-compose.yml kept in step with the local stack's settings (no Docker engine here).

The compose file cannot be run on these machines, so it is checked by what it
says: the images' versions, the ports on loopback and the profiles must be
those of ``schemas.config.settings`` and of `eventcart stack up`. Where
docker-compose installs (Debian's 1.29, added by `make install` as root), the
file must also pass its own validation (without it, that test fails and says how
to install it).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from schemas.config.settings import Settings

ROOT = Path(__file__).resolve().parents[3]
COMPOSE = ROOT / "docker-compose.yml"


@pytest.fixture(scope="module")
def services() -> dict[str, Any]:
    found: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())["services"]
    return found


def _tag(service: dict[str, Any]) -> str:
    return str(service["image"]).rpartition(":")[2]


def _host_ports(service: dict[str, Any]) -> list[int]:
    return [int(p.split(":")[1]) for p in service.get("ports", [])]


def test_versions_are_the_stacks(services: dict[str, Any]) -> None:
    s = Settings()
    for name in ("kafka", "kafka-1", "kafka-2", "kafka-3"):
        assert _tag(services[name]) == s.kafka_version, name
    for name in ("elasticsearch", "elasticsearch-1", "elasticsearch-2", "elasticsearch-3"):
        assert _tag(services[name]) == s.elasticsearch_version, name
    assert _tag(services["postgres"]) == s.postgres_version
    assert _tag(services["postgres-replica"]) == s.postgres_version
    for name in ("elasticsearch", "elasticsearch-1"):
        heap = services[name]["environment"]["ES_JAVA_OPTS"]
        assert heap == f"-Xms{s.elasticsearch_heap} -Xmx{s.elasticsearch_heap}", name


def test_ports_are_the_settings_defaults_on_loopback(services: dict[str, Any]) -> None:
    s = Settings()
    for service in services.values():
        assert all(p.startswith("127.0.0.1:") for p in service.get("ports", []))
    kafka_port = int(s.kafka_bootstrap_servers.rpartition(":")[2])
    assert _host_ports(services["kafka"]) == [kafka_port]
    # a cluster's brokers two ports apart, as `stack up` with EVENTCART_KAFKA_BROKERS=3
    cluster = [_host_ports(services[f"kafka-{n}"])[0] for n in (1, 2, 3)]
    assert cluster == [kafka_port, kafka_port + 2, kafka_port + 4]
    assert _host_ports(services["elasticsearch"]) == [s.elasticsearch_port]
    three = Settings(elasticsearch_nodes=3)
    nodes = [_host_ports(services[f"elasticsearch-{n}"])[0] for n in (1, 2, 3)]
    assert nodes == [three.elasticsearch_node_port(n) for n in (1, 2, 3)]
    assert _host_ports(services["postgres"]) == [s.postgres_port]
    assert _host_ports(services["postgres-replica"]) == [s.postgres_replica_port]


def test_profiles_match_the_stacks_options(services: dict[str, Any]) -> None:
    assert services["kafka"]["profiles"] == ["kafka"]
    assert all(services[f"kafka-{n}"]["profiles"] == ["kafka-cluster"] for n in (1, 2, 3))
    assert services["elasticsearch"]["profiles"] == ["elasticsearch"]
    assert all(
        services[f"elasticsearch-{n}"]["profiles"] == ["elasticsearch-cluster"] for n in (1, 2, 3)
    )
    assert services["postgres-replica"]["profiles"] == ["replica"]
    assert "profiles" not in services["postgres"]  # always there
    defaults = (ROOT / ".env").read_text()
    assert "COMPOSE_PROFILES=kafka,elasticsearch\n" in defaults
    s = Settings()
    db = services["postgres"]["environment"]
    assert (db["POSTGRES_USER"], db["POSTGRES_DB"]) == (s.postgres_user, s.postgres_database)


@pytest.mark.parametrize(
    "profiles",
    ["kafka,elasticsearch", "kafka-cluster,elasticsearch-cluster,replica"],
)
def test_docker_compose_accepts_the_file(profiles: str) -> None:
    if shutil.which("docker-compose") is None:
        pytest.fail(
            "docker-compose is not installed: `make install` adds Debian's as root "
            "(apt-get install docker-compose); it validates this file, no engine needed"
        )
    result = subprocess.run(
        ["docker-compose", "--file", str(COMPOSE), "config", "--quiet"],
        cwd=ROOT,
        env={"COMPOSE_PROFILES": profiles, "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
