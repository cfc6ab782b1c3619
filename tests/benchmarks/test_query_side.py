"""Pricing lookups through the query API, against the same SQL straight on PostgreSQL.

Search is measured by test_search_capacity.py (queries/s at 1 to 64 clients,
beside what Elasticsearch does at best); this file's search comparison used the
API's own slow query as its ceiling and is gone.

- pricing lookups through the query API: one SKU (target p99 < 10 ms) and a bulk of
  1,000 SKUs (target p99 < 50 ms), with the ratio to the same SQL run straight on
  PostgreSQL.

The read models are filled with the real projection code (decide -> events ->
SearchSink / PricingSink), without Kafka, so the setup takes about a minute.
Run: `make bench` or `pytest -m benchmark -s tests/benchmarks/test_query_side.py`.
"""

from __future__ import annotations

import random
import statistics
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import psycopg
import pytest
from elasticsearch import Elasticsearch

from producers import commands as c
from read_models.pricing import queries as pricing
from read_models.pricing.migrate import migrate
from read_models.pricing.sink import PricingSink
from read_models.projection import PositionedEvent
from read_models.query_stores import reader_dsn
from read_models.search.index import ensure_index
from read_models.search.sink import SearchSink
from schemas.config.settings import Settings
from streams.catalog import Accepted, ProductState, decide, evolve_all
from tests.fixtures.apis import api_process
from tests.fixtures.workers import free_port_block

pytestmark = [pytest.mark.benchmark, pytest.mark.timeout(3600)]

PRODUCTS = 100_000
WORDS = ["red", "blue", "trail", "running", "shoe", "kettle", "lamp", "jacket", "tent", "boot"]
BRANDS = ["Acme", "Nordwear", "Trailco", "Potter", "Lumen", "Kestrel", "Orbit", "Vela"]


def product_events(i: int, rng: random.Random) -> list[dict[str, Any]]:
    sku = f"QB-{i:06d}"
    state = ProductState.empty(sku)
    events: list[dict[str, Any]] = []
    name = " ".join(rng.sample(WORDS, 3))
    for command in (
        c.register_product(
            sku,
            name,
            brand=rng.choice(BRANDS),
            category_path=["Shop", rng.choice(WORDS)],
            tags=[rng.choice(WORDS)],
        ),
        c.change_price(sku, f"{rng.randint(5, 300)}.{rng.randint(0, 99):02d}", "EUR"),
        c.change_price(sku, f"{rng.randint(5, 300)}.{rng.randint(0, 99):02d}", "USD"),
        c.adjust_stock(sku, rng.randint(0, 50) + 1),
    ):
        decision = decide(command, state)
        assert isinstance(decision, Accepted)
        events.extend(decision.events)
        state = evolve_all(state, decision.events)
    return events


def batches(n: int, size: int = 5000) -> Iterator[list[PositionedEvent]]:
    rng = random.Random(7)
    batch: list[PositionedEvent] = []
    offset = 0
    for i in range(n):
        for event in product_events(i, rng):
            batch.append(PositionedEvent(event, 0, offset))
            offset += 1
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


@pytest.fixture(scope="module")
def filled(module_settings: Settings, es: Elasticsearch) -> Settings:
    settings = module_settings.model_copy(update={"query_api_port": free_port_block(1)})
    ensure_index(es, alias=settings.search_index)
    es.indices.put_settings(index=settings.search_index, settings={"refresh_interval": "-1"})
    dsn = settings.postgres_dsn.get_secret_value()
    with psycopg.connect(dsn, autocommit=True) as conn:
        migrate(conn, settings.pricing_schema)
    search_sink = SearchSink(es, settings.search_index)
    with PricingSink(dsn, settings.pricing_schema) as pricing_sink:
        began = time.perf_counter()
        for batch in batches(PRODUCTS):
            search_sink.apply(batch)
            pricing_sink.apply(batch)
    es.indices.put_settings(index=settings.search_index, settings={"refresh_interval": "1s"})
    es.indices.refresh(index=settings.search_index)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("ANALYZE")
    print(
        f"\nloaded {PRODUCTS:,} products into both read models in {time.perf_counter() - began:.0f} s"
    )
    return settings


@pytest.fixture(scope="module")
def api(filled: Settings) -> Iterator[str]:
    with api_process(filled, "queries", filled.query_api_port):
        yield f"http://127.0.0.1:{filled.query_api_port}"


def p(ms: list[float], q: float) -> float:
    return ms[min(len(ms) - 1, int(len(ms) * q))]


def test_pricing_lookups_through_the_api_vs_straight_sql(filled: Settings, api: str) -> None:
    rng = random.Random(5)
    singles = [f"QB-{rng.randrange(PRODUCTS):06d}" for _ in range(2000)]
    bulks = [[f"QB-{rng.randrange(PRODUCTS):06d}" for _ in range(1000)] for _ in range(100)]

    def measure(call: Callable[[Any], Any], items: list[Any]) -> list[float]:
        for item in items[:20]:
            call(item)
        out = []
        for item in items:
            began = time.perf_counter()
            call(item)
            out.append((time.perf_counter() - began) * 1000)
        return sorted(out)

    with httpx.Client(timeout=30) as http:
        api_single = measure(
            lambda sku: http.get(f"{api}/prices/{sku}").raise_for_status(), singles
        )
        api_bulk = measure(
            lambda skus: http.post(f"{api}/prices:bulk", json={"skus": skus}).raise_for_status(),
            bulks,
        )
    with psycopg.connect(reader_dsn(filled), autocommit=True) as conn:
        schema = filled.pricing_schema
        sql_single = measure(lambda sku: pricing.current_prices(conn, schema, sku), singles)
        sql_bulk = measure(lambda skus: pricing.bulk_current_prices(conn, schema, skus), bulks)

    def line(name: str, ms: list[float], base: list[float], target: str) -> str:
        return (
            f"  {name}: API p50 {p(ms, 0.5):.1f} ms, p99 {p(ms, 0.99):.1f} ms ({target}) | "
            f"same query straight on PostgreSQL p50 {p(base, 0.5):.1f} ms, p99 {p(base, 0.99):.1f} ms | "
            f"ratio at p99 {p(ms, 0.99) / p(base, 0.99):.2f}"
        )

    print(
        f"\npricing lookups, sequential, {PRODUCTS:,} products:"
        f"\n{line('one SKU', api_single, sql_single, 'target p99 < 10 ms')}"
        f"\n{line('1,000 SKUs', api_bulk, sql_bulk, 'target p99 < 50 ms')}"
    )
    assert statistics.median(api_single) > 0
