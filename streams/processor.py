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

Between batches (at least every 100 ms when idle) the processor fires the
scheduled price changes that are due, in the same kind of transaction
(``streams.processor_firing``).

Recovery after kill -9 is fast by construction: static group membership
(``group.instance.id``) gives the restarted process its partitions back
without waiting for the session timeout, ``init_transactions`` aborts the old
open transaction at once, and the local store only reads the changelog
records written after its checkpoint.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import defaultdict
from typing import Any

import orjson
from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from schemas.config.connections import kafka_config
from schemas.config.settings import Settings
from schemas.topics import PROCESSOR, Topics
from streams import changelog_keys, metrics
from streams.admission import Admitted
from streams.batch_writer import AbortedError, BatchWriter, FencedError
from streams.catalog import ProductState
from streams.changelog import restore
from streams.command_batch import (
    BatchDecision,
    Record,
    admit_all,
    decide_batch,
)
from streams.command_traces import BatchSpans, traced_records
from streams.kafka_errors import ends_the_client
from streams.membership import static_member
from streams.owned_partition import OwnedPartition, committed_positions
from streams.processor_firing import DueFiring
from streams.processor_metrics import describe_steps, record_batch
from streams.processor_store import PartitionStore

__all__ = ["ROLE", "CommandProcessor"]

log = logging.getLogger(__name__)

ROLE = PROCESSOR
#: Seconds an assigned partition may go without a known committed offset (a previous
#: owner's transaction holds it at most the transaction timeout) before the clients
#: are built afresh.
READY_S = 30.0


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
        self._owned: dict[int, OwnedPartition] = {}
        self._consumer: Consumer | None = None
        self._writer: BatchWriter | None = None
        self._reader: Consumer | None = None
        self._partitions = settings.partitions
        self._failures = 0
        self._firing = DueFiring(self.topics, self.instance, settings.processor_batch_max)
        self._ready_retry_at = 0.0

    def stop(self) -> None:
        self._stopping.set()

    # ------------------------------------------------------------------ lifecycle

    def run(self) -> None:
        while not self._stopping.is_set():
            try:
                self._open()
                while not self._stopping.is_set():
                    self._step()
            except FencedError as exc:
                steps = describe_steps(self._writer.steps) if self._writer else "no step"
                log.error(
                    "%s: %s (the batch's steps: %s); starting the Kafka clients afresh",
                    self.instance,
                    exc,
                    steps,
                )
                self._backoff()
            except Exception:
                # Kafka unreachable for longer than a call waits, a store that cannot
                # be read: the processor never dies of it, it starts over.
                log.exception("%s: processing failed; starting afresh", self.instance)
                self._backoff()
            finally:
                self._close()

    def _backoff(self) -> None:
        """Wait before trying again: 0.2, 0.4, 0.8 s, then 1.5 s at most, so a processor
        whose Kafka was away for a while is back within a second or two of its return."""
        self._failures += 1
        self._stopping.wait(min(1.5, 0.1 * 2 ** min(self._failures, 5)))

    def _open(self) -> None:
        s = self.settings
        began = time.monotonic()
        self._writer = BatchWriter(
            kafka_config(s),
            self.instance,
            self.topics,
            ROLE,
            timeout_s=s.processor_transaction_timeout_ms / 1000,
            stopping=self._stopping,
        )
        self._reader = Consumer(
            self._consumer_config(group=f"{self.group}-restore")
            # the end of a changelog partition is told after one empty fetch: make it
            # short (librdkafka's 500 ms made every restore last at least half a second)
            | {"enable.partition.eof": True, "fetch.wait.max.ms": 10}
        )
        self._consumer = Consumer(
            self._consumer_config(group=self.group) | static_member(s, self.group, self.instance)
        )
        metadata = self._consumer.list_topics(self.topics.commands, timeout=30)
        self._partitions = len(metadata.topics[self.topics.commands].partitions)
        self._consumer.subscribe(
            [self.topics.commands],
            on_assign=self._on_assign,
            on_revoke=self._on_revoke,
            on_lost=self._on_revoke,
        )
        log.info("%s: Kafka clients ready in %.1f s", self.instance, time.monotonic() - began)

    def _consumer_config(self, group: str) -> dict[str, Any]:
        return {
            **kafka_config(self.settings),
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
                except Exception as exc:  # closing is what a failure does: never raise
                    log.warning("%s: closing a consumer: %s", self.instance, exc)
        if self._writer is not None:
            self._writer.close()  # never raises: a failure in closing must not end the loop
        self._consumer = self._reader = self._writer = None

    def _on_assign(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        for tp in partitions:
            path = self.datadir / f"{self.topics.processor_state}-{tp.partition}.sqlite3"
            self._owned[tp.partition] = OwnedPartition(PartitionStore(path))
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
        if messages:
            began = time.monotonic()
            self._batch(messages)
            pause = self.settings.processor_batch_interval_ms / 1000 - (time.monotonic() - began)
            if pause > 0:
                self._stopping.wait(pause)
        self._fire()

    def _batch(self, messages: list[Message]) -> None:
        began, began_ns = time.perf_counter(), time.time_ns()
        records = [
            Record(m.partition() or 0, m.offset() or 0, m.key(), m.value()) for m in messages
        ]
        first: dict[int, int] = {}
        for record in records:
            first.setdefault(record.partition, record.offset)
        for partition in first:
            self._restored(partition)
        decision = self._decide(records)
        traced = traced_records(messages)
        spans = BatchSpans(self.instance, traced, records, decision, began_ns) if traced else None
        assert self._writer is not None and self._consumer is not None
        try:
            written = self._writer.write(
                decision,
                self._offsets(records),
                self._consumer.consumer_group_metadata(),
                {p: self._expired(p) for p in first},
            )
        except AbortedError as exc:
            if spans is not None:
                spans.end(f"transaction aborted: {exc}")
            metrics.TRANSACTIONS.labels("aborted").inc()
            steps = describe_steps(self._writer.steps)
            log.warning("%s: batch aborted (%s) after %s; reading again", self.instance, exc, steps)
            self._rewind(first)
            self._backoff()
            return
        self._failures = 0
        metrics.TRANSACTIONS.labels("committed").inc()
        if spans is not None:
            spans.end()
        for partition, (changes, checkpoint) in written.items():
            owned = self._owned.get(partition)
            if owned is not None:
                owned.store.write(changes, checkpoint)
        for tp in self._offsets(records):
            owned = self._owned.get(tp.partition)
            if owned is not None:
                owned.position = tp.offset
        assert self._consumer is not None
        record_batch(
            self._consumer, self.topics.commands, decision, records, began, self._writer.steps
        )

    # ------------------------------------------------------------------ schedules

    def _fire(self) -> None:
        self._make_ready()
        assert self._writer is not None and self._consumer is not None
        try:
            self._firing.step(self._owned, self._writer, self._consumer)
        except AbortedError as exc:
            metrics.TRANSACTIONS.labels("aborted").inc()
            log.warning("%s: firing schedules aborted (%s); trying again", self.instance, exc)
            self._backoff()
            return
        self._failures = 0

    def _make_ready(self) -> None:
        """Fetch the committed offsets of owned partitions not known yet, then restore
        them: a partition with schedules but no commands must fire too. The fetch
        waits out a previous owner's transaction (``committed_positions``), so the
        restore that follows sees every changelog record it wrote: what it fired is
        not fired again.
        """
        pending = [p for p, owned in self._owned.items() if owned.position is None]
        if not pending or time.monotonic() < self._ready_retry_at:
            return
        stuck = [p for p in pending if time.monotonic() - self._owned[p].assigned_at > READY_S]
        if stuck:
            # Seen once in a rolling restart: a partition assigned, its committed offset
            # never known, nothing consumed from it. A transaction holding its offsets
            # would have timed out by now; fresh clients fetch the offsets afresh.
            raise FencedError(f"no committed offset known for partitions {stuck} in {READY_S} s")
        assert self._consumer is not None
        try:
            known = committed_positions(self._consumer, self.topics.commands, pending)
        except KafkaException as exc:
            log.warning("%s: committed offsets not known yet: %s", self.instance, exc)
            self._ready_retry_at = time.monotonic() + 1.0
            return
        for partition, offset in known.items():
            owned = self._owned.get(partition)
            if owned is not None and owned.position is None:
                self._restored(partition)
                owned.position = offset

    def _take(self) -> list[Message]:
        """What the consumer has now, up to a batch; or wait briefly for the first record.

        Batches grow by themselves under load (records arrive while a
        transaction commits) and stay small, hence fresh, when load is low.
        A rebalance can run inside any ``consume`` call; records of a partition
        that was revoked (or revoked and assigned again) since they were read
        are dropped: its owner reads them again from the committed offset.
        """
        consumer = self._consumer
        assert consumer is not None
        size = self.settings.processor_batch_max
        taken: list[tuple[Message, OwnedPartition | None]] = []

        def consume(count: int, timeout: float) -> int:
            messages = consumer.consume(count, timeout=timeout)
            taken.extend((m, self._owned.get(m.partition() or 0)) for m in messages)
            return len(messages)

        if not consume(size, 0) and consume(1, 0.1):
            consume(size - 1, 0)
        kept = []
        for message, owner in taken:
            error = message.error()
            if error is None:
                if owner is not None and self._owned.get(message.partition() or 0) is owner:
                    kept.append(message)
            elif ends_the_client(error):
                raise FencedError(f"consumer: {error}")
            elif error.code() != KafkaError._PARTITION_EOF:
                log.warning("%s: consumer: %s", self.instance, error)
        return kept

    def _restored(self, partition: int) -> OwnedPartition:
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
                keys[record.partition].add(changelog_keys.state_key(admitted.sku))
                keys[record.partition].add(
                    changelog_keys.result_key(admitted.sku, admitted.command_id)
                )
        states: dict[str, ProductState] = {}
        results: dict[tuple[str, str], dict[str, Any]] = {}
        for partition, wanted in keys.items():
            for key, value in self._owned[partition].store.load(list(wanted)).items():
                sku, command_id = changelog_keys.parse(key)
                if command_id is None:
                    states[sku] = ProductState.from_dict(orjson.loads(value))
                else:
                    results[(sku, command_id)] = orjson.loads(value)
        return decide_batch(admissions, states, results)

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
                raise FencedError(f"cannot rewind partition {partition}: {exc}") from exc

    def _expired(self, partition: int) -> list[bytes]:
        """Stored results past their retention, at most once a minute per partition."""
        owned = self._owned[partition]
        now = time.monotonic()
        if now - owned.expired_at < 60:
            return []
        owned.expired_at = now
        before_ms = int((time.time() - self.settings.result_retention_s) * 1000)
        return owned.store.expired_results(before_ms, limit=10_000)
