"""A three-node Elasticsearch cluster on loopback, and the loss of the node holding the
search index's primary.

On demand (three more JVMs on a two-core machine):
`.venv/bin/pytest -m long -s tests/faults/test_elasticsearch_cluster.py`.

The cluster is the project's own (`ops.stack`, ``EVENTCART_ELASTICSEARCH_NODES=3``),
on ports of its own beside the stack's single node; Kafka and PostgreSQL are the
usual ones. The index keeps one replica on another node. Under a steady load of
commands, with a query API answering searches one after another, kill -9 of the
node holding the search index's primary, and its return: no write lost (every
command answered as the rules say, the search read model equal to the fold of
the log, `eventcart verify` clean), searches answered throughout (errors counted,
their p99 during the failover printed); then `eventcart replay search` and a
second verify, on the cluster.
"""

from __future__ import annotations

import shutil
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from elasticsearch import Elasticsearch

from ops.stack import manager
from producers import commands as c
from producers.client import CommandClient
from schemas.config.connections import elasticsearch_options
from schemas.config.settings import Settings
from tests.fixtures.apis import api_process
from tests.fixtures.load import Answers, SteadyLoad, check_exactly_once, kill9, wait_until
from tests.fixtures.oracle import assert_read_models_equal_oracle
from tests.fixtures.workers import ALL_ROLES, Worker, free_port_block, module_scope, run_cli

pytestmark = [pytest.mark.long, pytest.mark.timeout(1800)]

FIRST_HTTP, FIRST_TRANSPORT = 19200, 19300


@pytest.fixture(scope="module")
def cluster(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    home = tmp_path_factory.mktemp("es-cluster")
    three = settings.model_copy(
        update={
            "home": home,
            "elasticsearch_nodes": 3,
            "elasticsearch_url": ",".join(f"http://127.0.0.1:{FIRST_HTTP + n}" for n in range(3)),
            "elasticsearch_transport_port": FIRST_TRANSPORT,
            "elasticsearch_heap": "768m",
        }
    )
    manager.up(three, ["elasticsearch"])
    yield three
    manager.down(three, ["elasticsearch"])
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def module_settings(
    cluster: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """This module's settings point at the cluster (overrides the shared fixture)."""
    yield from module_scope(cluster, tmp_path_factory)


@pytest.fixture(scope="module")
def workers(module_settings: Settings, make_worker: Callable[[str], Worker]) -> list[Worker]:
    started = [make_worker(role) for role in ALL_ROLES]
    with CommandClient(module_settings) as client:
        client.send(c.register_product("PROBE", "probe"), timeout_s=120)
    return started


def shards(settings: Settings) -> list[dict[str, str]]:
    """The search index's shards, once its replica is allocated (green)."""
    es = Elasticsearch(**elasticsearch_options(settings), request_timeout=70, max_retries=2)
    try:
        wait_until(
            lambda: bool(es.indices.exists(index=settings.search_index)), 60, "the search index"
        )
        es.cluster.health(index=settings.search_index, wait_for_status="green", timeout="60s")
        rows = es.cat.shards(
            index=settings.search_index, format="json", h="index,prirep,node,state"
        )
        return [dict(r) for r in rows]
    finally:
        es.close()


@dataclass
class Searches:
    """Searches sent one after another until stopped: (monotonic sent, seconds, status)."""

    url: str
    answers: list[tuple[float, float, int]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with httpx.Client(timeout=30) as http:
            while not self._stop.is_set():
                sent = time.monotonic()
                try:
                    status = http.get(f"{self.url}/search", params={"q": "product"}).status_code
                except httpx.HTTPError:
                    status = 0
                self.answers.append((sent, time.monotonic() - sent, status))
                time.sleep(0.02)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    def between(self, start: float, end: float) -> list[tuple[float, float, int]]:
        return [a for a in self.answers if start <= a[0] <= end]


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(0.99 * len(ordered) + 0.5) - 1)] if ordered else 0.0


def test_the_index_keeps_a_replica_on_another_node(
    module_settings: Settings, workers: list[Worker]
) -> None:
    found = shards(module_settings)
    primaries = {r["node"] for r in found if r["prirep"] == "p"}
    replicas = {r["node"] for r in found if r["prirep"] == "r" and r["state"] == "STARTED"}
    assert primaries and replicas and not primaries & replicas, found


def test_the_primarys_node_killed_under_load(
    module_settings: Settings, cluster: Settings, workers: list[Worker], answers: Answers
) -> None:
    port = free_port_block(1)
    with api_process(module_settings, "queries", port):
        searches = Searches(f"http://127.0.0.1:{port}")
        load = SteadyLoad(module_settings, total=60_000, skus=600, rate=300, seed=71).start()
        while load.done < 3_000:
            time.sleep(0.05)
        primary = next(r["node"] for r in shards(module_settings) if r["prirep"] == "p")
        (node,) = manager.pick(cluster, [primary.replace("eventcart-", "elasticsearch-")])
        killed = kill9(node)
        print(f"\n{node.name} ({primary}, the primary's node) killed at {time.strftime('%X')}")
        time.sleep(30)  # the load and the searches run on without it ...
        manager.up(cluster, [node.name])  # ... and through its return
        load.run_past(15, end=True)
        load.join(timeout_s=300)
        time.sleep(2)
        searches.stop()
    counts = check_exactly_once(module_settings, load, answers)
    assert_read_models_equal_oracle(module_settings, load.skus)
    verified = run_cli(module_settings, "verify")
    assert "no drift" in verified, verified
    failover = searches.between(killed, killed + 30)
    errors = [a for a in searches.answers if a[2] != 200]
    assert failover, "no search sent during the failover"
    assert len(errors) <= 3, f"{len(errors)} searches failed: {errors[:5]}"
    run_cli(module_settings, "replay", "search")
    assert "no drift" in run_cli(module_settings, "verify")
    print(
        f"kill -9 of the primary's node during {load.total} commands at {load.rate:.0f}/s: "
        f"{counts}; searches: {len(searches.answers)} answered, {len(errors)} failed; during "
        f"the 30 s after the kill: {len(failover)} searches, p99 "
        f"{p99([a[1] for a in failover]) * 1000:.0f} ms, longest "
        f"{max(a[1] for a in failover) * 1000:.0f} ms; replay and verify on the cluster: clean"
    )
