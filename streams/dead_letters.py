"""The dead-letter record every consumer writes for what it could not handle.

One shape for all consumers, so `eventcart dlq` can list, show and re-drive
any of them: where the record came from, why it failed, and the original
bytes (base64, so any bytes survive).

A dead letter must always fit in a Kafka record, whatever it holds: a
poison message near Kafka's 1 MiB limit, or one full of control characters
(which grow several times when escaped in JSON), would otherwise make a dead
letter the broker refuses, and the batch around it could never be committed.
So the original is kept up to :data:`MAX_ORIGINAL_BYTES` (with its full size
and SHA-256, and ``value_truncated`` set when cut), the key up to
:data:`MAX_KEY_BYTES`, and the error message up to :data:`MAX_MESSAGE_CHARS`.
A truncated original can still be read at its source topic, partition and
offset while that topic keeps it (product events: forever).
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson
from confluent_kafka import KafkaError, Message, Producer

__all__ = [
    "MAX_KEY_BYTES",
    "MAX_MESSAGE_CHARS",
    "MAX_ORIGINAL_BYTES",
    "DeadLetterError",
    "DeadLetterWriter",
    "dead_letter",
    "original",
    "original_key",
]

#: 256 KiB: every valid command or event (the codec's limit) is kept whole.
MAX_ORIGINAL_BYTES = 256 * 1024
MAX_KEY_BYTES = 1024
MAX_MESSAGE_CHARS = 2000


def _b64(raw: bytes, limit: int) -> tuple[str, bool]:
    return base64.b64encode(raw[:limit]).decode("ascii"), len(raw) > limit


def dead_letter(
    consumer: str,
    *,
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    raw: bytes | None,
    error: dict[str, str],
) -> dict[str, Any]:
    """The dead letter of the record at (topic, partition, offset); at most ~350 KiB."""
    value = raw or b""
    value_b64, value_truncated = _b64(value, MAX_ORIGINAL_BYTES)
    key_b64, key_truncated = _b64(key or b"", MAX_KEY_BYTES)
    bounded_error = {
        name: text if len(text) <= MAX_MESSAGE_CHARS else text[:MAX_MESSAGE_CHARS] + "..."
        for name, text in error.items()
    }
    return {
        "consumer": consumer,
        "topic": topic,
        "partition": partition,
        "offset": offset,
        # for people; the exact bytes are in key_b64
        "key": (key or b"")[:128].decode("utf-8", "replace") if key is not None else None,
        "key_b64": key_b64 if key is not None else None,
        "key_truncated": key_truncated,
        "error": bounded_error,
        "failed_at": datetime.now(UTC).isoformat(),
        "value_b64": value_b64,
        "value_size": len(value),
        "value_sha256": hashlib.sha256(value).hexdigest(),
        "value_truncated": value_truncated,
    }


def original(letter: dict[str, Any]) -> bytes | None:
    """The original bytes a dead letter holds, or None when it holds only a prefix.

    Dead letters written before originals were kept in base64 hold them as text
    in ``value``; those are returned as UTF-8.
    """
    if "value_b64" in letter:
        if letter.get("value_truncated"):
            return None
        return base64.b64decode(letter["value_b64"])
    value = letter.get("value")
    return value.encode() if isinstance(value, str) else None


def original_key(letter: dict[str, Any]) -> bytes | None:
    if letter.get("key_b64") is not None and not letter.get("key_truncated"):
        return base64.b64decode(letter["key_b64"])
    key = letter.get("key")
    return key.encode() if isinstance(key, str) else None


class DeadLetterWriter:
    """Writes one consumer's dead letters to its dead-letter topic, and confirms them.

    ``flush`` returns only once Kafka has every letter added so far (or raises),
    so a caller that commits its offsets after ``flush`` never moves past a
    record whose dead letter was lost.
    """

    def __init__(self, connection: Mapping[str, Any], topic: str, consumer: str) -> None:
        """``connection``: librdkafka's connection properties (``schemas.config.connections.kafka_config``)."""
        self.topic, self.consumer = topic, consumer
        self._producer = Producer(
            {
                **connection,
                "enable.idempotence": True,
                # as the processor's output: readable by any client without a codec package
                "compression.type": "gzip",
                "compression.level": 1,
                "linger.ms": 5,
                "message.max.bytes": 1024 * 1024,
            }
        )
        self._failures: list[str] = []
        self.written = 0

    def add(
        self,
        *,
        topic: str,
        partition: int,
        offset: int,
        key: bytes | None,
        raw: bytes | None,
        error: dict[str, str],
    ) -> None:
        letter = dead_letter(
            self.consumer,
            topic=topic,
            partition=partition,
            offset=offset,
            key=key,
            raw=raw,
            error=error,
        )
        while True:
            try:
                self._producer.produce(
                    self.topic, key=key, value=orjson.dumps(letter), on_delivery=self._delivered
                )
                break
            except BufferError:
                self._producer.poll(0.05)
        self.written += 1

    def _delivered(self, err: KafkaError | None, _msg: Message) -> None:
        if err is not None:
            self._failures.append(str(err))

    def flush(self, timeout_s: float = 60.0) -> None:
        remaining = self._producer.flush(timeout_s)
        failures, self._failures = self._failures, []
        if remaining or failures:
            raise DeadLetterError(
                f"{remaining} dead letter(s) not delivered in {timeout_s:.0f} s"
                + (f"; refused: {failures[0]}" if failures else "")
            )


class DeadLetterError(RuntimeError):
    """Kafka did not take a dead letter: the batch must not be committed."""
