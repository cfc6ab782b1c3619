"""The raw contract from other languages: the README's Node (kafkajs) and Go (franz-go)
examples in producers/examples/, run as they are against the real stack.

Each sends commands keyed by SKU with its client's default (murmur2) partitioner,
reads the answers and the events read committed, and exits 0 only when every
command was accepted and every event seen; then both read models must equal the
fold of the log for those SKUs. Skipped (with the reason) where Node.js or Go is
not installed; their packages come from the npm registry and the Go module proxy.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from producers import commands as c
from producers.client import CommandClient
from schemas.config.settings import Settings
from tests.fixtures.oracle import assert_read_models_equal_oracle
from tests.fixtures.workers import Worker, settings_env

pytestmark = pytest.mark.timeout(600)

EXAMPLES = Path(__file__).resolve().parents[3] / "producers" / "examples"


@pytest.fixture(scope="module")
def system(module_settings: Settings, make_worker: Callable[[str], Worker]) -> Settings:
    for role in ("command-processor", "search-projection", "pricing-projection"):
        make_worker(role)
    with CommandClient(module_settings) as client:
        client.send(c.register_product("EXAMPLE-PROBE", "probe"), timeout_s=120)
    return module_settings


def run(settings: Settings, args: list[str], cwd: Path) -> str:
    done = subprocess.run(
        args, cwd=cwd, env=settings_env(settings), capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"{' '.join(args)}:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.mark.skipif(shutil.which("node") is None, reason="Node.js is not installed")
def test_the_node_example_with_kafkajs(system: Settings) -> None:
    folder = EXAMPLES / "node"
    run(system, ["npm", "ci", "--no-audit", "--no-fund"], folder)
    skus = [f"NODE-{uuid.uuid4().hex[:8]}-{i}" for i in range(3)]
    out = run(system, ["node", "example.js", *skus], folder)
    assert out.count('"answer"') == 9 and out.count('"event"') == 9, out
    assert_read_models_equal_oracle(system, skus)


@pytest.mark.skipif(shutil.which("go") is None, reason="Go is not installed")
def test_the_go_example_with_franz_go(system: Settings) -> None:
    skus = [f"GO-{uuid.uuid4().hex[:8]}-{i}" for i in range(3)]
    out = run(system, ["go", "run", ".", *skus], EXAMPLES / "go")
    assert out.count('"answer"') == 9 and out.count('"event"') == 9, out
    assert_read_models_equal_oracle(system, skus)
