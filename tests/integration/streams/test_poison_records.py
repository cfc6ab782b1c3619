"""The largest and strangest records Kafka accepts crash no agent and lose no answer.

A record near Kafka's 1 MiB limit, or one made of control characters (each
grows to six bytes when escaped in JSON), used to make a dead letter larger
than the producer may send: the agent crashed without writing it, and the
valid command next to it got its event but never its answer. Dead letters now
keep a bounded prefix of the original (base64), its size and its SHA-256.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator

import orjson
import pytest
from confluent_kafka import Producer

from producers import commands as c
from producers.client import CommandClient
from schemas.config.settings import Settings
from schemas.topics import Topics
from streams import dead_letters
from tests.fixtures.kafka_read import read_topic
from tests.fixtures.oracle import assert_read_models_equal_oracle
from tests.fixtures.workers import Worker

NEAR_LIMIT = 1_040_000  # Kafka's default max.message.bytes is 1,048,588 per batch
POISON = [
    ("huge", b'{"command_id": "huge", "sku": "P-1", "pad": "' + b"x" * NEAR_LIMIT + b'"}'),
    ("control", b'{"command_id": "control", "sku": "P-1", "pad": "' + b"\\u0001" * 170_000 + b'"}'),
    ("raw-controls", bytes(range(32)) * 30_000),
    ("empty", b""),
]


@pytest.fixture(scope="module")
def client(
    module_settings: Settings, make_worker: Callable[[str], Worker]
) -> Iterator[CommandClient]:
    for role in ("command-processor", "search-projection", "pricing-projection"):
        make_worker(role)
    with CommandClient(module_settings) as client:
        client.send(c.register_product("PROBE", "probe"), timeout_s=120)
        yield client


def raw_producer(settings: Settings) -> Producer:
    return Producer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "partitioner": "murmur2_random",
            "message.max.bytes": 1_048_576,
            "linger.ms": 50,  # the poison and its neighbours in one batch
        }
    )


def test_a_batch_with_the_largest_poison_commands_answers_its_valid_neighbours(
    client: CommandClient, module_settings: Settings
) -> None:
    topics = Topics.from_settings(module_settings)
    before, after = c.register_product("P-1", "before"), c.adjust_stock("P-1", 3)
    producer = raw_producer(module_settings)
    futures = [client.listener.expect(str(before["command_id"]))]
    producer.produce(topics.commands, key=b"P-1", value=orjson.dumps(before))
    for _, value in POISON:
        producer.produce(topics.commands, key=b"P-1", value=value)
    futures.append(client.listener.expect(str(after["command_id"])))
    producer.produce(topics.commands, key=b"P-1", value=orjson.dumps(after))
    assert producer.flush(30) == 0
    assert [f.result(timeout=120).status for f in futures] == ["accepted", "accepted"]

    letters = [
        r["value"]
        for r in read_topic(module_settings, topics.dead_letters("command-processor"))
        if r["value"]["key"] == "P-1"
    ]
    assert len(letters) == len(POISON)
    for letter, (_, value) in zip(letters, POISON, strict=True):
        assert letter["value_size"] == len(value)
        assert letter["value_sha256"] == hashlib.sha256(value).hexdigest()
        kept = dead_letters.original(letter)
        assert kept == value if len(value) <= dead_letters.MAX_ORIGINAL_BYTES else kept is None
    assert letters[0]["value_truncated"] is True


def test_projections_dead_letter_the_largest_poison_events_and_go_on(
    client: CommandClient, module_settings: Settings
) -> None:
    topics = Topics.from_settings(module_settings)
    assert client.send(c.register_product("P-2", "poisoned")).accepted
    producer = raw_producer(module_settings)
    for _, value in POISON:
        producer.produce(topics.events, key=b"P-2", value=value)
    assert producer.flush(30) == 0
    assert client.send(c.change_price("P-2", "9.99", "EUR")).accepted
    assert_read_models_equal_oracle(module_settings, ["P-2"])
    for role in ("search-projection", "pricing-projection"):
        letters = [
            r["value"]
            for r in read_topic(module_settings, topics.dead_letters(role))
            if r["value"]["key"] == "P-2"
        ]
        assert sorted(letter["value_size"] for letter in letters) == sorted(
            len(value) for _, value in POISON
        ), role
