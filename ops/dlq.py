"""Dead letters: read them, and re-drive them once the cause is fixed.

Re-driving goes through the same code as the live consumer: a projection's dead
letter is decoded (with upcasting) and driven through the same step into a sink
that decides by what the store holds (each SKU's version, no checkpoint); a
command is produced again onto the commands topic with its key. A re-driven event
the read model already holds (or a later event of its SKU) changes nothing and
is reported as such.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from confluent_kafka import Consumer, Producer, TopicPartition

from producers.client import producer_config
from read_models.registry import READ_MODELS
from schemas.config.connections import kafka_config
from schemas.config.settings import Settings
from schemas.topics import CONSUMERS, PROCESSOR, Topics
from streams import dead_letters, event_log

ALIASES = {"processor": PROCESSOR, **{model.name: model.role for model in READ_MODELS}}


def consumer_name(name: str) -> str:
    full = ALIASES.get(name, name)
    if full not in CONSUMERS:
        raise ValueError(f"unknown consumer {name!r}; choose from {', '.join(CONSUMERS)}")
    return full


@dataclass(frozen=True)
class Letter:
    dlq_offset: int
    record: dict[str, Any]


def read(settings: Settings, consumer: str, limit: int | None = None) -> list[Letter]:
    """The dead letters of a consumer, oldest first (the last `limit` if given)."""
    topic = Topics.from_settings(settings).dead_letters(consumer)
    reader = Consumer(
        {
            **kafka_config(settings),
            "group.id": "eventcart-dlq-reader",
            "enable.auto.commit": False,
        }
    )
    try:
        low, high = reader.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
        start = max(low, high - limit) if limit else low
        if high <= start:
            return []
        reader.assign([TopicPartition(topic, 0, start)])
        letters: list[Letter] = []
        while not letters or letters[-1].dlq_offset < high - 1:
            message = reader.poll(10)
            if message is None:
                break
            value = message.value()
            if message.error() is None and value:
                letters.append(Letter(message.offset() or 0, orjson.loads(value)))
        return letters
    finally:
        reader.close()


@dataclass(frozen=True)
class Redrive:
    dlq_offset: int
    outcome: str  # "applied" | "already held" | "failed again" | "resent"
    detail: str = ""


def redrive(settings: Settings, consumer: str, letters: list[Letter]) -> list[Redrive]:
    """Send the letters through their consumer's code again; report each one's outcome."""
    if consumer == PROCESSOR:
        return _resend_commands(settings, letters)
    from read_models.registry import by_role
    from streams.batch_step import BatchStep, StepReport
    from streams.driver import drive
    from streams.sources import Batches

    # The same step and driver as every other path into a read model: a letter that
    # fails again is dead-lettered again, with the reason it failed this time.
    sink = by_role(consumer).repair_sink(settings)
    step = BatchStep.for_role(consumer, sink, settings)
    batches: list[event_log.Batch] = []
    for letter in letters:
        record = letter.record
        raw = dead_letters.original(record)
        if raw is None:
            raw = _source_record(settings, record)
        batch = event_log.Batch()
        batch.add(record["partition"], record["offset"], dead_letters.original_key(record), raw)
        batches.append(batch)
    outcomes: list[Redrive] = []

    def outcome(_batch: event_log.Batch, report: StepReport, _total: StepReport) -> None:
        letter = letters[len(outcomes)]
        if report.letters:
            _, _, rule, message = report.letters[0]
            outcomes.append(Redrive(letter.dlq_offset, "failed again", f"{rule}: {message}"))
        elif report.applied:
            outcomes.append(Redrive(letter.dlq_offset, "applied"))
        else:
            outcomes.append(
                Redrive(
                    letter.dlq_offset,
                    "already held",
                    "the read model already holds this version or a newer one",
                )
            )

    try:
        drive(Batches(batches), step, outcome)
    finally:
        sink.close()
    return outcomes


def _resend_commands(settings: Settings, letters: list[Letter]) -> list[Redrive]:
    producer = Producer(producer_config(settings))
    topic = Topics.from_settings(settings).commands
    for letter in letters:
        raw = dead_letters.original(letter.record)
        if raw is None:
            raw = _source_record(settings, letter.record)
        producer.produce(topic, key=dead_letters.original_key(letter.record), value=raw)
    producer.flush(30)
    return [
        Redrive(letter.dlq_offset, "resent", "answered on the results topic") for letter in letters
    ]


def _source_record(settings: Settings, letter: dict[str, Any]) -> bytes | None:
    """The original record at the dead letter's source, for letters that hold a prefix only."""
    reader = Consumer(
        {
            **kafka_config(settings),
            "group.id": "eventcart-dlq-reader",
            "enable.auto.commit": False,
        }
    )
    try:
        reader.assign([TopicPartition(letter["topic"], letter["partition"], letter["offset"])])
        message = reader.poll(10)
        if message is None or message.error() is not None or message.offset() != letter["offset"]:
            return None
        value: bytes | None = message.value()
        return value
    finally:
        reader.close()
