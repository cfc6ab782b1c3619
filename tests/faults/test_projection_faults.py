"""Both read models end exactly where a single fold of the topic says, whatever happens:
duplicates, kill -9 mid-batch, a store going down, a poison event."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka import Producer

from ops.stack import manager
from producers import commands as c
from producers.client import CommandClient, producer_config
from schemas.config.settings import Settings
from schemas.topics import Topics
from tests.fixtures.kafka_read import read_topic
from tests.fixtures.oracle import assert_read_models_equal_oracle, traffic
from tests.fixtures.workers import Worker

SKUS = [f"F-{i}" for i in range(30)]


@pytest.fixture(scope="module")
def workers(module_settings: Settings, make_worker: Callable[[str], Worker]) -> dict[str, Worker]:
    return {
        role: make_worker(role)
        for role in ("command-processor", "search-projection", "pricing-projection")
    }


@pytest.fixture(scope="module")
def client(module_settings: Settings, workers: dict[str, Worker]) -> Iterator[CommandClient]:
    with CommandClient(module_settings) as client:
        client.send(c.register_product("PROBE", "probe"), timeout_s=120)
        client.send_batch([c.register_product(s, f"Product {s}", brand="Acme") for s in SKUS])
        yield client


def test_traffic_lands_exactly_once(client: CommandClient, module_settings: Settings) -> None:
    client.send_batch(traffic(SKUS, 600, seed=1))
    assert_read_models_equal_oracle(module_settings, SKUS)


def test_redelivered_events_change_nothing(
    client: CommandClient, module_settings: Settings
) -> None:
    topics = Topics.from_settings(module_settings)
    records = read_topic(module_settings, topics.events)
    producer = Producer(producer_config(module_settings))
    for record in records[: len(records) // 2]:
        producer.produce(
            topics.events, key=record["key"], value=record["raw"], partition=record["partition"]
        )
    producer.flush(30)
    client.send_batch(traffic(SKUS, 50, seed=2))  # something new behind the duplicates
    assert_read_models_equal_oracle(module_settings, SKUS)


def test_kill9_of_both_projections_mid_batch(
    client: CommandClient, module_settings: Settings, workers: dict[str, Worker]
) -> None:
    futures = [client.submit(cmd) for cmd in traffic(SKUS, 3000, seed=3)]
    client.flush()
    for future in futures[:300]:
        future.result(timeout=60)
    for role in ("search-projection", "pricing-projection"):
        workers[role].kill9()
    for future in futures:
        future.result(timeout=120)
    for role in ("search-projection", "pricing-projection"):
        workers[role].start()
    assert_read_models_equal_oracle(module_settings, SKUS)


@pytest.mark.parametrize("service", ["elasticsearch", "postgres"])
def test_a_store_down_while_events_flow_loses_nothing(
    client: CommandClient, module_settings: Settings, settings: Settings, service: str
) -> None:
    if settings.testcontainers:
        pytest.skip("stops a service of the local stack")
    manager.down(settings, [service])
    try:
        client.send_batch(traffic(SKUS, 300, seed=4 if service == "postgres" else 5))
    finally:
        manager.up(settings, [service])
    assert_read_models_equal_oracle(module_settings, SKUS)


def test_a_poison_event_is_dead_lettered_and_the_rest_applied(
    client: CommandClient, module_settings: Settings
) -> None:
    topics = Topics.from_settings(module_settings)
    producer = Producer(producer_config(module_settings))
    producer.produce(topics.events, key=b"F-0", value=b'{"type": "PriceChanged", "sku": "F-0"')
    producer.flush(30)
    client.send_batch(traffic(SKUS, 100, seed=6))
    assert_read_models_equal_oracle(module_settings, SKUS)
    for role in ("search-projection", "pricing-projection"):
        letters = [r["value"] for r in read_topic(module_settings, topics.dead_letters(role))]
        assert any(d["key"] == "F-0" and d["error"]["rule"] == "json" for d in letters), role


def test_two_workers_share_a_role_and_sigterm_loses_nothing(
    client: CommandClient,
    module_settings: Settings,
    workers: dict[str, Worker],
    make_worker: Callable[[str], Worker],
) -> None:
    from ops.status import collect

    second = make_worker("pricing-projection")
    futures = [client.submit(cmd) for cmd in traffic(SKUS, 2000, seed=7)]
    client.flush()
    for future in futures[:200]:
        future.result(timeout=60)
    second.stop()  # SIGTERM mid-stream: the batch in flight is finished and committed
    workers["search-projection"].stop()
    workers["search-projection"].start()
    for future in futures:
        future.result(timeout=120)
    assert_read_models_equal_oracle(module_settings, SKUS)
    third = make_worker("pricing-projection")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        pricing = next(r for r in collect(module_settings, 0.5) if r.role == "pricing-projection")
        if pricing.members == 2:
            break
    assert pricing.members == 2
    client.send_batch(traffic(SKUS, 300, seed=8))
    assert_read_models_equal_oracle(module_settings, SKUS)
    third.stop()
