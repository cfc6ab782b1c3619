"""Fixtures shared by every test: live clients of the real services (tests/fixtures)."""

pytest_plugins = ["tests.fixtures.services"]
