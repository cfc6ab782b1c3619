"""How long `eventcart stack up` takes: cold (nothing cached), fresh data, and warm.

Run on demand: `make bench` (or `pytest -m benchmark -s tests/benchmarks/test_stack_start.py`).
It stops the running stack, measures, and leaves the stack up as it found it.
The cold run uses an empty download cache and an empty Maven repository, so it
downloads Kafka and Elasticsearch from Maven Central again.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.benchmark, pytest.mark.timeout(3600)]

EVENTCART = str(Path(sys.executable).parent / "eventcart")


def timed(*args: str, env: dict[str, str] | None = None) -> float:
    began = time.monotonic()
    subprocess.run([EVENTCART, *args], check=True, env=env, capture_output=True)
    return time.monotonic() - began


def test_stack_start_times() -> None:
    subprocess.run([EVENTCART, "stack", "down"], check=True, capture_output=True)
    warm = timed("stack", "up")
    subprocess.run([EVENTCART, "stack", "down"], check=True, capture_output=True)

    with tempfile.TemporaryDirectory(prefix="eventcart-bench-", dir="/var/tmp") as tmp:
        env = dict(
            os.environ,
            EVENTCART_HOME=f"{tmp}/home",
            EVENTCART_CACHE_DIR=f"{tmp}/cache",
            MAVEN_OPTS=f"-Dmaven.repo.local={tmp}/m2",
        )
        cold = timed("stack", "up", env=env)
        timed("stack", "down", env=env)
        fresh_data = timed("stack", "up", env=dict(env, EVENTCART_HOME=f"{tmp}/home2"))
        timed("stack", "down", env=dict(env, EVENTCART_HOME=f"{tmp}/home2"))

    timed("stack", "up")
    print(
        f"\nstack up: cold (downloads, first data) {cold:.1f} s | "
        f"cached downloads, fresh data {fresh_data:.1f} s | warm (cached, data kept) {warm:.1f} s"
    )
