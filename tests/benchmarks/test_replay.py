"""Replay targets: rebuilding each read model from 1,000,000 events, against its ceiling.

- search rebuild (the same build + switch as `eventcart replay search`) vs a
  direct bulk load of the final documents into a fresh index, same run;
- pricing rebuild (as `eventcart replay pricing`) vs a COPY of the final rows;
- `eventcart verify` over the rebuilt read models: products/s, printed;
- the live freshness while a rebuild runs, printed.

The catalog: 100,000 products with price and stock history (10 events each),
made by the real decider and published to the events topic.
Run: `pytest -m benchmark -s tests/benchmarks/test_replay.py` (about 15 minutes here).
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

import psycopg
import pytest
from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient
from elasticsearch import Elasticsearch

from ops import verify
from producers import commands as c
from producers.client import CommandClient
from read_models.pricing.migrate import migrate
from read_models.pricing.read_model import PRICING
from read_models.search.index import ensure_index
from read_models.search.read_model import SEARCH
from schemas.config.settings import Settings
from schemas.topics import Topics
from streams import rebuild as replay
from streams.catalog import Accepted, ProductState, decide, evolve_all
from tests.benchmarks.ceilings import bulk_load_seconds, copy_seconds
from tests.benchmarks.freshness import measure_freshness
from tests.benchmarks.test_read_models import publish
from tests.fixtures.workers import Worker

pytestmark = [pytest.mark.benchmark, pytest.mark.timeout(7200)]

PRODUCTS = 100_000


def product_commands(sku: str, i: int, rng: random.Random) -> list[dict[str, Any]]:
    """Ten commands of one product's history: registered, six prices in two currencies
    (a sale among them), three stock changes."""
    regular = rng.randint(900, 29900) / 100
    return [
        c.register_product(
            sku, f"Product {i}", brand=f"Brand{i % 40}", category_path=["Shop", "All"]
        ),
        c.change_price(sku, f"{regular:.2f}", "EUR"),
        c.change_price(sku, f"{regular * 1.08:.2f}", "USD"),
        c.adjust_stock(sku, rng.randint(20, 200)),
        c.change_price(sku, f"{regular * 0.8:.2f}", "EUR", price_type="sale"),
        c.adjust_stock(sku, -rng.randint(1, 10)),
        c.change_price(sku, f"{regular:.2f}", "EUR"),
        c.change_price(sku, f"{regular * 1.1:.2f}", "EUR"),
        c.adjust_stock(sku, rng.randint(5, 50)),
        c.change_price(sku, f"{regular * 1.15:.2f}", "USD"),
    ]


def history(i: int, rng: random.Random) -> list[dict[str, Any]]:
    sku = f"RB-{i:06d}"
    state = ProductState.empty(sku)
    commands = product_commands(sku, i, rng)
    events: list[dict[str, Any]] = []
    for command in commands:
        decision = decide(command, state)
        assert isinstance(decision, Accepted)
        events.extend(decision.events)
        state = evolve_all(state, decision.events)
    return events


def skip_live_backlog(settings: Settings) -> None:
    """Start the live groups at the end of the topic: the benchmark's live traffic is new."""
    topic = Topics.from_settings(settings).events
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": "rb"})
    parts = consumer.list_topics(topic, timeout=30).topics[topic].partitions
    ends = [
        TopicPartition(topic, p, consumer.get_watermark_offsets(TopicPartition(topic, p))[1])
        for p in parts
    ]
    consumer.close()
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    for role in ("search-projection", "pricing-projection"):
        group = f"{settings.topic_prefix}-{role}"
        for future in admin.alter_consumer_group_offsets(
            [ConsumerGroupTopicPartitions(group, ends)]
        ).values():
            future.result(timeout=30)


def test_rebuild_one_million_events(
    module_settings: Settings, make_worker: Callable[[str], Worker], es: Elasticsearch
) -> None:
    rng = random.Random(3)
    events = [e for i in range(PRODUCTS) for e in history(i, rng)]
    publish(module_settings, events)
    n = len(events)
    ensure_index(es, alias=module_settings.search_index)
    with psycopg.connect(module_settings.postgres_dsn.get_secret_value(), autocommit=True) as conn:
        migrate(conn, module_settings.pricing_schema)
    quiet = lambda *_: None  # noqa: E731

    began = time.perf_counter()
    s_plan = replay.plan(module_settings, SEARCH)
    replay.build(module_settings, SEARCH, s_plan, quiet)
    replay.switch(module_settings, SEARCH, s_plan, quiet)
    search_s = time.perf_counter() - began

    began = time.perf_counter()
    p_plan = replay.plan(module_settings, PRICING)
    replay.build(module_settings, PRICING, p_plan, quiet)
    replay.switch(module_settings, PRICING, p_plan, quiet)
    pricing_s = time.perf_counter() - began

    # Ceilings: the final state, written straight into fresh stores.
    dsn = module_settings.postgres_dsn.get_secret_value()
    search_ceiling_s = bulk_load_seconds(es, f"{module_settings.search_index}-ceiling", events)
    pricing_ceiling_s = copy_seconds(dsn, f"{module_settings.pricing_schema}_ceiling", events)

    print(
        f"\nrebuild of {n:,} events ({PRODUCTS:,} products):"
        f"\n  search:  {search_s:.0f} s ({n / search_s:,.0f} events/s) | bulk load of the final "
        f"documents {search_ceiling_s:.1f} s | ratio {search_s / search_ceiling_s:.1f}x (target <= 1.5x)"
        f"\n  pricing: {pricing_s:.0f} s ({n / pricing_s:,.0f} events/s) | COPY of the final rows "
        f"{pricing_ceiling_s:.1f} s | ratio {pricing_s / pricing_ceiling_s:.1f}x (target <= 1.5x)"
    )

    # eventcart verify over the rebuilt read models: how fast a nightly drift check runs.
    checked = verify.verify(module_settings)
    print(
        f"\neventcart verify of {checked.skus:,} products ({checked.events:,} events): "
        f"{checked.seconds:.0f} s, {checked.skus / checked.seconds:,.0f} products/s, "
        f"{len(checked.drifts)} drifts"
    )
    assert checked.drifts == []

    # Live traffic while a rebuild runs: the freshness it keeps.
    skip_live_backlog(module_settings)
    for role in ("command-processor", "search-projection", "pricing-projection"):
        make_worker(role)
    with CommandClient(module_settings) as client:
        client.send(c.register_product("RB-PROBE", "probe"), timeout_s=120)
        rebuild = threading.Thread(
            target=lambda: (
                (plan_ := replay.plan(module_settings, SEARCH)),
                replay.build(module_settings, SEARCH, plan_, quiet),
            )
        )
        rebuild.start()
        time.sleep(5)
        report = measure_freshness(module_settings, es, client, rate=100, seconds=30)
        print(f"\nduring a search rebuild of the same {n:,} events, {report}")
        rebuild.join()
