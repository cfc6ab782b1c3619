"""Reading the product events topic over an offset range, with our own consumer.

Manual assignment (no consumer group), so a replay never moves the live
projections' committed offsets. Records are decoded (and upcast) by the same
codec as the live projections; a record that does not decode is handed back
separately, to be dead-lettered like the live path does.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

from confluent_kafka import Consumer, TopicPartition

from ops.settings import Settings
from ops.topics import Topics
from read_models.projection import PositionedEvent, Sink
from schemas import codec
from schemas.errors import ContractError


@dataclass
class Batch:
    events: list[PositionedEvent] = field(default_factory=list)
    undecodable: list[tuple[int, int, bytes | None, str]] = field(default_factory=list)
    #: partition -> last offset read in this batch
    reached: dict[int, int] = field(default_factory=dict)


def _consumer(settings: Settings) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": "eventcart-replay",  # manual assignment: never joins, never commits
            "enable.auto.commit": False,
            "enable.partition.eof": False,
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


def read(
    settings: Settings,
    start: Mapping[int, int],
    stop: Mapping[int, int],
    batch_size: int = 5000,
) -> Iterator[Batch]:
    """Batches of the events in [start[p], stop[p]) for each partition p."""
    todo = {p: (start.get(p, 0), end) for p, end in stop.items() if start.get(p, 0) < end}
    if not todo:
        return
    topic = Topics.from_settings(settings).events
    consumer = _consumer(settings)
    try:
        consumer.assign([TopicPartition(topic, p, first) for p, (first, _) in todo.items()])
        remaining = set(todo)
        while remaining:
            batch = Batch()
            for message in consumer.consume(batch_size, timeout=1.0):
                if message.error() is not None:
                    continue
                partition, offset = message.partition() or 0, message.offset() or 0
                if partition not in remaining or offset >= todo[partition][1]:
                    continue
                batch.reached[partition] = offset
                if offset >= todo[partition][1] - 1:
                    remaining.discard(partition)
                raw = message.value()
                try:
                    event = codec.decode_event(raw if raw is not None else b"")
                except ContractError as err:
                    batch.undecodable.append(
                        (partition, offset, raw, f"{err.field}: {err.message}")
                    )
                    continue
                batch.events.append(PositionedEvent(event, partition, offset))
            if batch.reached:
                yield batch
    finally:
        consumer.close()


def catch_up(
    settings: Settings,
    sink: Sink,
    start: Mapping[int, int],
    end: Mapping[int, int],
    progress: Callable[[Batch, int, int], None],
) -> tuple[int, int]:
    """Apply [start, end) through sink, then go round again for what arrived meanwhile,
    until a pass has little left to read; returns (applied, failed or undecodable)."""
    applied = failed = 0
    begin, stop = dict(start), dict(end)
    while True:
        # Bigger batches than the live projection's: a rebuild favours throughput.
        for batch in read(settings, begin, stop, batch_size=20_000):
            report = sink.apply(batch.events)
            applied += report.applied
            failed += len(report.failed) + len(batch.undecodable)
            progress(batch, applied, failed)
        begin = {p: max(begin.get(p, 0), stop[p]) for p in stop}
        stop = {p: high for p, (_, high) in end_offsets(settings).items()}
        if sum(stop[p] - begin.get(p, 0) for p in stop) < 1000:
            return applied, failed
