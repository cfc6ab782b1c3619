"""Fixtures shared by every test: live clients of the real services and real worker processes."""

from __future__ import annotations

import pytest

pytest_plugins = [
    "tests.fixtures.services",
    "tests.fixtures.workers",
    "tests.fixtures.load",
    "tests.fixtures.console",
]


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--screenshots",
        default=None,
        help="folder for the console's browser-test screenshots (default: a temporary one)",
    )
