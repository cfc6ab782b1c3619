"""The ceiling for the command processor: a bare transactional copy loop.

What the processor does minus the deciding: consume the commands in batches
(whatever has arrived, up to the processor's batch size), write three records
per command (as the processor writes an event, a result and a changelog
record) into one Kafka transaction with the consumed offsets, commit, repeat.
No decoding, no state, no store.

Run as ``python -m tests.benchmarks.txn_copy SOURCE TARGET`` with the EVENTCART_*
settings of the benchmark; stops on SIGTERM.
"""

from __future__ import annotations

import signal
import sys
import threading

from confluent_kafka import Consumer, Producer, TopicPartition

from schemas.config.settings import get_settings


def main(source: str, target: str) -> None:
    settings = get_settings()
    stopping = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stopping.set())
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": f"{settings.topic_prefix}-txn-copy",
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "fetch.max.bytes": 32 * 1024 * 1024,
        }
    )
    producer = Producer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "transactional.id": f"{settings.topic_prefix}-txn-copy",
            "compression.type": "lz4",
            "linger.ms": 2,
            "batch.size": 1024 * 1024,
            "queue.buffering.max.messages": 1_000_000,
        }
    )
    producer.init_transactions(30)
    consumer.subscribe([source])
    size = settings.processor_batch_max
    while not stopping.is_set():
        messages = consumer.consume(size, timeout=0) or consumer.consume(1, timeout=0.1)
        if not messages:
            continue
        producer.begin_transaction()
        last: dict[int, int] = {}
        for message in messages:
            if message.error() is not None:
                continue
            partition = message.partition() or 0
            for _ in range(3):
                while True:
                    try:
                        producer.produce(target, key=message.key(), value=message.value())
                        break
                    except BufferError:
                        producer.poll(0.05)
            last[partition] = max(last.get(partition, -1), message.offset() or 0)
        offsets = [TopicPartition(source, p, o + 1) for p, o in last.items()]
        producer.send_offsets_to_transaction(offsets, consumer.consumer_group_metadata(), 30)
        producer.commit_transaction(30)
    consumer.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
