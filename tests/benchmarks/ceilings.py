"""The ceilings benchmarks compare against: what the stores and clients do at best.

Producing: pre-encoded records handed to librdkafka as fast as it takes them
(optionally each after a check, e.g. its schema validation). Search: the final document of every SKU, bulk-loaded with the client's bulk
helper into a fresh index with the same mapping. Pricing: the final rows,
COPYed into freshly migrated tables. Both take the final state from the same
pure projection code, so only the writing differs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from confluent_kafka import Producer
from elasticsearch import Elasticsearch, helpers
from psycopg import sql

from read_models.pricing.migrate import migrate
from read_models.pricing.rows import plan
from read_models.projection import PositionedEvent
from read_models.search.document import fold
from read_models.search.mapping import index_body


def produce_seconds(
    producer: Producer,
    topic: str,
    payloads: Sequence[tuple[bytes, bytes]],
    checks: Sequence[Callable[[], object]] | None = None,
) -> float:
    """Seconds to produce ``(key, value)`` pairs and have every one delivered; with
    ``checks``, the i-th runs before the i-th record is produced."""
    began = time.perf_counter()
    for i, (key, value) in enumerate(payloads):
        if checks is not None:
            checks[i]()
        while True:
            try:
                producer.produce(topic, value=value, key=key)
                break
            except BufferError:  # the local queue is full: let it drain
                producer.poll(0.01)
        producer.poll(0)
    producer.flush(120)
    return time.perf_counter() - began


def bulk_load_seconds(es: Elasticsearch, index: str, events: list[dict[str, Any]]) -> float:
    by_sku: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_sku.setdefault(event["sku"], []).append(event)
    docs = {sku: fold(evs) for sku, evs in by_sku.items()}
    es.indices.create(index=index, **index_body(rich=False, refresh_interval="-1"))
    began = time.perf_counter()
    helpers.bulk(
        es,
        (
            {
                "_index": index,
                "_id": sku,
                "_version": doc["version"],
                "_version_type": "external",
                "_source": doc,
            }
            for sku, doc in docs.items()
            if doc is not None
        ),
        chunk_size=2000,
    )
    es.indices.refresh(index=index)
    seconds = time.perf_counter() - began
    es.options(ignore_status=404).indices.delete(index=index)
    return seconds


def copy_seconds(dsn: str, schema: str, events: list[dict[str, Any]]) -> float:
    ops = plan([PositionedEvent(e, 0, i) for i, e in enumerate(events)], {})
    # The final rows: the last operation per key (the plan lists one per event).
    products = {p.sku: p for p in sorted(ops.products, key=lambda p: p.version)}
    prices = {(r.sku, r.currency): r for r in sorted(ops.current_prices, key=lambda r: r.version)}
    stock = {r.sku: r for r in sorted(ops.stock, key=lambda r: r.version)}
    tables: list[tuple[str, list[str], list[tuple[Any, ...]]]] = [
        (
            "product",
            ["sku", "version", "status", "updated_at"],
            [(p.sku, p.version, p.status or "active", p.updated_at) for p in products.values()],
        ),
        (
            "current_price",
            ["sku", "currency", "amount", "price_type", "valid_from", "version"],
            [
                (r.sku, r.currency, r.amount, r.price_type, r.valid_from, r.version)
                for r in prices.values()
            ],
        ),
        (
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
            [r.columns() for r in ops.history_rows],
        ),
        (
            "stock",
            ["sku", "quantity", "version"],
            [(r.sku, r.quantity, r.version) for r in stock.values()],
        ),
    ]
    with psycopg.connect(dsn, autocommit=True) as conn:
        migrate(conn, schema)
        began = time.perf_counter()
        with conn.transaction():
            for table, columns, rows in tables:
                statement = sql.SQL("COPY {}.{} ({}) FROM STDIN").format(
                    sql.Identifier(schema),
                    sql.Identifier(table),
                    sql.SQL(", ").join(map(sql.Identifier, columns)),
                )
                with conn.cursor().copy(statement) as copy:
                    for row in rows:
                        copy.write_row(row)
        seconds = time.perf_counter() - began
        conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))
    return seconds
