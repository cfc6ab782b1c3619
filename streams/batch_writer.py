"""Writing one decided batch into Kafka, all of it or nothing: one transaction.

The transaction holds the batch's events, results, dead letters, changelog
records (new states, stored results, tombstones of expired results) and the
consumed offsets, sent with the consumer's group metadata (KIP-447), so that
a processor which lost its partitions cannot commit.

The events are written and their delivery awaited first, because each result
carries its events' positions (the read-your-writes token); all the rest
follows, then the offsets and the commit. What librdkafka reports is sorted
into three answers:

* committed: :meth:`BatchWriter.write` returns the changelog records written
  per partition and the changelog offset they reach (the local store's next
  checkpoint);
* :class:`AbortedError`: the transaction is aborted, nothing of the batch is
  visible; the caller reads the batch again (a send refused by the broker, a
  rebalance that took a partition, a commit that cannot complete);
* :class:`FencedError`: this producer can write no more (another instance
  took its transactional id, or a fatal error); the caller starts afresh.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Mapping
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer, TopicPartition

from schemas import codec, tracing
from schemas.topics import Topics
from streams import dead_letters
from streams.changelog_keys import result_key, state_key
from streams.command_batch import BatchDecision

__all__ = ["AbortedError", "BatchWriter", "ChangelogWrites", "FencedError"]

log = logging.getLogger(__name__)

#: per partition: the changelog records (key, value or None, timestamp ms), and the
#: changelog offset after the last of them
ChangelogWrites = dict[int, tuple[list[tuple[bytes, bytes | None, int]], int]]


class AbortedError(Exception):
    """The batch's transaction was aborted: nothing of it is visible; read it again."""


class FencedError(Exception):
    """The producer cannot go on (fenced by a newer instance, or a fatal error)."""


#: Seconds a transactional call may overrun its own timeout before the producer is
#: given up for hung (see :meth:`BatchWriter._bounded`).
HUNG_GRACE_S = 10.0
#: Seconds a transactional call may take when the producer lost a broker connection
#: during the transaction or shortly before it (``RECENT_LOSS_S``), before it is given
#: up as hung on a stale coordinator. Such calls take milliseconds when all is well.
LOST_GRACE_S = 1.0
RECENT_LOSS_S = 10.0
#: The errors that say a broker connection was lost (librdkafka's local codes).
_CONNECTION_LOST = (KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN)
_PENDING = object()


class BatchWriter:
    """A transactional producer with the processor's transactional id."""

    def __init__(
        self,
        connection: Mapping[str, Any],
        transactional_id: str,
        topics: Topics,
        role: str,
        *,
        timeout_s: float,
        stopping: threading.Event | None = None,
    ) -> None:
        self.topics, self.role, self.timeout_s = topics, role, timeout_s
        self._producer = Producer(
            {
                **connection,
                "transactional.id": transactional_id,
                "transaction.timeout.ms": int(timeout_s * 1000),
                "partitioner": "murmur2_random",  # the SKU's partition, as every producer
                # gzip at level 1: what other languages' clients read without a codec
                # package (kafkajs reads gzip only); on our records 4.3x smaller at
                # 311 MB/s of one core, against lz4's 3.6x at 1,048 MB/s: at the
                # processor's peak about 7% of a core (BENCHMARKS.md, "Raw contract").
                "compression.type": "gzip",
                "compression.level": 1,
                "linger.ms": 2,
                "batch.size": 1024 * 1024,
                "queue.buffering.max.messages": 1_000_000,
                "message.max.bytes": 1024 * 1024,
                "error_cb": self._on_error,
            }
        )
        #: monotonic instants: the last lost connection, the open transaction's begin
        self._lost_at, self._began_at = float("-inf"), 0.0
        #: seconds each step of the last batch took (events delivered, the other records
        #: delivered, offsets sent, committed), for the log of a slow batch
        self.steps: dict[str, float] = {}
        self._hung = False
        self._init(stopping or threading.Event())

    def _init(self, stopping: threading.Event) -> None:
        """Fence an earlier incarnation with the same id and abort what it left open.

        A call that times out (no broker, no coordinator yet) is resumed on this same
        producer, never left to a new one: librdkafka goes on with it in the
        background, and if it completed after a newer producer's it would fence that
        one (seen after a broker restart: the processor fenced by itself).
        """
        while True:
            try:
                self._producer.init_transactions(min(self.timeout_s, 2.0))
                return
            except KafkaException as exc:
                err: KafkaError = exc.args[0]
                if not err.retriable() or stopping.is_set():
                    raise
                log.info("transactions not initialised yet (%s); resuming", err)

    def close(self) -> None:
        """Deliver what can be delivered; a fenced producer has nothing to deliver, and a
        hung one is left as it is (its successor's ``init_transactions`` fences it and
        aborts its open transaction). Never raises: closing is what a failure does."""
        if self._hung:
            return
        try:
            self._producer.flush(5)
        except Exception as exc:  # confluent-kafka can raise SystemError from a callback
            log.info("closing the transactional producer: %s", exc)

    def write(
        self,
        decision: BatchDecision,
        offsets: list[TopicPartition],
        group_metadata: Any,
        expired: dict[int, list[bytes]],
    ) -> ChangelogWrites:
        """Publish the batch; ``expired``: result keys to delete, per partition."""
        failures: list[str] = []
        changelog: dict[int, list[tuple[bytes, bytes | None, int]]] = defaultdict(list)
        reached: dict[int, int] = {}
        now_ms = int(time.time() * 1000)

        def delivered(
            on_success: Callable[[Message], None], err: KafkaError | None, msg: Message
        ) -> None:
            if err is not None:
                failures.append(f"{msg.topic()}: {err}")
            else:
                on_success(msg)

        def changelog_written(msg: Message) -> None:
            partition = msg.partition() or 0
            reached[partition] = max(reached.get(partition, 0), (msg.offset() or 0) + 1)

        def to_changelog(partition: int, key: bytes, value: bytes | None) -> None:
            changelog[partition].append((key, value, now_ms))
            self._produce(
                self.topics.processor_state,
                key,
                value,
                partition=partition,
                on_delivery=functools.partial(delivered, changelog_written),
            )

        self.steps = {}
        try:
            self._began_at = time.monotonic()
            self._producer.begin_transaction()
            self._write_events(decision, delivered, failures)
            self._step("events")
            for answer in decision.answers:
                if answer.dead_letter is not None:
                    record = answer.record
                    letter = dead_letters.dead_letter(
                        self.role,
                        topic=self.topics.commands,
                        partition=record.partition,
                        offset=record.offset,
                        key=record.key,
                        raw=record.value,
                        error=answer.dead_letter.to_dict(),
                    )
                    self._produce(
                        self.topics.dead_letters(self.role), record.key, codec.encode(letter)
                    )
                if answer.result is None:
                    continue
                encoded = codec.encode(answer.result)
                self._produce(
                    self.topics.results,
                    answer.sku.encode() if answer.sku else None,
                    encoded,
                    headers=[(tracing.HEADER, answer.trace)] if answer.trace else None,
                )
                if answer.store and answer.sku is not None and answer.command_id is not None:
                    key = result_key(answer.sku, answer.command_id)
                    to_changelog(answer.record.partition, key, encoded)
            for sku, (partition, state) in decision.states.items():
                to_changelog(partition, state_key(sku), codec.encode(state.to_dict()))
            for partition, keys in expired.items():
                for key in keys:
                    to_changelog(partition, key, None)
            self._flush(failures)
            self._step("records")
            self._bounded(
                "send_offsets_to_transaction",
                lambda: self._producer.send_offsets_to_transaction(
                    offsets, group_metadata, self.timeout_s
                ),
            )
            self._step("offsets")
            self._commit()
            self._step("commit")
        except KafkaException as exc:
            self._abort_after(exc.args[0])
        except AbortedError as exc:
            self._abort_after(None, str(exc))
        return {p: (records, reached[p]) for p, records in changelog.items() if p in reached}

    def _write_events(
        self,
        decision: BatchDecision,
        delivered: Callable[[Callable[[Message], None], KafkaError | None, Message], None],
        failures: list[str],
    ) -> None:
        """Write the events and wait for them: each result then gets its positions."""
        if not decision.events:
            return
        positions: list[dict[str, int]] = [{} for _ in decision.events]

        def event_written(index: int, msg: Message) -> None:
            positions[index] = {"partition": msg.partition() or 0, "offset": msg.offset() or 0}

        traces = decision.traces
        for index, (sku, event) in enumerate(decision.events):
            trace = traces.get(index) if traces else None
            self._produce(
                self.topics.events,
                sku.encode(),
                codec.encode(event),
                on_delivery=functools.partial(delivered, functools.partial(event_written, index)),
                headers=[(tracing.HEADER, trace)] if trace else None,
            )
        self._flush(failures)
        for answer in decision.answers:
            if answer.events:
                assert answer.result is not None
                answer.result["positions"] = [positions[i] for i in answer.events]

    def _produce(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        *,
        partition: int | None = None,
        on_delivery: Callable[[KafkaError | None, Message], None] | None = None,
        headers: tracing.Headers | None = None,
    ) -> None:
        kwargs: dict[str, Any] = {"key": key, "value": value}
        if partition is not None:
            kwargs["partition"] = partition
        if headers is not None:
            kwargs["headers"] = headers
        if on_delivery is not None:
            kwargs["on_delivery"] = on_delivery
        while True:
            try:
                self._producer.produce(topic, **kwargs)
                return
            except BufferError:  # the local queue is full: let it drain
                self._producer.poll(0.05)

    def _flush(self, failures: list[str]) -> None:
        """Wait for the records' delivery. When a broker connection was lost during the
        transaction or just before, a delivery still pending ``LOST_GRACE_S`` later
        gives the producer up (:class:`FencedError`) rather than waiting for the
        partition's new leader and the transaction's new coordinator through this
        producer: a new one finds both as soon as the cluster has them (measured:
        7 s of waiting here after a broker died, against 3 s for the cluster to
        move its partitions)."""
        began = time.monotonic()
        while self._producer.flush(0.1):
            waited = time.monotonic() - began
            if waited >= self.timeout_s:
                raise AbortedError("records not delivered in time")
            if waited >= LOST_GRACE_S and self._connection_lost():
                self._hung = True  # its queue is not delivered at close: it is given up
                raise FencedError(
                    f"records not delivered within {waited:.0f} s "
                    "(a broker connection was lost during the transaction or just before)"
                )
        if failures:
            raise AbortedError(f"{len(failures)} record(s) refused, first: {failures[0]}")

    def _commit(self) -> None:
        """Commit; a retriable error (a timeout) retries the same transaction."""
        while True:
            try:
                self._bounded(
                    "commit_transaction", lambda: self._producer.commit_transaction(self.timeout_s)
                )
                return
            except KafkaException as exc:
                err: KafkaError = exc.args[0]
                if err.retriable() and not err.txn_requires_abort() and not err.fatal():
                    log.warning("commit not confirmed yet (%s); retrying", err)
                    continue
                raise

    def _step(self, name: str) -> None:
        self.steps[name] = time.monotonic() - self._began_at - sum(self.steps.values())

    def _connection_lost(self) -> bool:
        """A broker connection was lost during the open transaction or just before."""
        return self._lost_at >= self._began_at - RECENT_LOSS_S

    def _on_error(self, err: KafkaError) -> None:
        """librdkafka's client-level errors (served by ``poll``): note a lost connection."""
        if err.code() in _CONNECTION_LOST:
            self._lost_at = time.monotonic()

    def _bounded(self, what: str, call: Callable[[], object]) -> None:
        """Run a blocking transactional call, but never wait on it for ever.

        librdkafka can block in ``send_offsets_to_transaction`` past its timeout when
        the group coordinator's broker died (confluentinc/librdkafka#5456, #5511: the
        coordinator request's timeout is never checked), and goes on blocking after
        the broker is back. The call runs on a helper thread while this one polls
        the producer (which reports lost connections). The producer is given up
        (:class:`FencedError`) when the call has not returned ``LOST_GRACE_S``
        after it began although a broker connection was lost during the
        transaction or in the ``RECENT_LOSS_S`` before it (the hang's likely cause
        is known: waiting longer only delays the answers, and a new producer
        waits for the new coordinator just as well), or ``HUNG_GRACE_S`` after
        its own timeout in any case. The
        processor then builds its clients afresh, and the new producer's
        ``init_transactions`` fences this one and aborts its open transaction, so
        nothing of the batch is visible and the batch is read again from the
        committed offsets.
        """
        outcome: list[object] = [_PENDING]

        def run() -> None:
            try:
                call()
                outcome[0] = None
            except BaseException as exc:  # handed over to the caller, raised there
                outcome[0] = exc

        helper = threading.Thread(target=run, name=f"txn-{what}", daemon=True)
        began = time.monotonic()
        helper.start()
        while helper.is_alive():
            helper.join(0.05)
            self._producer.poll(0)
            waited = time.monotonic() - began
            if waited >= self.timeout_s + HUNG_GRACE_S:
                why = "the coordinator's broker is gone; librdkafka#5456"
            elif waited >= LOST_GRACE_S and self._connection_lost():
                why = "a broker connection was lost during the transaction or just before"
            else:
                continue
            if outcome[0] is not _PENDING:
                break
            self._hung = True
            raise FencedError(f"{what} did not return within {waited:.0f} s ({why})")
        if isinstance(outcome[0], BaseException):
            raise outcome[0]

    def _abort_after(self, err: KafkaError | None, why: str = "") -> None:
        """Abort the open transaction, then raise AbortedError (FencedError when fatal)."""
        if err is not None and err.fatal():
            raise FencedError(f"producer: {err}")
        for _ in range(5):
            try:
                self._bounded(
                    "abort_transaction", lambda: self._producer.abort_transaction(self.timeout_s)
                )
                break
            except KafkaException as exc:
                abort_err: KafkaError = exc.args[0]
                if abort_err.fatal() or not abort_err.retriable():
                    raise FencedError(f"aborting: {abort_err}") from exc
        else:
            raise FencedError("the transaction could not be aborted")
        raise AbortedError(str(err) if err is not None else why)
