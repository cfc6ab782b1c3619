"""`eventcart command ...` end to end: a real CLI process, real Kafka, a real worker."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import orjson
import pytest

from producers import commands as c
from producers.client import CommandClient
from schemas.config.settings import Settings
from tests.fixtures.workers import Worker, settings_env


@pytest.fixture(scope="module")
def cli(
    module_settings: Settings, make_worker: Callable[[str], Worker]
) -> Callable[..., subprocess.CompletedProcess[str]]:
    make_worker("command-processor")
    with CommandClient(module_settings) as client:
        client.send(c.register_product("PROBE", "probe"), timeout_s=120)
    env = settings_env(module_settings)

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "ops.cli", "command", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return run


def test_each_command_from_the_shell(cli: Callable[..., subprocess.CompletedProcess[str]]) -> None:
    steps = [
        [
            "register-product",
            "--sku",
            "CLI-1",
            "--name",
            "Red running shoes",
            "--brand",
            "Acme",
            "--category",
            "Shoes",
            "--category",
            "Running",
            "--attribute",
            "colour=red",
            "--tag",
            "sale",
        ],
        ["update-details", "--sku", "CLI-1", "--description", "Light and fast"],
        ["change-price", "--sku", "CLI-1", "--amount", "59.90", "--currency", "EUR"],
        ["change-price", "--sku", "CLI-1", "--amount", "49.90", "--currency", "EUR", "--sale"],
        ["adjust-stock", "--sku", "CLI-1", "--delta", "25", "--reason", "delivery"],
        ["discontinue", "--sku", "CLI-1", "--reason", "end of line"],
    ]
    for version, step in enumerate(steps, start=1):
        done = cli(*step)
        assert done.returncode == 0, done.stdout + done.stderr
        assert f"accepted CLI-1 now at version {version}" in done.stdout


def test_exit_codes_say_rejected_and_invalid(
    cli: Callable[..., subprocess.CompletedProcess[str]],
) -> None:
    rejected = cli("adjust-stock", "--sku", "CLI-NONE", "--delta", "1")
    assert rejected.returncode == 1
    assert "rejected CLI-NONE: not_found" in rejected.stdout
    invalid = cli("change-price", "--sku", "CLI-NONE", "--amount", "12,50", "--currency", "EUR")
    assert invalid.returncode == 2
    assert "data.amount" in invalid.stderr and "pattern" in invalid.stderr


def test_bulk_file_with_progress_and_summary(
    cli: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    lines = [
        orjson.dumps({"type": "RegisterProduct", "sku": f"BULK-{i}", "data": {"name": f"p{i}"}})
        for i in range(300)
    ]
    lines.append(b"{broken")
    lines.append(
        orjson.dumps(
            {"type": "ChangePrice", "sku": "BULK-1", "data": {"amount": "1", "currency": "EURO"}}
        )
    )
    lines.append(orjson.dumps({"type": "AdjustStock", "sku": "BULK-1", "data": {"delta": -5}}))
    path = tmp_path / "catalog.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")

    first = cli("send", str(path))
    assert first.returncode == 1
    assert "303 lines: 300 accepted, 2 invalid, 1 rejected: insufficient_stock" in first.stdout
    assert "line 301: not JSON" in first.stderr
    assert "line 302: data.currency" in first.stderr
    # Command ids come from the lines: sending the file again is answered, not redone.
    again = cli("send", str(path))
    assert "300 accepted" in again.stdout
