"""Where each consumer stands: committed position, end of topic, lag, speed, dead letters.

Read from Kafka alone (committed offsets of each role's consumer group and the
topics' watermarks), so it works whether or not a worker is running, and it can
tell a stalled consumer (lag, and no progress while we watched) from an idle one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

from ops.settings import Settings
from ops.topics import Topics

#: role -> the topic it consumes (by attribute of Topics)
ROLE_INPUTS = {
    "command-processor": "commands",
    "search-projection": "events",
    "pricing-projection": "events",
}


@dataclass(frozen=True)
class PartitionStatus:
    role: str
    partition: int
    committed: int | None
    start: int
    end: int
    events_per_s: float

    @property
    def lag(self) -> int:
        """Records not yet consumed (from the start of the topic when nothing is committed)."""
        return self.end - (self.start if self.committed is None else self.committed)


@dataclass(frozen=True)
class RoleStatus:
    role: str
    group: str
    topic: str
    members: int
    partitions: list[PartitionStatus]
    dead_letters: int

    @property
    def lag(self) -> int:
        return sum(p.lag for p in self.partitions)

    @property
    def events_per_s(self) -> float:
        return sum(p.events_per_s for p in self.partitions)

    @property
    def stalled(self) -> bool:
        """Behind the end of its topic and not moving (or nobody is consuming)."""
        return self.lag > 0 and (self.members == 0 or self.events_per_s == 0)


def group_id(settings: Settings, role: str) -> str:
    return f"{settings.topic_prefix}-{role}"


def _committed(admin: AdminClient, group: str) -> dict[int, int]:
    futures = admin.list_consumer_group_offsets([ConsumerGroupTopicPartitions(group)])
    result = next(iter(futures.values())).result()
    return {tp.partition: tp.offset for tp in result.topic_partitions if tp.offset >= 0}


def _members(admin: AdminClient, group: str) -> int:
    described = next(iter(admin.describe_consumer_groups([group]).values())).result()
    return len(described.members)


def _ends(consumer: Consumer, topic: str) -> dict[int, tuple[int, int]]:
    partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
    return {
        p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10) for p in partitions
    }


def collect(settings: Settings, sample_s: float = 3.0) -> list[RoleStatus]:
    """Status of every role, with speeds measured over sample_s seconds."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    consumer = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": "eventcart-status"}
    )
    topics = Topics.from_settings(settings)
    try:
        before = {role: _committed(admin, group_id(settings, role)) for role in ROLE_INPUTS}
        began = time.monotonic()
        time.sleep(sample_s)
        elapsed = time.monotonic() - began
        statuses = []
        for role, attribute in ROLE_INPUTS.items():
            group = group_id(settings, role)
            topic = getattr(topics, attribute)
            after = _committed(admin, group)
            ends = _ends(consumer, topic)
            letters = sum(
                high - low for low, high in _ends(consumer, topics.dead_letters(role)).values()
            )
            partitions = [
                PartitionStatus(
                    role,
                    p,
                    after.get(p),
                    low,
                    high,
                    max(0, after.get(p, 0) - before[role].get(p, after.get(p, 0))) / elapsed,
                )
                for p, (low, high) in sorted(ends.items())
            ]
            statuses.append(
                RoleStatus(role, group, topic, _members(admin, group), partitions, letters)
            )
        return statuses
    finally:
        consumer.close()
