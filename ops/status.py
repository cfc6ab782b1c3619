"""Where each consumer stands: committed position, end of topic, lag, speed, dead letters.

Read from Kafka alone (committed offsets of each role's consumer group and the
topics' watermarks), so it works whether or not a worker is running, and it can
tell a stalled consumer (lag, and no progress while we watched) from an idle one.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, KafkaError, TopicPartition
from confluent_kafka.admin import AdminClient

from read_models.registry import READ_MODELS
from schemas.config.connections import kafka_config
from schemas.config.settings import Settings
from schemas.topics import PROCESSOR, Topics

#: role -> the topic it consumes (by attribute of Topics)
ROLE_INPUTS = {PROCESSOR: "commands", **{model.role: "events" for model in READ_MODELS}}


@dataclass(frozen=True)
class PartitionStatus:
    role: str
    partition: int
    committed: int | None
    start: int
    end: int
    events_per_s: float
    #: committed records after the committed offset, counted when the distance is small
    #: (a transactional topic ends with commit markers, which are no records to consume)
    pending: int | None = None
    #: lag as time: the age in seconds of the oldest record not yet consumed (its
    #: timestamp, set when it was produced), 0 when none waits; what tells an operator
    #: how stale a price is, which a count of records cannot
    behind_s: float = 0.0

    @property
    def lag(self) -> int:
        """Records not yet consumed (from the start of the topic when nothing is committed)."""
        if self.pending is not None:
            return self.pending
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
    def behind_s(self) -> float:
        """The age of the oldest record any of its partitions has not consumed."""
        return max((p.behind_s for p in self.partitions), default=0.0)

    @property
    def stalled(self) -> bool:
        """Behind the end of its topic and not moving (or nobody is consuming)."""
        return self.lag > 0 and (self.members == 0 or self.events_per_s == 0)


def age(seconds: float) -> str:
    """A lag in time as an operator reads it: ``0 s``, ``4.2 s``, ``3 min 5 s``, ``2 h 4 min``."""
    if seconds < 60:
        return "0 s" if seconds < 0.05 else f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    return f"{minutes // 60} h {minutes % 60} min"


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


#: Up to this distance between the committed offset and the end, records are counted.
_COUNT_BELOW = 1000


#: Longest one partition is read for its waiting records.
_READ_S = 2.0


def _waiting(
    consumer: Consumer, topic: str, partition: int, span: tuple[int, int], count: bool
) -> tuple[int | None, int | None]:
    """(committed records in [offset, end), when ``count``; the timestamp in ms of the
    first of them, None when there is none). Markers are not records. Bounded by the
    end seen before (a partition written all the time, by back-to-back transactions,
    never reaches an end of its own) and by :data:`_READ_S`."""
    offset, end = span
    consumer.assign([TopicPartition(topic, partition, offset)])
    found, first_ms = 0, None
    deadline = time.monotonic() + _READ_S
    try:
        while time.monotonic() < deadline:
            messages = consumer.consume(_COUNT_BELOW, timeout=0) or consumer.consume(1, timeout=0.2)
            for message in messages:
                error = message.error()
                if error is not None and error.code() == KafkaError._PARTITION_EOF:
                    return (found if count else None), first_ms
                if error is not None or (message.offset() or 0) >= end:
                    continue
                found += 1
                if first_ms is None:
                    first_ms = message.timestamp()[1]
                if not count:
                    return None, first_ms
            if messages and (messages[-1].offset() or 0) >= end - 1:
                break  # read up to the end seen before
    finally:
        consumer.unassign()
    return (found if count else None), first_ms


def collect(settings: Settings, sample_s: float = 3.0) -> list[RoleStatus]:
    """Status of every role, with speeds measured over sample_s seconds."""
    admin = AdminClient(kafka_config(settings))
    consumer = Consumer(
        {
            **kafka_config(settings),
            "group.id": "eventcart-status",
            "enable.partition.eof": True,
            "enable.auto.commit": False,
        }
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
            partitions = []
            for p, (low, high) in sorted(ends.items()):
                committed = after.get(p)
                position = low if committed is None else committed
                pending, first_ms = (
                    _waiting(
                        consumer, topic, p, (position, high), count=high - position <= _COUNT_BELOW
                    )
                    if high > position
                    else (None, None)
                )
                behind = 0.0 if first_ms is None else max(0.0, time.time() - first_ms / 1000)
                speed = max(0, after.get(p, 0) - before[role].get(p, after.get(p, 0))) / elapsed
                partitions.append(
                    PartitionStatus(role, p, committed, low, high, speed, pending, behind)
                )
            statuses.append(
                RoleStatus(role, group, topic, _members(admin, group), partitions, letters)
            )
        return statuses
    finally:
        consumer.close()
