"""The whole system as a user sees it: commands in at one end, rows and documents out.

Everything runs as after `make run` (the processor and both projections, one
process each), on the same two cores as Kafka, Elasticsearch and PostgreSQL.

- end to end: a burst of raw commands (registrations, prices, stock, over
  5,000 products) produced as fast as a client can; from the first command
  produced to the last one visible in both read models (target: at least
  5,000 commands/s);
- recovery: under a steady 500 commands/s, the search projection (then the
  pricing projection) is killed with kill -9 and restarted at once; the time
  from the kill until a command accepted after it is visible in its read
  model (target: within 30 s).

Run: `.venv/bin/pytest -m benchmark -s tests/benchmarks/test_system.py`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import orjson
import psycopg
import pytest
from confluent_kafka import Producer
from elasticsearch import Elasticsearch
from psycopg import sql

from producers import commands as c
from producers.client import CommandClient
from read_models.search.index import ensure_index
from schemas.config.settings import Settings
from schemas.topics import Topics
from streams.catalog import Accepted, ProductState, decide, evolve_all
from tests.benchmarks.ceilings import produce_seconds
from tests.benchmarks.test_command_side import catalog_commands
from tests.fixtures.load import wait_until
from tests.fixtures.workers import Worker

pytestmark = [pytest.mark.benchmark, pytest.mark.timeout(3600)]

ROLES = ("command-processor", "search-projection", "pricing-projection")


def final_versions(commands: list[dict[str, Any]]) -> dict[str, int]:
    states: dict[str, ProductState] = {}
    for command in commands:
        state = states.get(command["sku"]) or ProductState.empty(command["sku"])
        decision = decide(command, state)
        if isinstance(decision, Accepted):
            states[command["sku"]] = evolve_all(state, decision.events)
    return {sku: state.version for sku, state in states.items()}


def burst_producer(settings: Settings) -> Producer:
    """What produces a burst of raw commands: as a client would, batched a little."""
    return Producer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "partitioner": "murmur2_random",
            "linger.ms": 5,
            "enable.idempotence": True,
        }
    )


def shown(settings: Settings, es: Elasticsearch, versions: dict[str, int]) -> tuple[int, int]:
    """How many products each read model shows at their final version (search, pricing):
    one count per distinct version and one SQL statement, so watching costs the stores
    little while they work."""
    by_version: dict[int, list[str]] = {}
    for sku, version in versions.items():
        by_version.setdefault(version, []).append(sku)
    found = 0
    for version, skus in by_version.items():
        query = {
            "bool": {"filter": [{"terms": {"sku": skus}}, {"range": {"version": {"gte": version}}}]}
        }
        found += int(es.count(index=settings.search_index, query=query)["count"])
    statement = sql.SQL(
        "SELECT count(*) FROM {}.product p JOIN unnest(%s::text[], %s::bigint[]) AS w(sku, v)"
        " ON p.sku = w.sku WHERE p.version >= w.v"
    ).format(sql.Identifier(settings.pricing_schema))
    with psycopg.connect(settings.postgres_dsn.get_secret_value(), autocommit=True) as conn:
        row = conn.execute(statement, [list(versions), list(versions.values())]).fetchone()
    return found, int(row[0]) if row else 0


def test_whole_system_commands_in_to_documents_and_rows_out(
    module_settings: Settings, make_worker: Callable[[str], Worker], es: Elasticsearch
) -> None:
    for role in ROLES:
        make_worker(role)
    ensure_index(es, module_settings.search_index)
    with CommandClient(module_settings) as client:
        client.send(c.register_product("SYS-PROBE", "probe"), timeout_s=120)
    commands = catalog_commands(30_000, 5_000, prefix="SYS")
    versions = final_versions(commands)
    producer = burst_producer(module_settings)
    topic = Topics.from_settings(module_settings).commands
    payloads = [(cmd["sku"].encode(), orjson.dumps(cmd)) for cmd in commands]
    began = time.perf_counter()
    produced_s = produce_seconds(producer, topic, payloads)
    done: dict[str, float] = {}
    while len(done) < 2:
        search, pricing = shown(module_settings, es, versions)
        now = time.perf_counter() - began
        if search == len(versions):
            done.setdefault("search", now)
        if pricing == len(versions):
            done.setdefault("pricing", now)
        assert now < 600, f"not visible after 600 s: search {search}, pricing {pricing}"
        time.sleep(0.2)
    total = max(done.values())
    print(
        f"\nwhole system, {len(commands):,} raw commands over {len(versions):,} products "
        f"(produced in {produced_s:.1f} s): all visible in Elasticsearch after "
        f"{done['search']:.1f} s, in PostgreSQL after {done['pricing']:.1f} s: "
        f"{len(commands) / total:,.0f} commands/s end to end (target >= 5,000)"
    )


def test_projection_recovery_after_kill9(
    module_settings: Settings, make_worker: Callable[[str], Worker], es: Elasticsearch
) -> None:
    workers = {role: make_worker(role) for role in ROLES}
    ensure_index(es, module_settings.search_index)
    results = []
    with CommandClient(module_settings) as client:
        client.send(c.register_product("REC-PROBE", "probe"), timeout_s=120)
        skus = [f"REC-{i}" for i in range(200)]
        client.send_batch([c.register_product(s, "p") for s in skus])
        stop = threading.Event()

        def steady_load() -> None:
            i = 0
            began = time.perf_counter()
            while not stop.is_set():
                due = began + i / 500
                if (wait := due - time.perf_counter()) > 0:
                    time.sleep(wait)
                client.send_nowait(c.adjust_stock(skus[i % len(skus)], 1))
                i += 1

        load = threading.Thread(target=steady_load, daemon=True)
        load.start()
        time.sleep(5)
        for role in ("search-projection", "pricing-projection"):
            killed = time.perf_counter()
            workers[role].kill9()
            workers[role].start()
            probe = client.send(c.adjust_stock("REC-PROBE", 1), timeout_s=60)
            versions = {"REC-PROBE": probe.version or 0}

            def fresh(role: str = role, versions: dict[str, int] = versions) -> bool:
                search, pricing = shown(module_settings, es, versions)
                return bool(search if role == "search-projection" else pricing)

            wait_until(fresh, 120, f"{role} fresh again after kill -9")
            results.append((role, time.perf_counter() - killed))
            time.sleep(5)
        stop.set()
        load.join()
    print(
        "\nkill -9 of a projection under 500 commands/s, restarted at once: fresh again after "
        + ", ".join(f"{role} {seconds:.1f} s" for role, seconds in results)
        + " (target 30 s)"
    )
