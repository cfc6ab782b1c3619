"""Telling a consumer error that ends the client from one that passes.

librdkafka reports a fatal consumer error (for instance a static member fenced by
its own successor after the group coordinator moved to another broker) as an
error event with code ``_FATAL``, whose ``fatal()`` flag is not always set: the
flag belongs to the underlying error. Missing it leaves a consumer that returns
nothing forever, so every consumer asks here.
"""

from __future__ import annotations

from confluent_kafka import KafkaError


def ends_the_client(error: KafkaError) -> bool:
    """True when the client cannot go on and must be built afresh."""
    return bool(error.fatal()) or error.code() == KafkaError._FATAL
