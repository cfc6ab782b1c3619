"""What the processor reports about each command batch (Prometheus)."""

from __future__ import annotations

import time

from confluent_kafka import Consumer, TopicPartition

from schemas.topics import PROCESSOR
from streams import metrics
from streams.command_batch import BatchDecision, Record

__all__ = ["record_batch"]


def record_batch(
    consumer: Consumer, topic: str, decision: BatchDecision, records: list[Record], began: float
) -> None:
    """Batch size and time (``began``: ``perf_counter`` at its start), answers by
    outcome, and the lag each partition was left with (cached watermarks: no call)."""
    metrics.BATCH_SIZE.labels(PROCESSOR).observe(len(records))
    metrics.BATCH_SECONDS.labels(PROCESSOR).observe(time.perf_counter() - began)
    for answer in decision.answers:
        outcome = (
            "invalid"
            if answer.dead_letter is not None
            else (answer.result["status"] if answer.result and answer.store else "answered_again")
        )
        metrics.COMMANDS.labels(outcome).inc()
    last: dict[int, int] = {}
    for record in records:
        last[record.partition] = max(last.get(record.partition, -1), record.offset)
    for partition, offset in last.items():
        _, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), cached=True)
        if high is not None and high >= 0:
            metrics.LAG.labels(PROCESSOR, str(partition)).set(max(0, high - offset - 1))
