"""Fixtures shared by every test: live clients of the real services and real worker processes."""

pytest_plugins = ["tests.fixtures.services", "tests.fixtures.workers", "tests.fixtures.load"]
