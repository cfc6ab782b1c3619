"""Reading the product events topic over offset ranges, with a consumer of our own.

Manual assignment (no consumer group), so reading never moves a live
projection's committed offsets. Committed records only (``read_committed``):
what an aborted transaction of the processor left in the log is never read.
Records are decoded (and upcast) by the same codec as the live projections;
a record that does not decode is handed back separately, to be dead-lettered.

A partition is read to its end when the consumer reports the end, not when
the last offset is seen: a transactional topic ends with a commit marker,
which is no record.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from confluent_kafka import Consumer, KafkaError, TopicPartition

from read_models.projection import PositionedEvent
from schemas import codec
from schemas.config.connections import kafka_config
from schemas.config.settings import Settings
from schemas.errors import ContractError
from schemas.topics import Topics

__all__ = ["Batch", "Undecodable", "end_offsets", "offsets_for_time", "read"]


@dataclass(frozen=True)
class Undecodable:
    """A record of the events topic that is no valid event (it goes to a dead-letter topic)."""

    partition: int
    offset: int
    key: bytes | None
    raw: bytes | None
    error: ContractError


@dataclass
class Batch:
    events: list[PositionedEvent] = field(default_factory=list)
    undecodable: list[Undecodable] = field(default_factory=list)
    #: partition -> last offset read in this batch
    reached: dict[int, int] = field(default_factory=dict)
    #: (partition, offset) -> (key, original bytes): what a dead letter keeps
    originals: dict[tuple[int, int], tuple[bytes | None, bytes | None]] = field(
        default_factory=dict
    )

    def add(self, partition: int, offset: int, key: bytes | None, raw: bytes | None) -> None:
        """Decode (and upcast) one record into the batch."""
        self.reached[partition] = max(self.reached.get(partition, -1), offset)
        self.originals[(partition, offset)] = (key, raw)
        try:
            event = codec.decode_event(raw if raw is not None else b"")
        except ContractError as err:
            self.undecodable.append(Undecodable(partition, offset, key, raw, err))
            return
        self.events.append(PositionedEvent(event, partition, offset))


def _consumer(settings: Settings, *, eof: bool = False) -> Consumer:
    return Consumer(
        {
            **kafka_config(settings),
            "group.id": "eventcart-event-log",  # manual assignment: never joins, never commits
            "enable.auto.commit": False,
            "enable.partition.eof": eof,
            "auto.offset.reset": "earliest",
            "isolation.level": "read_committed",
            "fetch.max.bytes": 64 * 1024 * 1024,
            "max.partition.fetch.bytes": 16 * 1024 * 1024,
        }
    )


def end_offsets(settings: Settings) -> dict[int, tuple[int, int]]:
    """partition -> (first offset, next offset to be written) of the events topic now."""
    topic = Topics.from_settings(settings).events
    consumer = _consumer(settings)
    try:
        partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)
            for p in partitions
        }
    finally:
        consumer.close()


def offsets_for_time(settings: Settings, timestamp_ms: int) -> dict[int, int]:
    """partition -> first offset at or after the timestamp (the end where none is)."""
    topic = Topics.from_settings(settings).events
    consumer = _consumer(settings)
    try:
        partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        found = consumer.offsets_for_times(
            [TopicPartition(topic, p, timestamp_ms) for p in partitions], timeout=30
        )
        ends = {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=30)[1]
            for p in partitions
        }
        return {tp.partition: tp.offset if tp.offset >= 0 else ends[tp.partition] for tp in found}
    finally:
        consumer.close()


#: One record as read, before decoding: (partition, offset, key, value).
RawRecord = tuple[int, int, bytes | None, bytes | None]


def read_raw(
    settings: Settings,
    start: Mapping[int, int],
    stop: Mapping[int, int],
    batch_size: int = 5000,
) -> Iterator[list[RawRecord]]:
    """The records in [start[p], stop[p]) for each partition p, undecoded, in batches
    as they arrive (each partition's in order)."""
    todo = {p: (start.get(p, 0), end) for p, end in stop.items() if start.get(p, 0) < end}
    if not todo:
        return
    topic = Topics.from_settings(settings).events
    consumer = _consumer(settings, eof=True)
    try:
        consumer.assign([TopicPartition(topic, p, first) for p, (first, _) in todo.items()])
        remaining = set(todo)
        while remaining:
            records: list[RawRecord] = []
            # What is fetched already; else wait (briefly) for the next record or the end.
            messages = consumer.consume(batch_size, timeout=0) or consumer.consume(1, timeout=1.0)
            for message in messages:
                partition, offset = message.partition() or 0, message.offset() or 0
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        remaining.discard(partition)  # the end: stop is at or beyond it
                    continue
                if partition not in remaining or offset >= todo[partition][1]:
                    continue
                if offset >= todo[partition][1] - 1:
                    remaining.discard(partition)
                records.append((partition, offset, message.key(), message.value()))
            for partition in list(remaining):
                position = consumer.position([TopicPartition(topic, partition)])[0].offset
                if position >= todo[partition][1]:
                    remaining.discard(partition)  # past a marker at the end of the range
            if records:
                yield records
    finally:
        consumer.close()


def read(
    settings: Settings,
    start: Mapping[int, int],
    stop: Mapping[int, int],
    batch_size: int = 5000,
) -> Iterator[Batch]:
    """Batches of the events in [start[p], stop[p]) for each partition p, decoded."""
    for records in read_raw(settings, start, stop, batch_size):
        batch = Batch()
        for partition, offset, key, value in records:
            batch.add(partition, offset, key, value)
        yield batch
