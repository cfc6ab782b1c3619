"""Both HTTP APIs against their own OpenAPI documents, with every check schemathesis has.

Real uvicorn processes on the real services. schemathesis' own command line
(``schemathesis run --checks all``), as a user or a CI job would run it: every
status an operation answers must be in its document with that body, every
input the document allows must be accepted and every input it forbids refused,
no answer is a server error, unsupported methods answer 405 with the right
``Allow``. 50 examples per operation, a fixed seed so a failure can be re-run.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from producers import commands as c
from producers.client import CommandClient
from schemas.config.settings import Settings
from tests.fixtures.apis import api_process
from tests.fixtures.workers import Worker, free_port_block

pytestmark = pytest.mark.timeout(1200)

SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
CONFIG = str(Path(__file__).resolve().parents[2] / "fixtures" / "schemathesis.toml")


@pytest.fixture(scope="module")
def apis(
    module_settings: Settings, make_worker: Callable[[str], Worker]
) -> Iterator[dict[str, str]]:
    for role in ("command-processor", "search-projection", "pricing-projection"):
        make_worker(role)
    with CommandClient(module_settings) as client:
        client.send(c.register_product("FUZZ-1", "Fuzz kettle"), timeout_s=120)
        client.send(c.change_price("FUZZ-1", "12.00", "EUR"))
    ports = free_port_block(2)
    with (
        api_process(module_settings, "commands", ports),
        api_process(module_settings, "queries", ports + 1),
    ):
        yield {"commands": f"http://127.0.0.1:{ports}", "queries": f"http://127.0.0.1:{ports + 1}"}


def schemathesis(url: str, *headers: str) -> None:
    args = [SCHEMATHESIS, "--config-file", CONFIG, "run", f"{url}/openapi.json"]
    args += ["--checks", "all", "-n", "50"]
    # the longest answer is a read-your-writes wait: wait_ms is at most 10 s
    args += ["--max-response-time", "15", "--request-timeout", "30"]
    args += ["--seed", "17", "--generation-deterministic"]
    for header in headers:
        args += ["-H", header]
    done = subprocess.run(args, capture_output=True, text=True, timeout=1100, check=False)
    assert done.returncode == 0, done.stdout[-12000:] + done.stderr[-2000:]


def test_the_command_api_answers_as_its_openapi_says(
    apis: dict[str, str], module_settings: Settings
) -> None:
    token = module_settings.api_token.get_secret_value()
    schemathesis(apis["commands"], f"Authorization: Bearer {token}")


def test_the_query_api_answers_as_its_openapi_says(apis: dict[str, str]) -> None:
    schemathesis(apis["queries"])
