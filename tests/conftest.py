"""Fixtures shared by every test: live clients of the real services and real worker processes."""

from __future__ import annotations

import pytest

pytest_plugins = [
    "tests.fixtures.services",
    "tests.fixtures.workers",
    "tests.fixtures.load",
    "tests.fixtures.console",
    "tests.fixtures.secured",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--screenshots",
        default=None,
        help="folder for the console's browser-test screenshots (default: a temporary one)",
    )
    parser.addoption(
        "--capacity-products",
        default="100000,1000000",
        help="catalog sizes of the search capacity benchmark, comma-separated",
    )
    parser.addoption(
        "--capacity-seconds",
        type=float,
        default=20.0,
        help="seconds per load run of the search capacity benchmark (default 20)",
    )
    parser.addoption(
        "--capacity-fresh",
        action="store_true",
        help="index the search capacity benchmark's catalog anew (default: keep it)",
    )
    parser.addoption(
        "--soak-minutes",
        type=float,
        default=20.0,
        help="duration of the soak test in minutes (default 20; it runs with -m long)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The soak's time limit follows its length (30 minutes for the checks after it).
    limit = int(float(config.getoption("--soak-minutes")) * 60) + 1800
    for item in items:
        if item.get_closest_marker("soak") is not None:
            item.add_marker(pytest.mark.timeout(limit))
