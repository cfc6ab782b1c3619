"""Benchmarks run only on demand (`make bench`); they print figures and assert no timings."""

from __future__ import annotations

import platform
from pathlib import Path

import pytest


def machine() -> str:
    cpu = "unknown cpu"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    import os

    mem = int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30)
    return f"{os.cpu_count()} cores ({cpu}), {mem} GiB, {platform.system()} {platform.release()}"


@pytest.fixture(scope="session", autouse=True)
def _print_machine() -> None:
    print(f"\nmachine: {machine()}")
