"""The command processor: the single, fenced writer of every product's history.

A plain confluent-kafka loop (librdkafka's transactional producer is the
mature exactly-once path in Python), around the pure batch decider
(``streams.command_batch``). For each batch of commands:

1. before the first batch of a partition, its local store is brought up to
   the end of the changelog (``streams.changelog``);
2. the batch is decided against the stored states and results;
3. in ONE Kafka transaction: the events (whose delivery is awaited first, so
   each result can carry its events' positions), the results, the dead
   letters, the new states and stored results in the changelog, and the
   consumed offsets, sent with the consumer's group metadata (KIP-447);
4. only after the commit, the local store takes the same changelog records.

Why this cannot fork the events topic or lose a command:

* **Nothing half-done is visible.** Every consumer downstream reads committed
  data only. A crash, an abort or a refused send leaves the batch's events,
  results and offsets invisible together; the batch is read again and decided
  against the same stored state.
* **A zombie cannot commit.** The offsets go into the transaction with the
  group generation, so a processor that lost its partitions (paused past its
  session timeout, cut off from the group) has its commit refused, and its
  events never become visible. A restarted processor with the same
  ``transactional.id`` aborts whatever its previous incarnation left open.
* **No record is skipped.** Records are taken from the consumer in order and
  a batch that is not committed is rewound (``seek``) to its first offset:
  the redelivered sequence is the original one. (Faust's consumer, which the
  processor ran on before, could drop records it had already counted as read
  around a rebalance; see the README's guarantees section.)
* **The version guard.** An event that is not the SKU's stored version + 1 is
  never published (``command_batch``).

Recovery after kill -9 is fast by construction: static group membership
(``group.instance.id``) gives the restarted process its partitions back
without waiting for the session timeout, ``init_transactions`` aborts the old
open transaction at once, and the local store only reads the changelog
records written after its checkpoint.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, Producer, TopicPartition

from ops.settings import Settings
from ops.topics import Topics
from schemas import codec
from streams import dead_letters, metrics
from streams.admission import Admitted
from streams.catalog import ProductState
from streams.changelog import restore
from streams.command_batch import (
    BatchDecision,
    Record,
    admit_all,
    decide_batch,
    result_key,
    state_key,
)
from streams.processor_store import PartitionStore

__all__ = ["ROLE", "CommandProcessor"]

log = logging.getLogger(__name__)

ROLE = "command-processor"


class _AbortedError(Exception):
    """The batch's transaction was aborted: nothing of it is visible; read it again."""


class _RebuildError(Exception):
    """The producer or consumer cannot go on (fenced, fatal error): start them afresh."""


@dataclass
class _Partition:
    """A partition of the commands topic this processor owns now."""

    store: PartitionStore
    restored: bool = False
    expired_at: float = 0.0


class CommandProcessor:
    """Runs until :meth:`stop`; rebuilds its Kafka clients after fencing or a fatal error."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topics = Topics.from_settings(settings)
        self.group = f"{settings.topic_prefix}-{ROLE}"
        #: one id per running processor: the transactional id and the static member id
        self.instance = f"{self.group}-{settings.worker_id}"
        self.datadir = settings.home / "workers" / f"{ROLE}-{settings.worker_id}"
        self._stopping = threading.Event()
        self._owned: dict[int, _Partition] = {}
        self._consumer: Consumer | None = None
        self._producer: Producer | None = None
        self._reader: Consumer | None = None
        self._partitions = settings.partitions
        self._failures = 0

    def stop(self) -> None:
        self._stopping.set()

    # ------------------------------------------------------------------ lifecycle

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._open()
                while not self._stopping.is_set():
                    self._step()
            except _RebuildError as exc:
                log.error("%s: %s; starting the Kafka clients afresh", self.instance, exc)
                self._backoff()
            except Exception:
                # Kafka unreachable for longer than a call waits, a store that cannot
                # be read: the processor never dies of it, it starts over.
                log.exception("%s: processing failed; starting afresh", self.instance)
                self._backoff()
            finally:
                self._close()

    def _backoff(self) -> None:
        self._failures += 1
        self._stopping.wait(min(10.0, 0.2 * 2 ** min(self._failures, 6)))

    def _open(self) -> None:
        s = self.settings
        self._producer = Producer(
            {
                "bootstrap.servers": s.kafka_bootstrap_servers,
                "transactional.id": self.instance,
                "transaction.timeout.ms": s.processor_transaction_timeout_ms,
                "partitioner": "murmur2_random",  # the SKU's partition, as every producer
                "compression.type": "lz4",
                "linger.ms": 2,
                "batch.size": 1024 * 1024,
                "queue.buffering.max.messages": 1_000_000,
                "message.max.bytes": 1024 * 1024,
            }
        )
        # Fences an earlier incarnation with the same id and aborts what it left open.
        self._producer.init_transactions(s.processor_transaction_timeout_ms / 1000)
        self._reader = Consumer(
            self._consumer_config(group=f"{self.group}-restore") | {"enable.partition.eof": True}
        )
        self._consumer = Consumer(
            self._consumer_config(group=self.group)
            | {
                "group.instance.id": self.instance,
                "session.timeout.ms": s.processor_session_timeout_ms,
                "heartbeat.interval.ms": max(500, s.processor_session_timeout_ms // 10),
                "partition.assignment.strategy": "cooperative-sticky",
            }
        )
        metadata = self._consumer.list_topics(self.topics.commands, timeout=30)
        self._partitions = len(metadata.topics[self.topics.commands].partitions)
        self._consumer.subscribe(
            [self.topics.commands],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )

    def _consumer_config(self, group: str) -> dict[str, Any]:
        return {
            "bootstrap.servers": self.settings.kafka_bootstrap_servers,
            "group.id": group,
            "isolation.level": "read_committed",
            "enable.auto.commit": False,
            "enable.auto.offset.store": False,
            "auto.offset.reset": "earliest",
            "fetch.max.bytes": 32 * 1024 * 1024,
        }

    def _close(self) -> None:
        for partition in self._owned.values():
            partition.store.close()
        self._owned.clear()
        for client in (self._consumer, self._reader):
            if client is not None:
                try:
                    client.close()
                except (KafkaException, RuntimeError) as exc:
                    log.warning("%s: closing a consumer: %s", self.instance, exc)
        if self._producer is not None:
            self._producer.flush(5)
        self._consumer = self._reader = self._producer = None

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            path = self.datadir / f"{self.topics.processor_state}-{tp.partition}.sqlite3"
            self._owned[tp.partition] = _Partition(PartitionStore(path))
        log.info("%s: assigned %s", self.instance, sorted(tp.partition for tp in partitions))

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            owned = self._owned.pop(tp.partition, None)
            if owned is not None:
                owned.store.close()
        log.info("%s: revoked %s", self.instance, sorted(tp.partition for tp in partitions))

    # ------------------------------------------------------------------ one batch

    def _step(self) -> None:
        messages = self._take()
        if not messages:
            return
        began = time.perf_counter()
        records = [
            Record(m.partition() or 0, m.offset() or 0, m.key(), m.value()) for m in messages
        ]
        first: dict[int, int] = {}
        for record in records:
            first.setdefault(record.partition, record.offset)
        for partition in first:
            self._restored(partition)
        try:
            decision = self._decide(records)
            written = self._transact(decision, records)
        except _AbortedError as exc:
            metrics.TRANSACTIONS.labels("aborted").inc()
            log.warning("%s: batch aborted (%s); reading it again", self.instance, exc)
            self._rewind(first)
            self._backoff()
            return
        self._failures = 0
        metrics.TRANSACTIONS.labels("committed").inc()
        for partition, (changes, checkpoint) in written.items():
            owned = self._owned.get(partition)
            if owned is not None:
                owned.store.write(changes, checkpoint)
        self._record(decision, records, time.perf_counter() - began)

    def _take(self) -> list[Message]:
        """What the consumer has now, up to a batch; or wait briefly for the first record.

        Batches grow by themselves under load (records arrive while a
        transaction commits) and stay small, hence fresh, when load is low.
        """
        assert self._consumer is not None
        size = self.settings.processor_batch_max
        messages = self._consumer.consume(size, timeout=0)
        if not messages:
            messages = self._consumer.consume(1, timeout=0.1)
            if messages:
                messages += self._consumer.consume(size - 1, timeout=0)
        kept = []
        for message in messages:
            error = message.error()
            if error is None:
                kept.append(message)
            elif error.fatal():
                raise _RebuildError(f"consumer: {error}")
            elif error.code() != KafkaError._PARTITION_EOF:
                log.warning("%s: consumer: %s", self.instance, error)
        return kept

    def _restored(self, partition: int) -> _Partition:
        owned = self._owned[partition]
        if not owned.restored:
            assert self._reader is not None
            began = time.monotonic()
            restore(self._reader, self.topics.processor_state, partition, owned.store)
            metrics.RESTORE_SECONDS.labels(ROLE).observe(time.monotonic() - began)
            owned.restored = True
        return owned

    def _decide(self, records: list[Record]) -> BatchDecision:
        """Admit the records, load what the admitted ones name from the partitions'
        stores, then decide the batch."""
        admissions = admit_all(records, self._partitions)
        keys: dict[int, set[bytes]] = defaultdict(set)
        for record, admitted in admissions:
            if isinstance(admitted, Admitted):
                keys[record.partition].add(state_key(admitted.sku))
                keys[record.partition].add(result_key(admitted.sku, admitted.command_id))
        states: dict[str, ProductState] = {}
        results: dict[tuple[str, str], dict[str, Any]] = {}
        for partition, wanted in keys.items():
            for key, value in self._owned[partition].store.load(list(wanted)).items():
                kind, sku, *rest = key.split(b"\x00")
                if kind == b"state":
                    states[sku.decode()] = ProductState.from_dict(orjson.loads(value))
                elif rest:
                    results[(sku.decode(), rest[0].decode())] = orjson.loads(value)
        return decide_batch(admissions, states, results)

    # ------------------------------------------------------------------ the transaction

    def _transact(
        self, decision: BatchDecision, records: list[Record]
    ) -> dict[int, tuple[list[tuple[bytes, bytes | None, int]], int]]:
        """Publish the batch in one transaction; return, per partition, the changelog
        records written and the checkpoint they reach. Raises _AbortedError or _RebuildError."""
        producer, consumer = self._producer, self._consumer
        assert producer is not None and consumer is not None
        failures: list[str] = []
        changelog: dict[int, list[tuple[bytes, bytes | None, int]]] = defaultdict(list)
        checkpoints: dict[int, int] = {}

        def delivered(
            on_success: Callable[[Message], None], err: KafkaError | None, msg: Message
        ) -> None:
            if err is not None:
                failures.append(f"{msg.topic()}: {err}")
            else:
                on_success(msg)

        def changelog_written(msg: Message) -> None:
            partition = msg.partition() or 0
            checkpoints[partition] = max(checkpoints.get(partition, 0), (msg.offset() or 0) + 1)

        def to_changelog(partition: int, key: bytes, value: bytes | None) -> None:
            changelog[partition].append((key, value, now_ms))
            self._produce(
                self.topics.processor_state,
                key,
                value,
                partition=partition,
                on_delivery=functools.partial(delivered, changelog_written),
            )

        now_ms = int(time.time() * 1000)
        try:
            producer.begin_transaction()
            positions: list[dict[str, int]] = [{} for _ in decision.events]

            def event_written(index: int, msg: Message) -> None:
                positions[index] = {"partition": msg.partition() or 0, "offset": msg.offset() or 0}

            for index, (sku, event) in enumerate(decision.events):
                self._produce(
                    self.topics.events,
                    sku.encode(),
                    codec.encode(event),
                    on_delivery=functools.partial(
                        delivered, functools.partial(event_written, index)
                    ),
                )
            if decision.events:
                self._flush(failures)
            for answer in decision.answers:
                if answer.events:
                    assert answer.result is not None
                    answer.result["positions"] = [positions[i] for i in answer.events]
                if answer.dead_letter is not None:
                    letter = dead_letters.dead_letter(
                        ROLE,
                        topic=self.topics.commands,
                        partition=answer.record.partition,
                        offset=answer.record.offset,
                        key=answer.record.key,
                        raw=answer.record.value,
                        error=answer.dead_letter.to_dict(),
                    )
                    self._produce(
                        self.topics.dead_letters(ROLE), answer.record.key, codec.encode(letter)
                    )
                if answer.result is None:
                    continue
                encoded = codec.encode(answer.result)
                key = answer.sku.encode() if answer.sku else None
                self._produce(self.topics.results, key, encoded)
                if answer.store and answer.sku is not None and answer.command_id is not None:
                    to_changelog(
                        answer.record.partition, result_key(answer.sku, answer.command_id), encoded
                    )
            for sku, (partition, state) in decision.states.items():
                to_changelog(partition, state_key(sku), codec.encode(state.to_dict()))
            for partition in {r.partition for r in records}:
                for key in self._expired(partition):
                    to_changelog(partition, key, None)
            self._flush(failures)
            offsets = self._offsets(records)
            producer.send_offsets_to_transaction(
                offsets, consumer.consumer_group_metadata(), self._timeout_s
            )
            self._commit()
        except KafkaException as exc:
            self._abort_after(exc.args[0])
        except _AbortedError:
            self._abort_after(None)
        return {
            p: (changes, checkpoints.get(p, 0))
            for p, changes in changelog.items()
            if p in checkpoints
        }

    @property
    def _timeout_s(self) -> float:
        return self.settings.processor_transaction_timeout_ms / 1000

    def _produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        *,
        partition: int | None = None,
        on_delivery: Callable[[KafkaError | None, Message], None] | None = None,
    ) -> None:
        assert self._producer is not None
        kwargs: dict[str, Any] = {"key": key, "value": value}
        if partition is not None:
            kwargs["partition"] = partition
        if on_delivery is not None:
            kwargs["on_delivery"] = on_delivery
        while True:
            try:
                self._producer.produce(topic, **kwargs)
                return
            except BufferError:  # the local queue is full: let it drain
                self._producer.poll(0.05)

    def _flush(self, failures: list[str]) -> None:
        assert self._producer is not None
        if self._producer.flush(self._timeout_s):
            raise _AbortedError("records not delivered in time")
        if failures:
            raise _AbortedError(f"{len(failures)} record(s) refused, first: {failures[0]}")

    def _commit(self) -> None:
        """Commit, retrying what librdkafka calls retriable (a timeout) with the same
        transaction; anything else is raised."""
        assert self._producer is not None
        while True:
            try:
                self._producer.commit_transaction(self._timeout_s)
                return
            except KafkaException as exc:
                err: KafkaError = exc.args[0]
                if err.retriable() and not err.txn_requires_abort() and not err.fatal():
                    log.warning("%s: commit not confirmed yet (%s); retrying", self.instance, err)
                    continue
                raise

    def _abort_after(self, err: KafkaError | None) -> None:
        """Abort the open transaction, then raise _AbortedError (or _RebuildError when fatal)."""
        assert self._producer is not None
        if err is not None and err.fatal():
            raise _RebuildError(f"producer: {err}")
        for _ in range(5):
            try:
                self._producer.abort_transaction(self._timeout_s)
                break
            except KafkaException as exc:
                abort_err: KafkaError = exc.args[0]
                if abort_err.fatal() or not abort_err.retriable():
                    raise _RebuildError(f"aborting: {abort_err}") from exc
        else:
            raise _RebuildError("the transaction could not be aborted")
        raise _AbortedError(str(err) if err is not None else "a record was refused")

    def _offsets(self, records: list[Record]) -> list[TopicPartition]:
        last: dict[int, int] = {}
        for record in records:
            last[record.partition] = max(last.get(record.partition, -1), record.offset)
        return [TopicPartition(self.topics.commands, p, offset + 1) for p, offset in last.items()]

    def _rewind(self, first: dict[int, int]) -> None:
        """Read an aborted batch again from its first record: redelivery in the same order."""
        assert self._consumer is not None
        for partition, offset in first.items():
            if partition not in self._owned:
                continue  # revoked meanwhile: its new owner starts from the committed offset
            try:
                self._consumer.seek(TopicPartition(self.topics.commands, partition, offset))
            except KafkaException as exc:
                raise _RebuildError(f"cannot rewind partition {partition}: {exc}") from exc

    def _expired(self, partition: int) -> list[bytes]:
        """Stored results past their retention, at most once a minute per partition."""
        owned = self._owned[partition]
        now = time.monotonic()
        if now - owned.expired_at < 60:
            return []
        owned.expired_at = now
        before_ms = int((time.time() - self.settings.result_retention_s) * 1000)
        return owned.store.expired_results(before_ms, limit=10_000)

    def _record(self, decision: BatchDecision, records: list[Record], seconds: float) -> None:
        metrics.BATCH_SIZE.labels(ROLE).observe(len(records))
        metrics.BATCH_SECONDS.labels(ROLE).observe(seconds)
        for answer in decision.answers:
            outcome = (
                "invalid"
                if answer.dead_letter is not None
                else (
                    answer.result["status"] if answer.result and answer.store else "answered_again"
                )
            )
            metrics.COMMANDS.labels(outcome).inc()
        assert self._consumer is not None
        last: dict[int, int] = {}
        for record in records:
            last[record.partition] = max(last.get(record.partition, -1), record.offset)
        for partition, offset in last.items():
            _, high = self._consumer.get_watermark_offsets(
                TopicPartition(self.topics.commands, partition), cached=True
            )
            if high is not None and high >= 0:
                metrics.LAG.labels(ROLE, str(partition)).set(max(0, high - offset - 1))
