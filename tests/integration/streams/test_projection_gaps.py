"""A read model never applies past a version gap: it dead-letters the event with rule
``version_gap``, reads the missing versions back from the log and ends whole.

The gap is made the way a consumer makes one: the projections' committed
offsets are moved forward past two events of a product while they are
stopped (what a consumer that skips records does, or an operator's
``--reset-offsets --shift-by``), so the next event they read of it is two
versions ahead of what their stores hold.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from confluent_kafka import ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from producers import commands as c
from producers.client import CommandClient
from schemas.config.settings import Settings
from schemas.topics import Topics
from tests.fixtures.kafka_read import read_topic
from tests.fixtures.load import wait_until
from tests.fixtures.oracle import assert_read_models_equal_oracle, traffic
from tests.fixtures.read_models import wait_for_versions
from tests.fixtures.workers import Worker

SKUS = [f"G-{i}" for i in range(10)]
PROJECTIONS = ("search-projection", "pricing-projection")


@pytest.fixture(scope="module")
def workers(module_settings: Settings, make_worker: Callable[[str], Worker]) -> dict[str, Worker]:
    return {role: make_worker(role) for role in ("command-processor", *PROJECTIONS)}


@pytest.fixture(scope="module")
def client(module_settings: Settings, workers: dict[str, Worker]) -> Iterator[CommandClient]:
    with CommandClient(module_settings) as client:
        client.send(c.register_product("PROBE", "probe"), timeout_s=120)
        client.send_batch([c.register_product(s, f"Product {s}", brand="Acme") for s in SKUS])
        client.send_batch(traffic(SKUS, 200, seed=7))
        yield client


def move_committed_offset(settings: Settings, role: str, partition: int, offset: int) -> None:
    """What an operator's --reset-offsets does: only possible once the group is empty
    (a stopped worker is a static member until its session times out)."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    group = f"{settings.topic_prefix}-{role}"

    def empty() -> bool:
        described = admin.describe_consumer_groups([group])[group].result(timeout=30)
        return not described.members

    wait_until(empty, 60, f"{group} without members")
    events = Topics.from_settings(settings).events
    request = ConsumerGroupTopicPartitions(group, [TopicPartition(events, partition, offset)])
    for future in admin.alter_consumer_group_offsets([request]).values():
        result = future.result(timeout=30)
        assert all(tp.error is None for tp in result.topic_partitions), result


def test_events_a_consumer_skipped_are_read_back_from_the_log(
    client: CommandClient, module_settings: Settings, workers: dict[str, Worker]
) -> None:
    sku = SKUS[0]
    before = client.send(c.adjust_stock(sku, 1)).version or 0
    wait_for_versions(module_settings, {sku: before})
    for role in PROJECTIONS:
        workers[role].stop()

    skipped = [client.send(c.adjust_stock(sku, n)) for n in (2, 3)]
    last = client.send(c.change_price(sku, "7.00", "EUR"))
    (position,) = last.positions
    for role in PROJECTIONS:
        move_committed_offset(module_settings, role, position.partition, position.offset)
        workers[role].start()

    wait_for_versions(module_settings, {sku: last.version or 0})
    dead_letters = Topics.from_settings(module_settings).dead_letters
    for role in PROJECTIONS:
        letters = [
            r["value"]
            for r in read_topic(module_settings, dead_letters(role))
            if r["value"]["key"] == sku
        ]
        assert [letter["error"]["rule"] for letter in letters] == ["version_gap"], role
        assert (
            f"at version {before} in the read model, this event has version {last.version}"
            in letters[0]["error"]["message"]
        )
    assert [r.version for r in skipped] == [before + 1, before + 2]
    assert_read_models_equal_oracle(module_settings, SKUS)
