"""The alert rules of ops/monitoring/alerts.yml: valid, every one unit-tested with
`promtool test rules`, and the generated Prometheus and Alertmanager configurations
accepted by their own checkers (Debian's promtool and amtool)."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from ops.stack.monitoring import (
    RULES,
    Alertmanager,
    Prometheus,
    alertmanager_config,
    prometheus_config,
)
from schemas.config.settings import Settings

TESTS = RULES.with_name("alerts_test.yml")


def tool(name: str) -> str:
    """The tool from Debian's packages, installed as the stack would (root only)."""
    if shutil.which(name) is None:
        if os.geteuid() != 0:
            pytest.fail(
                f"{name} not found: install Debian's prometheus and prometheus-alertmanager "
                "packages (as root: apt-get install --no-install-recommends prometheus "
                "prometheus-alertmanager), or run the tests as root, which installs them"
            )
        service = Alertmanager if name == "amtool" else Prometheus
        service(Settings()).install()
    found = shutil.which(name)
    assert found is not None
    return found


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, check=False, cwd=cwd, timeout=120)


def test_the_rules_are_valid() -> None:
    done = run(tool("promtool"), "check", "rules", str(RULES))
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_rules_pass_their_unit_tests() -> None:
    done = run(tool("promtool"), "test", "rules", TESTS.name, cwd=TESTS.parent)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS" in done.stdout + done.stderr


def test_every_alert_is_unit_tested_firing() -> None:
    alerts = set(re.findall(r"^\s+- alert: (\w+)$", RULES.read_text(), re.M))
    firing = set(
        re.findall(r"alertname: (\w+)\n\s+exp_alerts:\n\s+- exp_labels", TESTS.read_text())
    )
    assert alerts and alerts == firing


def test_the_generated_configurations_are_accepted(tmp_path: Path) -> None:
    settings = Settings(alert_webhook_url="http://127.0.0.1:9999/alerts")
    prometheus = tmp_path / "prometheus.yml"
    prometheus.write_text(json.dumps(prometheus_config(settings, RULES)))
    done = run(tool("promtool"), "check", "config", str(prometheus))
    assert done.returncode == 0, done.stdout + done.stderr
    jobs = {job["job_name"] for job in prometheus_config(settings, RULES)["scrape_configs"]}  # type: ignore[index]
    assert {"command-processor", "search-projection", "pricing-projection", "exporter"} <= jobs

    manager = tmp_path / "alertmanager.yml"
    manager.write_text(json.dumps(alertmanager_config(settings)))
    done = run(tool("amtool"), "check-config", str(manager))
    assert done.returncode == 0, done.stdout + done.stderr
