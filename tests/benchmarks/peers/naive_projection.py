"""The projection teams write first: one event at a time, one store round trip each.

A confluent-kafka consumer polls one event, decodes it, and writes it: for
search, get the document, fold the event onto it (eventcart's pure code), index
it back with the event's version; for pricing, read the product's version, plan
the event's rows (eventcart's pure code) and upsert them one statement at a
time, autocommitted. Offsets auto-committed. Used
only as a baseline in tests/benchmarks/test_read_models.py:
``python -m tests.benchmarks.peers.naive_projection search|pricing``.
"""

from __future__ import annotations

import signal
import sys
from typing import Any

import orjson
import psycopg
from confluent_kafka import Consumer
from elasticsearch import Elasticsearch
from psycopg import sql

from read_models.pricing.migrate import migrate
from read_models.pricing.rows import plan
from read_models.projection import PositionedEvent
from read_models.search.document import project
from schemas.config.settings import get_settings
from schemas.topics import Topics


class Upserts:
    """One statement per row, as a first projection writes them."""

    def __init__(self, schema: str) -> None:
        s = sql.Identifier(schema)
        self.version = sql.SQL("SELECT version FROM {}.product WHERE sku = %s").format(s)
        self.close = sql.SQL(
            "UPDATE {}.price_history SET valid_to = %s WHERE sku = %s AND valid_to IS NULL"
            " AND version < %s AND (%s::text IS NULL OR currency = %s::text)"
        ).format(s)
        self.history = sql.SQL(
            "INSERT INTO {}.price_history VALUES (%s, %s, %s, %s, %s, %s, %s, %s)"
            " ON CONFLICT DO NOTHING"
        ).format(s)
        self.current = sql.SQL(
            "INSERT INTO {}.current_price VALUES (%s, %s, %s, %s, %s, %s)"
            " ON CONFLICT (sku, currency) DO UPDATE SET amount = excluded.amount,"
            " price_type = excluded.price_type, valid_from = excluded.valid_from,"
            " version = excluded.version"
        ).format(s)
        self.stock = sql.SQL(
            "INSERT INTO {}.stock VALUES (%s, %s, %s) ON CONFLICT (sku) DO UPDATE"
            " SET quantity = excluded.quantity, version = excluded.version"
        ).format(s)
        self.product = sql.SQL(
            "INSERT INTO {}.product VALUES (%s, %s, COALESCE(%s, 'active'), %s)"
            " ON CONFLICT (sku) DO UPDATE SET version = excluded.version"
        ).format(s)

    def run(self, pg: psycopg.Connection[tuple[object, ...]], planned: object) -> None:
        p: Any = planned
        for c in p.history_closes:
            pg.execute(self.close, [c.valid_to, c.sku, c.version, c.currency, c.currency])
        for r in p.history_rows:
            pg.execute(self.history, r.columns())
        for r in p.current_prices:
            pg.execute(
                self.current, [r.sku, r.currency, r.amount, r.price_type, r.valid_from, r.version]
            )
        for r in p.stock:
            pg.execute(self.stock, [r.sku, r.quantity, r.version])
        for r in p.products:
            pg.execute(self.product, [r.sku, r.version, r.status, r.updated_at])


def main(model: str) -> None:
    settings = get_settings()
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": f"{settings.topic_prefix}-naive-{model}",
            "auto.offset.reset": "earliest",
        }
    )
    consumer.subscribe([Topics.from_settings(settings).events])
    es = Elasticsearch(settings.elasticsearch_url)
    pg = psycopg.connect(settings.postgres_dsn.get_secret_value(), autocommit=True)
    migrate(pg, settings.pricing_schema)
    statements = Upserts(settings.pricing_schema)
    while not stopping:
        message = consumer.poll(0.5)
        if message is None or message.error() is not None or not message.value():
            continue
        event = orjson.loads(message.value())
        if model == "search":
            found = es.options(ignore_status=404).get(index=settings.search_index, id=event["sku"])
            doc = project(found["_source"] if found.get("found") else None, event)
            es.options(ignore_status=409).index(
                index=settings.search_index,
                id=event["sku"],
                document=doc,
                version=doc["version"],
                version_type="external_gte",
            )
        else:
            row = pg.execute(statements.version, [event["sku"]]).fetchone()
            positioned = PositionedEvent(event, message.partition() or 0, message.offset() or 0)
            statements.run(pg, plan([positioned], {event["sku"]: row[0]} if row else {}))
    consumer.close()


if __name__ == "__main__":
    main(sys.argv[1])
