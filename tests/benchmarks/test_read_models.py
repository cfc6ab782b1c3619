"""Read-model targets, each against its ceiling in the same run.

- each live projection over a backlog vs its ceiling (search: a direct bulk load
  of the same final documents; pricing: a COPY of the same final rows), and vs
  what a user might run instead on the same events: a naive per-event consumer
  (tests/benchmarks/peers/naive_projection.py) and quixstreams' own sinks
  (tests/benchmarks/peers/quix_projection.py, in .venv-peers);
- freshness at a steady 1,000 commands/s: command accepted -> visible in PostgreSQL,
  and -> searchable in Elasticsearch: p50, p99, max.

Run: `make bench` or `pytest -m benchmark -s tests/benchmarks/test_read_models.py`.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from confluent_kafka import Producer
from elasticsearch import Elasticsearch
from psycopg import sql

from producers import commands as c
from producers.client import CommandClient, producer_config
from read_models.pricing.migrate import migrate
from read_models.search.index import ensure_index
from schemas import codec
from schemas.config.settings import Settings
from schemas.topics import Topics
from streams.catalog import Accepted, ProductState, decide, evolve_all
from tests.benchmarks.ceilings import bulk_load_seconds, copy_seconds
from tests.benchmarks.freshness import measure_freshness
from tests.benchmarks.peers import venv as peers_venv
from tests.fixtures.workers import Worker, settings_env

ROOT = peers_venv.ROOT

pytestmark = [pytest.mark.benchmark, pytest.mark.timeout(3600)]

PRODUCTS = 10_000
EVENTS_PER_PRODUCT = 6  # register, 3 prices, 2 stock


def generate_events(products: int) -> list[dict[str, Any]]:
    """Events made by the real decider, as the processor would publish them."""
    events: list[dict[str, Any]] = []
    for i in range(products):
        sku = f"RM-{i}"
        state = ProductState.empty(sku)
        for command in (
            c.register_product(
                sku,
                f"Trail shoe {i}",
                brand=f"Brand{i % 50}",
                category_path=["Shoes", "Running"],
                tags=["trail"],
                attributes={"colour": "red"},
            ),
            c.change_price(sku, f"{50 + i % 40}.90", "EUR"),
            c.change_price(sku, f"{60 + i % 40}.00", "USD"),
            c.change_price(sku, f"{40 + i % 40}.90", "EUR", price_type="sale"),
            c.adjust_stock(sku, 10 + i % 7),
            c.adjust_stock(sku, -3),
        ):
            decision = decide(command, state)
            assert isinstance(decision, Accepted)
            events.extend(decision.events)
            state = evolve_all(state, decision.events)
    return events


def publish(settings: Settings, events: list[dict[str, Any]]) -> None:
    producer = Producer(producer_config(settings))
    topic = Topics.from_settings(settings).events
    for event in events:
        while True:
            try:
                producer.produce(topic, key=event["sku"].encode(), value=codec.encode(event))
                break
            except BufferError:
                producer.poll(0.05)
    producer.flush(120)


def visible(settings: Settings, es: Elasticsearch, target: str, version: int) -> int:
    """Products a read model shows at ``version`` or later: an index, or a schema.table."""
    if "." not in target:
        if not es.indices.exists(index=target):
            return 0
        es.indices.refresh(index=target)
        count = es.count(index=target, query={"range": {"version": {"gte": version}}})
        return int(count["count"])
    schema, table = target.split(".")
    query = sql.SQL("SELECT count(*) FROM {}.{} WHERE version >= %s").format(
        sql.Identifier(schema), sql.Identifier(table)
    )
    with psycopg.connect(settings.postgres_dsn.get_secret_value(), autocommit=True) as conn:
        try:
            row = conn.execute(query, [version]).fetchone()
        except psycopg.errors.UndefinedTable:
            return 0  # the consumer has not created its tables yet
    return int(row[0]) if row else 0


def rate_until_visible(
    settings: Settings,
    es: Elasticsearch,
    target: str,
    start: Callable[[], Callable[[], None]],
    timeout_s: float = 900,
) -> float:
    """Events/s of a consumer over the backlog, timed by what the store shows: from its
    first product at the final version to the last (the same rule for every consumer)."""
    stop = start()
    try:
        deadline = time.monotonic() + timeout_s
        while visible(settings, es, target, EVENTS_PER_PRODUCT) == 0:
            assert time.monotonic() < deadline, f"{target}: nothing visible"
            time.sleep(0.05)
        began = time.perf_counter()
        first = visible(settings, es, target, EVENTS_PER_PRODUCT)
        while (done := visible(settings, es, target, EVENTS_PER_PRODUCT)) < PRODUCTS:
            assert time.monotonic() < deadline, f"{target}: {done} of {PRODUCTS} products"
            time.sleep(0.1)
        seconds = time.perf_counter() - began
    finally:
        stop()
    return (PRODUCTS - first) * EVENTS_PER_PRODUCT / seconds


def process(
    settings: Settings, command: list[str], env: dict[str, str]
) -> Callable[[], Callable[[], None]]:
    def start() -> Callable[[], None]:
        proc = subprocess.Popen(
            command,
            env={**settings_env(settings), **env},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
        )

        def stop() -> None:
            proc.terminate()
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()

        return stop

    return start


def quix(settings: Settings, es: Elasticsearch, model: str, target: str) -> list[str | float]:
    """quixstreams' sinks on the same events, or a note when its environment cannot be made."""
    try:
        python = peers_venv.python()
    except (OSError, subprocess.CalledProcessError) as exc:
        return [f"quixstreams unavailable ({exc})"]
    env = {
        "PYTHONPATH": str(ROOT),
        "QUIX_BROKER": settings.kafka_bootstrap_servers,
        "QUIX_TOPIC": Topics.from_settings(settings).events,
        "QUIX_GROUP": f"{settings.topic_prefix}-quix-{model}",
        "QUIX_STATE_DIR": str(settings.home / f"quix-{model}"),
        "QUIX_ES_URL": settings.elasticsearch_url,
        "QUIX_INDEX": target,
        "QUIX_PG_HOST": "127.0.0.1",
        "QUIX_PG_PORT": str(settings.postgres_port),
        "QUIX_PG_DB": settings.postgres_database,
        "QUIX_PG_USER": settings.postgres_user,
        "QUIX_PG_PASSWORD": settings.postgres_password,
        "QUIX_PG_SCHEMA": target.split(".")[0],
        "QUIX_PG_TABLE": target.split(".")[-1],
    }
    command = [str(python), str(ROOT / "tests/benchmarks/peers/quix_projection.py"), model]
    return [rate_until_visible(settings, es, target, process(settings, command, env))]


def test_projection_throughput_vs_ceilings_and_peers(
    module_settings: Settings,
    make_worker: Callable[[str], Worker],
    es: Elasticsearch,
    unique: str,
) -> None:
    events = generate_events(PRODUCTS)
    publish(module_settings, events)
    n = len(events)
    alias, schema = module_settings.search_index, module_settings.pricing_schema
    dsn = module_settings.postgres_dsn.get_secret_value()

    def worker(role: str) -> Callable[[], Callable[[], None]]:
        return lambda: make_worker(role).stop

    ensure_index(es, alias)
    ours = {
        "search": rate_until_visible(module_settings, es, alias, worker("search-projection")),
        "pricing": rate_until_visible(
            module_settings, es, f"{schema}.product", worker("pricing-projection")
        ),
    }
    naive_alias, naive_schema = f"{alias}-naive", f"{schema}_naive"
    ensure_index(es, naive_alias)
    with psycopg.connect(dsn, autocommit=True) as conn:
        migrate(conn, naive_schema)
    naive_env = {"EVENTCART_SEARCH_INDEX": naive_alias, "EVENTCART_PRICING_SCHEMA": naive_schema}
    naive_command = [sys.executable, "-m", "tests.benchmarks.peers.naive_projection"]
    naive = {
        model: rate_until_visible(
            module_settings,
            es,
            target,
            process(module_settings, [*naive_command, model], naive_env),
        )
        for model, target in (("search", naive_alias), ("pricing", f"{naive_schema}.product"))
    }
    quix_schema = f"quix_{unique}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(quix_schema)))
    peers = {
        "search": quix(module_settings, es, "search", f"{alias}-quix"),
        "pricing": quix(module_settings, es, "pricing", f"{quix_schema}.products"),
    }
    ceilings = {
        "search": n / bulk_load_seconds(es, f"{alias}-ceiling", events),
        "pricing": n / copy_seconds(dsn, f"{schema}_ceiling", events),
    }
    lines = [f"\n{n:,} events of {PRODUCTS:,} products, each consumer alone over the backlog:"]
    for model, target in (("search", 0.7), ("pricing", 0.5)):
        quix_rate = peers[model][0]
        quix_text = (
            f"{quix_rate:,.0f} events/s (eventcart {ours[model] / quix_rate:.1f}x)"
            if isinstance(quix_rate, float)
            else str(quix_rate)
        )
        lines.append(
            f"  {model}: eventcart {ours[model]:,.0f} events/s | ceiling "
            f"{ceilings[model]:,.0f} | ratio {ours[model] / ceilings[model]:.2f} (target >= {target})"
            f" | naive per-event consumer {naive[model]:,.0f} (eventcart "
            f"{ours[model] / naive[model]:.1f}x, target >= 5x) | quixstreams {quix_text}"
        )
    print("\n".join(lines))
    with psycopg.connect(dsn, autocommit=True) as conn:
        for name in (naive_schema, quix_schema):
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def test_freshness_at_1000_commands_per_second(
    module_settings: Settings, make_worker: Callable[[str], Worker], es: Elasticsearch
) -> None:
    for role in ("command-processor", "search-projection", "pricing-projection"):
        make_worker(role)
    ensure_index(es, alias=module_settings.search_index)
    with CommandClient(module_settings) as client:
        client.send(c.register_product("FRESH-PROBE", "probe"), timeout_s=120)
        print("\n" + measure_freshness(module_settings, es, client, rate=1000, seconds=20))
