"""The projection teams write first: one event at a time, one store round trip each.

A confluent-kafka consumer polls one event, decodes it, and writes it: for
search, get the document, fold the event onto it (eventcart's pure code), index
it back with the event's version; for pricing, one transaction for the event
(eventcart's pricing sink with a batch of one). Offsets auto-committed. Used
only as a baseline in tests/benchmarks/test_read_models.py:
``python -m tests.benchmarks.peers.naive_projection search|pricing``.
"""

from __future__ import annotations

import signal
import sys

import orjson
from confluent_kafka import Consumer
from elasticsearch import Elasticsearch

from ops.settings import get_settings
from ops.topics import Topics
from read_models.pricing.writer import PricingSink
from read_models.projection import PositionedEvent
from read_models.search.document import project


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
    pricing = PricingSink(
        settings.postgres_dsn.get_secret_value(), settings.pricing_schema, "naive"
    )
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
            pricing.apply([PositionedEvent(event, message.partition() or 0, message.offset() or 0)])
    consumer.close()


if __name__ == "__main__":
    main(sys.argv[1])
