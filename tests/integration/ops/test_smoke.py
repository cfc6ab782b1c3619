"""The three real services answer the clients eventcart uses, end to end."""

from __future__ import annotations

from collections.abc import Callable

import psycopg
from confluent_kafka import Consumer, Producer
from elasticsearch import Elasticsearch


def test_kafka_produce_and_consume(
    make_topic: Callable[..., str],
    kafka_producer: Producer,
    make_consumer: Callable[..., Consumer],
) -> None:
    topic = make_topic("smoke", partitions=3)
    delivered: list[object] = []
    kafka_producer.produce(
        topic,
        key=b"SKU-1",
        value=b'{"hello": "kafka"}',
        on_delivery=lambda e, m: delivered.append(e),
    )
    assert kafka_producer.flush(30) == 0
    assert delivered == [None]

    consumer = make_consumer(topic)
    message = None
    for _ in range(60):
        message = consumer.poll(1.0)
        if message is not None and message.error() is None:
            break
    assert message is not None and message.error() is None
    assert (message.key(), message.value()) == (b"SKU-1", b'{"hello": "kafka"}')


def test_elasticsearch_index_and_search(es: Elasticsearch, index_name: str) -> None:
    es.indices.create(index=index_name, mappings={"properties": {"name": {"type": "text"}}})
    es.index(index=index_name, id="SKU-1", document={"name": "Red running shoes"}, refresh=True)
    hits = es.search(index=index_name, query={"match": {"name": "shoes"}})["hits"]
    assert hits["total"]["value"] == 1
    assert hits["hits"][0]["_id"] == "SKU-1"


def test_postgres_create_insert_select(
    pg: psycopg.Connection[tuple[object, ...]], pg_schema: str
) -> None:
    pg.execute("CREATE TABLE price (sku text PRIMARY KEY, amount numeric(16, 4) NOT NULL)")
    pg.execute("INSERT INTO price VALUES (%s, %s)", ["SKU-1", "19.99"])
    row = pg.execute("SELECT sku, amount::text FROM price").fetchone()
    assert row == ("SKU-1", "19.9900")
