"""The query API reading pricing from a real PostgreSQL streaming replica.

The replica is started by the stack's own code (``PostgresReplica``: a base
backup of the running server, then a hot standby), on a port of this module.
While commands flow (a steady raw load, and a price change per round whose
result's position token the next read passes): every token is honoured on the
replica; the replica killed (SIGKILL), reads fall back to the primary with at
most a few failures, counted; started again, reads return to it.
"""

from __future__ import annotations

import re
import signal
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal

import httpx
import pytest

from ops.stack import process
from ops.stack.postgres_replica import PostgresReplica
from producers import commands as c
from producers.client import CommandClient
from schemas.config.settings import Settings
from tests.fixtures.apis import api_process
from tests.fixtures.load import SteadyLoad
from tests.fixtures.workers import free_port_block, module_scope

pytestmark = pytest.mark.timeout(900)

SKUS = [f"RP-{i}" for i in range(20)]


@pytest.fixture(scope="module")
def module_settings(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    yield from module_scope(settings, tmp_path_factory, postgres_replica_port=free_port_block(1))


@pytest.fixture(scope="module")
def replica(module_settings: Settings) -> Iterator[PostgresReplica]:
    service = PostgresReplica(module_settings)
    service.start()
    try:
        service.wait()
        yield service
    finally:
        service.stop()


@pytest.fixture(scope="module")
def query_api(module_settings: Settings, replica: PostgresReplica) -> Iterator[str]:
    port = free_port_block(1)
    env = {"EVENTCART_POSTGRES_REPLICA": f"127.0.0.1:{replica.port}"}
    with api_process(module_settings, "queries", port, env):
        yield f"http://127.0.0.1:{port}"


@dataclass
class Rounds:
    """Price changes, each read back with its token: how many, failed, stale."""

    done: int = 0
    failed: list[str] = field(default_factory=list)
    stale: list[str] = field(default_factory=list)


def price_rounds(client: CommandClient, api: str, seconds: float, start: int) -> Rounds:
    rounds = Rounds()
    deadline = time.monotonic() + seconds
    n = start
    with httpx.Client(timeout=10) as http:
        while time.monotonic() < deadline:
            n += 1
            sku, amount = SKUS[n % len(SKUS)], f"{10 + n / 100:.2f}"
            result = client.send(c.change_price(sku, amount, "EUR"), timeout_s=30)
            assert result.accepted, result
            answer = http.get(
                f"{api}/prices/{sku}",
                params={"min_position": result.position_token, "wait_ms": 5000},
            )
            rounds.done += 1
            if answer.status_code != 200:
                rounds.failed.append(f"{answer.status_code}: {answer.text[:200]}")
                continue
            prices = {cur: p["amount"] for cur, p in answer.json()["prices"].items()}
            if Decimal(str(prices.get("EUR", "NaN"))) != Decimal(amount):
                rounds.stale.append(f"{sku}: {prices.get('EUR')} != {amount}")
    return rounds


def reads_by_server(api: str) -> dict[str, float]:
    with urllib.request.urlopen(f"{api}/metrics", timeout=5) as response:
        text = response.read().decode()
    found = re.findall(r'eventcart_pricing_reads_total\{server="([^"]+)"\} ([0-9.e+]+)', text)
    return {server: float(value) for server, value in found}


def test_tokens_are_honoured_on_the_replica_and_its_loss_falls_back_to_the_primary(
    module_settings: Settings,
    system_client: CommandClient,
    replica: PostgresReplica,
    query_api: str,
) -> None:
    for sku in SKUS:
        system_client.send(c.register_product(sku, sku), timeout_s=60)
    load = SteadyLoad(module_settings, total=200 * 120, skus=300, rate=200, seed=83).start()
    try:
        on_replica = price_rounds(system_client, query_api, 15, 0)
        served = reads_by_server(query_api)
        assert served.get("replica", 0) > 0, served

        process.stop(replica.pidfile, signal.SIGKILL)
        without = price_rounds(system_client, query_api, 15, 10_000)
        fell_back = reads_by_server(query_api)

        replica.start()
        replica.wait()
        time.sleep(6)  # the pause after a failure, then the replica is tried again
        before = reads_by_server(query_api).get("replica", 0)
        back = price_rounds(system_client, query_api, 10, 20_000)
        after = reads_by_server(query_api).get("replica", 0)
    finally:
        load.run_past(0, end=True)
        load.join(timeout_s=120)
    assert on_replica.failed == [] and on_replica.stale == [], on_replica
    assert without.stale == [] and len(without.failed) <= 3, without
    assert fell_back.get("primary-fallback", 0) >= 1, fell_back
    assert back.failed == [] and back.stale == [], back
    assert after > before, "reads did not return to the replica"
    print(
        f"\nreplica: {on_replica.done} rounds, every token honoured; killed: {without.done} "
        f"rounds, {len(without.failed)} failed, reads {fell_back}; back: {back.done} rounds"
    )
