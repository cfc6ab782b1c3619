"""A partition of the commands topic the processor owns now, and what it knows of it."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

from confluent_kafka import Consumer, TopicPartition

from streams.processor_store import PartitionStore

__all__ = ["OwnedPartition", "committed_positions"]

log = logging.getLogger(__name__)


@dataclass
class OwnedPartition:
    """Dropped when the partition is revoked: a partition assigned again starts afresh.

    ``position`` is the commands offset this processor has handled up to (the
    next to read), known once its committed offset was fetched or a batch of
    it committed. A transaction that fires schedules commits it again with the
    group's metadata: that is what fences a processor which lost the partition
    (it must not fire what the new owner fires), as for command batches.
    """

    store: PartitionStore
    #: ``time.monotonic()`` when it was assigned
    assigned_at: float = field(default_factory=time.monotonic)
    restored: bool = False
    expired_at: float = 0.0
    position: int | None = None


def committed_positions(consumer: Consumer, topic: str, partitions: list[int]) -> dict[int, int]:
    """Where the group will go on in each partition: its committed offset, or the start of
    the partition if none was committed yet (as the consumer reads). A partition whose
    offset cannot be told now is left out (and its error logged); a call that fails
    as a whole raises ``KafkaException``.

    ``committed`` (read committed: KIP-447's require_stable) returns only once no
    transaction of a previous owner holds offsets of these partitions.
    """
    known: dict[int, int] = {}
    for tp in consumer.committed([TopicPartition(topic, p) for p in partitions], 10):
        if tp.error is not None:
            log.warning("committed offset of %s[%d]: %s", topic, tp.partition, tp.error)
            continue
        offset = tp.offset
        if offset < 0:
            offset, _ = consumer.get_watermark_offsets(
                TopicPartition(topic, tp.partition), timeout=10
            )
        known[tp.partition] = offset
    return known
