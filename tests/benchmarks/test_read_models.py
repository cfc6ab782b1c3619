"""Read-model targets, each against its ceiling in the same run.

- search projection throughput vs a direct bulk load of the same final documents
  (elasticsearch.helpers.bulk) into an index with the same mapping;
- pricing projection throughput vs a COPY of the same final rows into the same tables;
- freshness at a steady 1,000 commands/s: command accepted -> visible in PostgreSQL,
  and -> searchable in Elasticsearch: p50, p99, max.

Run: `make bench` or `pytest -m benchmark -s tests/benchmarks/test_read_models.py`.
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Producer
from elasticsearch import Elasticsearch

from ops.settings import Settings
from ops.topics import Topics
from producers import commands as c
from producers.client import CommandClient, producer_config
from read_models.search.index import ensure_index
from schemas import codec
from streams.catalog import Accepted, ProductState, decide, evolve_all
from tests.benchmarks.ceilings import bulk_load_seconds, copy_seconds
from tests.benchmarks.freshness import measure_freshness
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

    dsn = module_settings.postgres_dsn.get_secret_value()
    search_ceiling = n / bulk_load_seconds(es, f"{module_settings.search_index}-ceiling", events)
    pricing_ceiling = n / copy_seconds(dsn, f"{module_settings.pricing_schema}_ceiling", events)

    print(
        f"\n{n:,} events of {PRODUCTS:,} products"
        f"\nsearch projection: {search_rate:,.0f} events/s | direct bulk load of the final "
        f"documents: {search_ceiling:,.0f} events/s-equivalent | ratio {search_rate / search_ceiling:.2f} "
        f"(target >= 0.70)"
        f"\npricing projection: {pricing_rate:,.0f} events/s | COPY of the final rows: "
        f"{pricing_ceiling:,.0f} events/s-equivalent | ratio {pricing_rate / pricing_ceiling:.2f} "
        f"(target >= 0.70)"
    )


def test_freshness_at_1000_commands_per_second(
    module_settings: Settings, make_worker: Callable[[str], Worker], es: Elasticsearch
) -> None:
    for role in ("command-processor", "search-projection", "pricing-projection"):
        make_worker(role)
    ensure_index(es, alias=module_settings.search_index)
    with CommandClient(module_settings) as client:
        client.send(c.register_product("FRESH-PROBE", "probe"), timeout_s=120)
        print("\n" + measure_freshness(module_settings, es, client, rate=1000, seconds=20))
