"""Read-model targets, each against its ceiling in the same run.

- search projection throughput vs a direct bulk load of the same final documents
  (elasticsearch.helpers.bulk) into an index with the same mapping;
- pricing projection throughput vs a COPY of the same final rows into the same tables;
- freshness at a steady 1,000 commands/s: command accepted -> visible in PostgreSQL,
  and -> searchable in Elasticsearch: p50, p99, max.

Run: `make bench` or `pytest -m benchmark -s tests/benchmarks/test_read_models.py`.
"""

from __future__ import annotations

import statistics
import threading
import time
import urllib.request
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import psycopg
import pytest
from confluent_kafka import Producer
from elasticsearch import Elasticsearch, helpers
from psycopg import sql

from ops.settings import Settings
from ops.topics import Topics
from producers import commands as c
from producers.client import CommandClient, producer_config
from read_models.pricing.migrate import migrate
from read_models.projection import PositionedEvent
from read_models.search.document import fold
from read_models.search.index import ensure_index
from read_models.search.mapping import index_body
from schemas import codec
from streams.catalog import Accepted, ProductState, decide, evolve_all
from tests.fixtures.workers import Worker

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


def metric(port: int, name: str, label: str) -> float:
    """One Prometheus sample of a worker, e.g. eventcart_events_applied_total{projection=...}."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=2) as response:
            text = response.read().decode()
    except OSError:
        return 0.0
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name) and label in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def projection_rate(
    settings: Settings, make_worker: Callable[[str], Worker], role: str, n: int
) -> float:
    """Events/s of a projection over its whole run, timed from its first applied batch."""
    port = settings.metrics_port + {"search-projection": 1, "pricing-projection": 2}[role]
    label = f'projection="{role}"'
    worker = make_worker(role)

    def done() -> float:
        return metric(port, "eventcart_events_applied_total", label) + metric(
            port, "eventcart_events_skipped_total", label
        )

    while done() == 0:
        time.sleep(0.01)
    began, at_start = time.perf_counter(), done()
    while done() < n:
        time.sleep(0.05)
    seconds = time.perf_counter() - began
    worker.stop()
    return (n - at_start) / seconds


def test_projection_throughput_vs_bulk_ceilings(
    module_settings: Settings, make_worker: Callable[[str], Worker], es: Elasticsearch
) -> None:
    events = generate_events(PRODUCTS)
    publish(module_settings, events)
    n = len(events)

    search_rate = projection_rate(module_settings, make_worker, "search-projection", n)
    pricing_rate = projection_rate(module_settings, make_worker, "pricing-projection", n)

    # Ceiling, search: the same final documents, bulk-loaded straight into a fresh index.
    by_sku: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_sku.setdefault(event["sku"], []).append(event)
    docs = {sku: fold(evs) for sku, evs in by_sku.items()}
    ceiling_index = f"{module_settings.search_index}-ceiling"
    es.indices.create(index=ceiling_index, **index_body(rich=False))
    began = time.perf_counter()
    helpers.bulk(
        es,
        (
            {
                "_index": ceiling_index,
                "_id": sku,
                "_version": doc["version"],
                "_version_type": "external",
                "_source": doc,
            }
            for sku, doc in docs.items()
        ),
        chunk_size=2000,
    )
    search_ceiling = n / (time.perf_counter() - began)
    es.options(ignore_status=404).indices.delete(index=ceiling_index)

    # Ceiling, pricing: COPY the same final rows into freshly migrated tables.
    from read_models.pricing.rows import plan

    ops = plan([PositionedEvent(e, 0, i) for i, e in enumerate(events)], {})
    # The final rows: the last operation per key (the plan lists one per event).
    products = {p.sku: p for p in sorted(ops.products, key=lambda p: p.version)}
    prices = {(r.sku, r.currency): r for r in sorted(ops.current_prices, key=lambda r: r.version)}
    stock = {r.sku: r for r in sorted(ops.stock, key=lambda r: r.version)}
    schema = f"{module_settings.pricing_schema}_ceiling"
    with psycopg.connect(module_settings.postgres_dsn.get_secret_value(), autocommit=True) as conn:
        migrate(conn, schema)
        began = time.perf_counter()
        with conn.transaction():
            _copy(
                conn,
                schema,
                "product",
                ["sku", "version", "status", "updated_at"],
                [(p.sku, p.version, p.status or "active", p.updated_at) for p in products.values()],
            )
            _copy(
                conn,
                schema,
                "current_price",
                ["sku", "currency", "amount", "price_type", "valid_from", "version"],
                [
                    (r.sku, r.currency, r.amount, r.price_type, r.valid_from, r.version)
                    for r in prices.values()
                ],
            )
            _copy(
                conn,
                schema,
                "price_history",
                [
                    "sku",
                    "currency",
                    "amount",
                    "price_type",
                    "valid_from",
                    "valid_to",
                    "event_id",
                    "version",
                ],
                [
                    (
                        r.sku,
                        r.currency,
                        r.amount,
                        r.price_type,
                        r.valid_from,
                        r.valid_to,
                        r.event_id,
                        r.version,
                    )
                    for r in ops.history_rows
                ],
            )
            _copy(
                conn,
                schema,
                "stock",
                ["sku", "quantity", "version"],
                [(r.sku, r.quantity, r.version) for r in stock.values()],
            )
        pricing_ceiling = n / (time.perf_counter() - began)
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))

    print(
        f"\n{n:,} events of {PRODUCTS:,} products"
        f"\nsearch projection: {search_rate:,.0f} events/s | direct bulk load of the final "
        f"documents: {search_ceiling:,.0f} events/s-equivalent | ratio {search_rate / search_ceiling:.2f} "
        f"(target >= 0.70)"
        f"\npricing projection: {pricing_rate:,.0f} events/s | COPY of the final rows: "
        f"{pricing_ceiling:,.0f} events/s-equivalent | ratio {pricing_rate / pricing_ceiling:.2f} "
        f"(target >= 0.70)"
    )


def _copy(
    conn: psycopg.Connection[Any],
    schema: str,
    table: str,
    columns: list[str],
    rows: list[tuple[Any, ...]],
) -> None:
    statement = sql.SQL("COPY {}.{} ({}) FROM STDIN").format(
        sql.Identifier(schema),
        sql.Identifier(table),
        sql.SQL(", ").join(map(sql.Identifier, columns)),
    )
    with conn.cursor().copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def test_freshness_at_1000_commands_per_second(
    module_settings: Settings, make_worker: Callable[[str], Worker], es: Elasticsearch
) -> None:
    rate, seconds, sample_every = 1000, 20, 25
    for role in ("command-processor", "search-projection", "pricing-projection"):
        make_worker(role)
    alias = module_settings.search_index
    with CommandClient(module_settings) as client:
        client.send(c.register_product("FRESH-PROBE", "probe"), timeout_s=120)
        skus = [f"FRESH-{i}" for i in range(500)]
        client.send_batch([c.register_product(s, "p") for s in skus])
        ensure_index(es, alias=alias)
        pg_ms: list[float] = []
        es_ms: list[float] = []
        lock = threading.Lock()
        dsn = module_settings.postgres_dsn.get_secret_value()
        query = sql.SQL("SELECT version FROM {}.product WHERE sku = %s").format(
            sql.Identifier(module_settings.pricing_schema)
        )

        def watch(sku: str, version: int, accepted_at: float) -> None:
            seen_pg = seen_es = None
            with psycopg.connect(dsn, autocommit=True) as conn:
                deadline = accepted_at + 30
                while (seen_pg is None or seen_es is None) and time.perf_counter() < deadline:
                    if seen_pg is None:
                        row = conn.execute(query, [sku]).fetchone()
                        if row and row[0] >= version:
                            seen_pg = time.perf_counter()
                    if seen_es is None:
                        hits = es.count(
                            index=alias,
                            query={
                                "bool": {
                                    "filter": [
                                        {"term": {"sku": sku}},
                                        {"range": {"version": {"gte": version}}},
                                    ]
                                }
                            },
                        )
                        if hits["count"]:
                            seen_es = time.perf_counter()
                    time.sleep(0.005)
            with lock:
                if seen_pg:
                    pg_ms.append((seen_pg - accepted_at) * 1000)
                if seen_es:
                    es_ms.append((seen_es - accepted_at) * 1000)

        watchers = ThreadPoolExecutor(max_workers=16)
        pending = []
        began = time.perf_counter()
        for i in range(rate * seconds):
            due = began + i / rate
            while (now := time.perf_counter()) < due:
                time.sleep(min(due - now, 0.001))
            future = client.submit(c.adjust_stock(skus[i % len(skus)], 1))
            if i % sample_every == 0:
                future.add_done_callback(
                    lambda f: watchers.submit(
                        watch, f.result().sku or "", f.result().version or 0, time.perf_counter()
                    )
                )
            pending.append(future)
        for future in pending:
            future.result(timeout=120)
        watchers.shutdown(wait=True)

    def line(name: str, ms: list[float]) -> str:
        ms.sort()
        return (
            f"{name}: p50 {statistics.median(ms):.0f} ms, p99 {ms[int(len(ms) * 0.99) - 1]:.0f} ms, "
            f"max {ms[-1]:.0f} ms ({len(ms)} samples)"
        )

    print(
        f"\nfreshness at {rate} commands/s for {seconds} s, command accepted -> visible:"
        f"\n  {line('PostgreSQL (target p99 < 250 ms)', pg_ms)}"
        f"\n  {line('Elasticsearch, searchable (target p99 < refresh 1000 ms + 300 ms)', es_ms)}"
    )
