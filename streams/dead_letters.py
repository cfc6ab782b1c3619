"""The dead-letter record every consumer writes for what it could not handle.

One shape for all consumers, so `eventcart dlq` can list, show and re-drive
any of them: where the record came from, why it failed, and the original bytes.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any


def dead_letter(
    consumer: str, message: Any, raw: bytes | None, error: dict[str, str]
) -> dict[str, Any]:
    """message is the Faust/Kafka message the record came in (topic, partition, offset, key)."""
    return {
        "consumer": consumer,
        "topic": message.topic,
        "partition": message.partition,
        "offset": message.offset,
        "key": message.key.decode("utf-8", "replace") if message.key else None,
        "error": error,
        "failed_at": datetime.now(UTC).isoformat(),
        "value": (raw or b"").decode("utf-8", "replace"),
    }
