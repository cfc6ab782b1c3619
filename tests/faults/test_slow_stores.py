"""Stores that are slow, refusing or stalled rather than down.

Each fault starts while commands flow and ends while they still flow: the live
projection backs off and retries its whole batch, the partition waits,
`eventcart status` says the projection is waiting for its store, and at the
end both read models equal the fold of the log, with no dead letter and
nothing applied twice (the oracle compares versions, history and stock).

* Elasticsearch stopped with SIGSTOP: it accepts connections and answers
  nothing; the request timeout (EVENTCART_STORE_TIMEOUT_S) turns that into
  retries.
* An index with a write block (what Elasticsearch's disk flood stage sets):
  every document is refused for now, not for good.
* PostgreSQL tables locked by someone else: the lock timeout turns the wait
  into retries.
* PostgreSQL stopped with SIGSTOP: no server-side timeout can fire; the batch
  waits, and the wait is shown.
"""

from __future__ import annotations

import os
import re
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psycopg
import pytest
from elasticsearch import Elasticsearch
from psycopg import sql

from ops.stack import manager
from producers import commands as c
from producers.client import CommandClient
from schemas.config.settings import Settings
from schemas.topics import Topics
from tests.fixtures.kafka_read import read_topic
from tests.fixtures.oracle import assert_read_models_equal_oracle, traffic
from tests.fixtures.workers import ALL_ROLES, SKIP_IN_CONTAINERS, Worker, cli, module_scope

SKUS = [f"SLOW-{i}" for i in range(30)]
STORE_TIMEOUT_S = 2.0


@pytest.fixture(scope="module")
def module_settings(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """The shared module settings, with a short store timeout (overrides the fixture)."""
    if settings.testcontainers:
        pytest.skip(SKIP_IN_CONTAINERS)
    yield from module_scope(settings, tmp_path_factory, store_timeout_s=STORE_TIMEOUT_S)


@pytest.fixture(scope="module")
def client(
    module_settings: Settings, make_worker: Callable[[str], Worker]
) -> Iterator[CommandClient]:
    for role in ALL_ROLES:
        make_worker(role)
    with CommandClient(module_settings) as client:
        client.send(c.register_product("PROBE", "probe"), timeout_s=120)
        client.send_batch([c.register_product(s, f"Product {s}", brand="Acme") for s in SKUS])
        assert_read_models_equal_oracle(module_settings, SKUS)  # both projections running
        yield client


def process_tree(pid: int) -> list[int]:
    """pid and all its descendants (a service's launcher starts the server as a child)."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo += parents.get(current, [])
    return tree


def signal_service(settings: Settings, name: str, sig: signal.Signals) -> None:
    pid = manager.pick(settings, [name])[0].pid()
    assert pid is not None, f"{name} is not running"
    for member in process_tree(pid):
        os.kill(member, sig)


def status_says(settings: Settings, role: str) -> str | None:
    """The line of `eventcart status` about ``role`` waiting for its store, if any."""
    out = cli(settings, "status", "--sample", "0.2", "--no-partitions", timeout_s=60).stdout
    text = re.sub(r"\s+", " ", out)
    found = re.search(rf"{role}: waiting for its store for \d+ s \([^)]*\)", text)
    return found.group(0) if found else None


def wait_for_status(settings: Settings, role: str, timeout_s: float = 60) -> str:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        line = status_says(settings, role)
        if line:
            return line
        time.sleep(0.5)
    raise AssertionError(f"`eventcart status` never said {role} waits for its store")


def during(
    client: CommandClient, settings: Settings, role: str, seed: int, fault: Callable[[], None]
) -> str:
    """Commands before, during and after a fault; returns what status said meanwhile."""
    client.send_batch(traffic(SKUS, 100, seed=seed))
    futures = [client.submit(cmd) for cmd in traffic(SKUS, 300, seed=seed + 1)]
    client.flush()
    try:
        line = wait_for_status(settings, role)
    finally:
        fault()
    for future in futures:
        future.result(timeout=120)
    client.send_batch(traffic(SKUS, 100, seed=seed + 2))
    assert_read_models_equal_oracle(settings, SKUS)
    letters = read_topic(settings, Topics.from_settings(settings).dead_letters(role))
    assert not letters, f"{role} dead-lettered {len(letters)} events, e.g. {letters[:1]}"
    return line


def test_an_index_with_a_write_block(client: CommandClient, module_settings: Settings) -> None:
    es = Elasticsearch(module_settings.elasticsearch_url, request_timeout=30)
    index = module_settings.search_index
    es.indices.put_settings(index=index, settings={"index.blocks.write": True})
    try:
        line = during(
            client,
            module_settings,
            "search-projection",
            20,
            lambda: es.indices.put_settings(index=index, settings={"index.blocks.write": None}),
        )
    finally:
        es.indices.put_settings(index=index, settings={"index.blocks.write": None})
    print(f"\nwrite block: {line}")


def test_postgres_tables_locked(client: CommandClient, module_settings: Settings) -> None:
    schema = module_settings.pricing_schema
    with psycopg.connect(module_settings.postgres_dsn.get_secret_value()) as holder:
        tables = [
            row[0]
            for row in holder.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)
            )
        ]
        holder.execute(
            sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(
                sql.SQL(", ").join(sql.Identifier(schema, t) for t in tables)
            )
        )
        line = during(client, module_settings, "pricing-projection", 30, holder.rollback)
    print(f"\nPostgreSQL tables locked: {line}")


@pytest.mark.parametrize(
    ("service", "role", "seed"),
    [("elasticsearch", "search-projection", 10), ("postgres", "pricing-projection", 40)],
)
def test_a_store_stopped(
    client: CommandClient,
    module_settings: Settings,
    settings: Settings,
    service: str,
    role: str,
    seed: int,
) -> None:
    """SIGSTOP: the store keeps its sockets, accepts connections and answers nothing."""
    signal_service(settings, service, signal.SIGSTOP)
    line = during(
        client,
        module_settings,
        role,
        seed,
        lambda: signal_service(settings, service, signal.SIGCONT),
    )
    print(f"\n{service} stopped: {line}")
