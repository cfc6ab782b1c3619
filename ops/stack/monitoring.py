"""Prometheus and Alertmanager from Debian's packages, for `eventcart stack up --monitoring`.

Prometheus scrapes every role (each on EVENTCART_METRICS_PORT + its offset), the
exporter (lag as time, read from Kafka) and both APIs, evaluates the rules of
``ops/monitoring/alerts.yml`` and sends what fires to the Alertmanager beside
it. Both listen on loopback only; Alertmanager's gossip port, which would bind
every interface, is switched off (one instance needs no cluster).
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from ops.stack import debian, process
from ops.stack.service import Service
from schemas.config.settings import Settings
from schemas.topics import CONSUMERS

RULES = Path(__file__).resolve().parent.parent / "monitoring" / "alerts.yml"


def scrape_targets(settings: Settings) -> dict[str, str]:
    """job -> host:port of everything eventcart serves metrics on."""
    from streams.metrics import PORT_OFFSETS

    targets = {
        role: f"127.0.0.1:{settings.metrics_port + PORT_OFFSETS[role]}" for role in CONSUMERS
    }
    targets["exporter"] = f"127.0.0.1:{settings.exporter_port}"
    targets["command-api"] = f"127.0.0.1:{settings.command_api_port}"
    targets["query-api"] = f"127.0.0.1:{settings.query_api_port}"
    return targets


def prometheus_config(settings: Settings, rules: Path) -> dict[str, object]:
    interval = f"{settings.monitoring_interval_s}s"
    return {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(rules)],
        "alerting": {
            "alertmanagers": [
                {"static_configs": [{"targets": [f"127.0.0.1:{settings.alertmanager_port}"]}]}
            ]
        },
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [target]}]}
            for job, target in scrape_targets(settings).items()
        ],
    }


def alertmanager_config(settings: Settings) -> dict[str, object]:
    """One route; with EVENTCART_ALERT_WEBHOOK_URL every alert (and its resolution) is
    POSTed there (Alertmanager's webhook format); without, alerts are only shown by
    its API and page."""
    receiver: dict[str, object] = {"name": "eventcart"}
    if settings.alert_webhook_url:
        receiver["webhook_configs"] = [{"url": settings.alert_webhook_url, "send_resolved": True}]
    interval = settings.monitoring_interval_s
    return {
        "route": {
            "receiver": "eventcart",
            "group_by": ["alertname", "role", "projection", "job"],
            "group_wait": f"{interval}s",
            "group_interval": f"{interval * 2}s",
            "repeat_interval": "4h",
        },
        "receivers": [receiver],
    }


class Prometheus(Service):
    name = "prometheus"
    binary = Path("/usr/bin/prometheus")

    @property
    def port(self) -> int:
        return self.settings.prometheus_port

    @property
    def version(self) -> str:
        return "2.42 (Debian)"

    def installed(self) -> bool:
        return self.binary.exists() and shutil.which("promtool") is not None

    def install(self) -> None:
        debian.apt_install(
            self.name,
            ["prometheus"],
            "Prometheus not found; install Debian's `prometheus` package "
            "(as root: apt-get install --no-install-recommends prometheus)",
        )

    @property
    def config_file(self) -> Path:
        return self.home / "prometheus.yml"

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        rules = self.home / "alerts.yml"
        shutil.copyfile(RULES, rules)
        # JSON is YAML: both servers read it, and it needs no YAML writer here.
        self.config_file.write_text(json.dumps(prometheus_config(self.settings, rules), indent=2))

    def command(self) -> list[str]:
        return [
            str(self.binary),
            f"--config.file={self.config_file}",
            f"--storage.tsdb.path={self.data_dir}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--storage.tsdb.retention.time=15d",
        ]

    def healthy(self) -> bool:
        return process.answers_http(f"http://127.0.0.1:{self.port}/-/ready")


class Alertmanager(Service):
    name = "alertmanager"
    binary = Path("/usr/bin/prometheus-alertmanager")

    @property
    def port(self) -> int:
        return self.settings.alertmanager_port

    @property
    def version(self) -> str:
        return "0.25 (Debian)"

    def installed(self) -> bool:
        return self.binary.exists()

    def install(self) -> None:
        debian.apt_install(
            self.name,
            ["prometheus-alertmanager"],
            "Alertmanager not found; install Debian's `prometheus-alertmanager` package "
            "(as root: apt-get install --no-install-recommends prometheus-alertmanager)",
        )

    @property
    def config_file(self) -> Path:
        return self.home / "alertmanager.yml"

    def prepare(self) -> None:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text(json.dumps(alertmanager_config(self.settings), indent=2))

    def command(self) -> list[str]:
        return [
            str(self.binary),
            f"--config.file={self.config_file}",
            f"--storage.path={self.data_dir}",
            f"--web.listen-address=127.0.0.1:{self.port}",
            "--cluster.listen-address=",  # one instance: no gossip port on every interface
        ]

    def healthy(self) -> bool:
        return process.answers_http(f"http://127.0.0.1:{self.port}/-/ready")
