"""What the processor reports about each command batch (Prometheus, and a slow batch in
its log with the time of each step)."""

from __future__ import annotations

import logging
import time

from confluent_kafka import Consumer, TopicPartition

from schemas.topics import PROCESSOR
from streams import metrics
from streams.command_batch import BatchDecision, Record

__all__ = ["SLOW_BATCH_S", "describe_steps", "record_batch"]

log = logging.getLogger("streams.processor")

#: A batch slower than this is logged with the time of each of its steps.
SLOW_BATCH_S = 1.0


def describe_steps(steps: dict[str, float]) -> str:
    """A batch's steps for the log: ``events 0.01 s, records 5.20 s, ...``."""
    return ", ".join(f"{k} {v:.2f} s" for k, v in steps.items()) or "no step"


def record_batch(
    consumer: Consumer,
    topic: str,
    decision: BatchDecision,
    records: list[Record],
    began: float,
    steps: dict[str, float],
) -> None:
    """Batch size and time (``began``: ``perf_counter`` at its start; ``steps``: the
    writer's), answers by outcome, and the lag each partition was left with (cached
    watermarks: no call)."""
    took = time.perf_counter() - began
    metrics.BATCH_SIZE.labels(PROCESSOR).observe(len(records))
    metrics.BATCH_SECONDS.labels(PROCESSOR).observe(took)
    if took > SLOW_BATCH_S:
        log.warning(
            "a batch of %d commands took %.1f s: %s", len(records), took, describe_steps(steps)
        )
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
