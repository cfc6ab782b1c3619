"""The command processor: the single writer per SKU.

Commands are keyed by SKU, so all commands of one product arrive in one
partition, in order, at one processor. For each batch taken from the stream:

1. every command is decoded and checked against its contract; a broken one is
   answered "rejected" (when it says who it is) and dead-lettered with the reason;
2. a command_id already answered gets its stored result again and publishes nothing;
3. the rest are decided against the product's state (the pure ``streams.catalog``);
4. the batch's events are published and their delivery awaited;
5. only then are the new states and results written to the changelog-backed
   tables and the results published.

That order is what keeps "nothing accepted is ever lost": if the worker dies
between 4 and 5, the commands are redelivered, decided again against the old
state and produce byte-identical events (deterministic ids, timestamps from the
command), which the read models' per-SKU version guards ignore. Offsets are
committed by Faust only after the producer has flushed.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import faust
import orjson
from aiokafka.partitioner import murmur2
from tenacity import AsyncRetrying, retry_if_exception_type, stop_never, wait_exponential

from ops.settings import Settings
from ops.topics import Topics
from schemas import codec
from schemas.errors import ContractError
from streams import dead_letters
from streams.catalog import Accepted, ProductState, decide, evolve_all
from streams.faust_event import as_current

log = logging.getLogger(__name__)

ROLE = "command-processor"


@dataclass
class Outcome:
    """What one command of a batch led to, filled in as the batch proceeds."""

    event: Any  # the Faust event the command came in
    sku: str | None = None
    command_id: str | None = None
    result: dict[str, Any] | None = None
    events: list[dict[str, Any]] = field(default_factory=list)
    state: ProductState | None = None
    dead_letter: dict[str, Any] | None = None
    replay: bool = False  # the result was stored before: answer again, store nothing


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default (murmur2) partitioner gives a key."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


def state_key(sku: str) -> bytes:
    return b"state\x00" + sku.encode()


def result_key(sku: str, command_id: str) -> bytes:
    """Idempotency is per (SKU, command_id): the key lands in the SKU's partition."""
    return f"result\x00{sku}\x00{command_id}".encode()


def rejected(
    command_id: str | None, sku: str | None, reason: str, message: str, **extra: Any
) -> dict[str, Any]:
    return {
        "command_id": command_id,
        "sku": sku,
        "status": "rejected",
        "reason": reason,
        "message": message,
        **extra,
    }


def dead_letter(raw: bytes | None, message: Any, error: dict[str, str]) -> dict[str, Any]:
    return dead_letters.dead_letter(ROLE, message, raw, error)


class CommandProcessor:
    """Wires the pure decider to Kafka through one Faust app."""

    def __init__(self, app: faust.App, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        topics = Topics.from_settings(settings)
        raw: dict[str, Any] = {"key_type": bytes, "value_type": bytes}
        self.commands = app.topic(topics.commands, **raw)
        self.events = app.topic(topics.events, **raw)
        self.results = app.topic(topics.results, **raw)
        self.dead_letters = app.topic(topics.dead_letters(ROLE), **raw)
        # One table, one changelog partition per SKU partition, for both the
        # product states and the stored results: a result is always written
        # before the state it leads to, so any prefix of the changelog that
        # holds a state also holds the results behind it. (Two tables are two
        # partitions, whose writes a crash can cut at different points: then a
        # redelivered command finds the new state but not its answer, and is
        # applied twice.)
        self.catalog = app.Table("catalog", partitions=settings.partitions, default=None, **raw)
        app.agent(self.commands, name=ROLE, concurrency=1)(self.run)

    async def run(self, stream: Any) -> AsyncIterator[None]:
        # (Faust's StreamT stub lacks take_events, which the Stream class has.)
        async for batch in stream.take_events(
            self.settings.processor_batch_max, within=self.settings.processor_batch_within_s
        ):
            await self.process(batch)
            yield None

    # --- one batch -----------------------------------------------------------
    async def process(self, batch: Sequence[Any]) -> None:
        pending_states: dict[str, ProductState] = {}
        pending_results: dict[bytes, dict[str, Any]] = {}
        outcomes = [self.decide_one(ev, pending_states, pending_results) for ev in batch]
        await self.publish_events(outcomes)
        for outcome in outcomes:
            await self.store(outcome)
        for outcome in outcomes:
            await self.answer(outcome)

    def decide_one(
        self,
        ev: Any,
        pending_states: dict[str, ProductState],
        pending_results: dict[bytes, dict[str, Any]],
    ) -> Outcome:
        outcome = Outcome(event=ev)
        raw: bytes | None = ev.value
        try:
            command = codec.decode_command(raw if raw is not None else b"")
        except ContractError as err:
            command_id, sku = codec.best_effort_address(raw or b"")
            outcome.command_id, outcome.sku = command_id, sku
            outcome.dead_letter = dead_letter(raw, ev.message, err.to_dict())
            if command_id is not None:
                outcome.result = rejected(
                    command_id, sku, "invalid", err.message, field=err.field, rule=err.rule
                )
            return outcome
        sku, command_id = str(command["sku"]), str(command["command_id"])
        outcome.sku, outcome.command_id = sku, command_id
        key = ev.message.key
        if key is not None and key != sku.encode():
            # Another key means another partition, hence another writer: refuse it.
            outcome.result = rejected(
                command_id,
                sku,
                "invalid",
                "the Kafka key of a command must be its SKU (one writer per product)",
                field="sku",
                rule="kafka_key",
            )
            outcome.dead_letter = dead_letter(
                raw, ev.message, {"field": "sku", "rule": "kafka_key", "message": "key != sku"}
            )
            return outcome
        expected = partition_for(key or sku.encode(), self.settings.partitions)
        if ev.message.partition != expected:
            # The SKU's commands must all reach one partition, whoever produced them.
            outcome.result = rejected(
                command_id,
                sku,
                "invalid",
                "commands must be produced with the murmur2 partitioner (Kafka's Java default; "
                "librdkafka/kcat: partitioner=murmur2_random)",
                field="sku",
                rule="partition",
            )
            outcome.dead_letter = dead_letter(
                raw,
                ev.message,
                {"field": "sku", "rule": "partition", "message": f"expected partition {expected}"},
            )
            return outcome
        rkey = result_key(sku, command_id)
        with as_current(ev):
            previous = pending_results.get(rkey) or self._load(rkey)
            if previous is not None:
                outcome.result, outcome.replay = previous, True
                return outcome
            state = pending_states.get(sku)
            if state is None:
                stored = self._load(state_key(sku))
                state = ProductState.from_dict(stored) if stored else ProductState.empty(sku)
        try:
            decision = decide(command, state)
        except Exception as exc:  # a bug in decide must not stop the partition
            log.exception("deciding %s for %s failed", command_id, sku)
            outcome.result = rejected(command_id, sku, "internal_error", repr(exc))
            outcome.dead_letter = dead_letter(
                raw, ev.message, {"field": "$", "rule": "internal_error", "message": repr(exc)}
            )
            return outcome
        if isinstance(decision, Accepted):
            outcome.events = decision.events
            outcome.state = evolve_all(state, decision.events)
            pending_states[sku] = outcome.state
            outcome.result = {
                "command_id": command_id,
                "sku": sku,
                "status": "accepted",
                "version": outcome.state.version,
                "event_ids": [e["event_id"] for e in decision.events],
                "positions": [],
            }
        else:
            outcome.result = rejected(
                command_id, sku, decision.reason, decision.message, version=state.version
            )
        pending_results[rkey] = outcome.result
        return outcome

    def _load(self, key: bytes) -> dict[str, Any] | None:
        value = self.catalog.get(key)
        return orjson.loads(value) if value else None

    async def publish_events(self, outcomes: list[Outcome]) -> None:
        """Publish every event of the batch and wait until Kafka has them all.

        A send that fails (broker down, timeout) is retried with backoff for as
        long as it takes: the partition waits, it does not skip. Re-sent events
        are identical, so a partial first attempt does no harm.
        """
        todo = [o for o in outcomes if o.events]
        if not todo:
            return
        async for attempt in AsyncRetrying(
            wait=wait_exponential(multiplier=0.2, max=10),
            stop=stop_never,
            retry=retry_if_exception_type(Exception),
            before_sleep=lambda state: log.warning(
                "publishing events failed (%s); retrying",
                state.outcome and state.outcome.exception(),
            ),
            reraise=True,
        ):
            with attempt:
                futures = [
                    (o, await self.events.send(key=o.sku.encode(), value=codec.encode(e)))
                    for o in todo
                    if o.sku is not None
                    for e in o.events
                ]
                for o in todo:
                    assert o.result is not None
                    o.result["positions"] = []
                for o, future in futures:
                    metadata = await future
                    assert o.result is not None
                    o.result["positions"].append(
                        {"partition": metadata.partition, "offset": metadata.offset}
                    )

    async def store(self, outcome: Outcome) -> None:
        """Write the result, then the state, to the table and its changelog, in that order.

        Not through the table's ``__setitem__``: that queues the changelog record
        in Faust's producer buffer, which two coroutines drain concurrently under
        load, so a state record could reach Kafka before the result written
        before it (the kill -9 test caught it). Sending each record ourselves, in
        order, from this one coroutine keeps their order in the partition; Faust
        still flushes the producer before it commits the commands' offsets.
        """
        if outcome.replay or outcome.sku is None or outcome.command_id is None:
            return
        if outcome.result is None:
            return
        partition = outcome.event.message.partition
        writes = [(result_key(outcome.sku, outcome.command_id), codec.encode(outcome.result))]
        if outcome.state is not None:
            writes.append((state_key(outcome.sku), codec.encode(outcome.state.to_dict())))
        for key, value in writes:
            self.catalog.data[key] = value
            await self.catalog.changelog_topic.send(key=key, value=value, partition=partition)

    async def answer(self, outcome: Outcome) -> None:
        if outcome.dead_letter is not None:
            await self.dead_letters.send(
                key=outcome.event.message.key, value=codec.encode(outcome.dead_letter)
            )
        if outcome.result is not None:
            key = outcome.sku.encode() if outcome.sku else None
            await self.results.send(key=key, value=codec.encode(outcome.result))
