"""Bringing a partition's local store up to the end of the processor's changelog.

Called for a partition of the commands topic before its first batch is
decided, which is after the consumer fetched the partition's committed
offset. That order matters: the processor's consumer reads committed offsets
with KIP-447's ``require_stable`` (librdkafka sets it for ``read_committed``),
so the fetch waits for any transaction of a previous owner that holds offsets
of this partition. When records of the partition reach us, every changelog
write of earlier owners is committed or aborted, and reading the changelog up
to its last stable offset (read committed) sees all of them.
"""

from __future__ import annotations

import logging
import time

from confluent_kafka import Consumer, KafkaError, TopicPartition

from streams.processor_store import PartitionStore

__all__ = ["restore"]

log = logging.getLogger(__name__)

_BATCH = 10_000


def restore(consumer: Consumer, topic: str, partition: int, store: PartitionStore) -> int:
    """Apply the changelog records after the store's checkpoint; return how many.

    ``consumer`` is a read-committed consumer used by manual assignment only,
    with ``enable.partition.eof`` on: the end is where the committed data ends.
    """
    low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=30)
    start = store.checkpoint
    if start > high or start < low:
        # The store claims records the changelog does not hold (the topic was
        # recreated), or the log start moved past it: start over from the log.
        if start:
            log.warning(
                "%s[%d]: local store at offset %d, changelog holds [%d, %d): rebuilding it",
                topic,
                partition,
                start,
                low,
                high,
            )
        store.reset()
        start = low
    if start >= high:
        return 0
    began = time.monotonic()
    consumer.assign([TopicPartition(topic, partition, start)])
    applied = 0
    try:
        done = False
        while not done:
            records: list[tuple[bytes, bytes | None, int]] = []
            reached = start
            # What is fetched already, else wait (briefly) for the next record or the end.
            messages = consumer.consume(_BATCH, timeout=0) or consumer.consume(1, timeout=1.0)
            for message in messages:
                error = message.error()
                if error is not None:
                    if error.code() == KafkaError._PARTITION_EOF:
                        reached = max(reached, message.offset() or reached)
                        done = True
                        continue
                    raise RuntimeError(f"reading {topic}[{partition}]: {error}")
                key = message.key()
                if key is None:
                    continue
                _, stamp = message.timestamp()
                records.append((key, message.value(), stamp))
                reached = max(reached, (message.offset() or 0) + 1)
            if records or reached > start:
                store.write(records, reached)
                applied += len(records)
                start = reached
    finally:
        consumer.unassign()
    log.info(
        "%s[%d]: %d changelog records restored in %.1f s",
        topic,
        partition,
        applied,
        time.monotonic() - began,
    )
    return applied
