"""`eventcart worker` keeps its roles running, and takes them along when it dies."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from producers import commands as c
from producers.client import CommandClient
from schemas.config.settings import Settings
from tests.fixtures.load import wait_until
from tests.fixtures.workers import settings_env


def role_pids(settings: Settings) -> dict[str, int]:
    """role -> pid of its latest start, as the supervisor logs it."""
    log = (settings.home / "supervisor.log").read_text()
    return {m[1]: int(m[2]) for m in re.finditer(r"\] ([a-z-]+) started \(pid (\d+)\)", log)}


@pytest.fixture
def supervisor(module_settings: Settings) -> Iterator[subprocess.Popen[bytes]]:
    log = (module_settings.home / "supervisor.log").open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "ops.cli", "worker"],
        env=settings_env(module_settings),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    yield proc
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)


def test_a_crashed_role_is_started_again(
    module_settings: Settings, supervisor: subprocess.Popen[bytes]
) -> None:
    wait_until(lambda: len(role_pids(module_settings)) == 3, 30, "three roles started")
    with CommandClient(module_settings) as client:
        assert client.send(c.register_product("SUP-1", "p"), timeout_s=120).accepted
        first = role_pids(module_settings)["command-processor"]
        os.kill(first, signal.SIGKILL)
        wait_until(
            lambda: role_pids(module_settings)["command-processor"] != first, 30, "a restart"
        )
        assert client.send(c.adjust_stock("SUP-1", 2), timeout_s=60).version == 2
    log = (module_settings.home / "supervisor.log").read_text()
    assert "command-processor exited with code -9; starting it again" in log


def test_roles_end_with_a_killed_supervisor(
    module_settings: Settings, supervisor: subprocess.Popen[bytes]
) -> None:
    wait_until(lambda: len(role_pids(module_settings)) == 3, 30, "three roles started")
    roles = list(role_pids(module_settings).values())
    time.sleep(2)
    supervisor.send_signal(signal.SIGKILL)
    supervisor.wait()

    def gone() -> bool:
        return not any(Path(f"/proc/{pid}").exists() for pid in roles)

    wait_until(gone, 60, "the roles stopping after their supervisor was killed")
