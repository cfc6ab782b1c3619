"""`eventcart stack`: all three services healthy, and a second `up` changes nothing."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from ops.cli import app
from ops.stack import manager
from schemas.config.settings import Settings

runner = CliRunner()


@pytest.fixture(autouse=True)
def _local_stack_only(settings: Settings) -> None:
    if settings.testcontainers:
        pytest.skip("the stack command manages the local stack, not testcontainers")


def test_status_reports_all_three_up() -> None:
    result = runner.invoke(app, ["stack", "status"])
    assert result.exit_code == 0, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert [line.split()[0] for line in lines] == ["kafka", "elasticsearch", "postgres"]
    assert all(line.split()[1] == "up" for line in lines)


def test_second_up_is_a_no_op(settings: Settings) -> None:
    pids_before = {row.name: row.pid for row in manager.status(settings)}
    report = manager.up(settings)
    assert report.started == []
    assert report.already_up == ["kafka", "elasticsearch", "postgres"]
    assert {row.name: row.pid for row in manager.status(settings)} == pids_before


def test_unknown_service_is_a_clear_error() -> None:
    result = runner.invoke(app, ["stack", "logs", "redis"])
    assert result.exit_code == 1
    assert "unknown service" in result.output


def test_port_taken_is_a_clear_error(settings: Settings) -> None:
    # Kafka is up on its port: starting a second Kafka there must be refused by name.
    from ops.stack.errors import StackError
    from ops.stack.kafka import Kafka

    with pytest.raises(StackError, match=r"port 127\.0\.0\.1:\d+ is already in use"):
        Kafka(settings).start()
