"""A read model's live projection: batches of committed events, through the batch step.

Runs inside the projection's Faust app (``streams.projections``) on a
thread of its own, with a confluent-kafka consumer that takes records in
batches (``consume(n)``): Faust's own consumer hands records to a stream one
at a time (futures and an ``asyncio.wait`` per message), which capped a
projection near 15,000 events/s before any projecting, and it commits
offsets only over records it acked one by one.

Per batch: what the consumer has fetched, up to the batch size (waiting
briefly for the first record only), decoded and upcast, then handed to
:class:`streams.batch_step.BatchStep` on a writer thread. While the writer
writes batch N, this thread takes and decodes batch N+1 (pipelining: at most
one batch in flight, so the order per partition is kept); the offsets of
batch N are committed once it is written. A partition taken away by a
rebalance waits for the batch in flight and has its offsets committed first.

Static group membership (``group.instance.id``): a restarted worker gets its
partitions back at once, without a rebalance.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from read_models.projection import Sink
from schemas.connections import kafka_config
from schemas.settings import Settings
from schemas.topics import Topics
from streams import metrics
from streams.batch_step import BatchStep, StepReport
from streams.event_log import Batch
from streams.kafka_errors import ends_the_client

__all__ = ["ProjectionWorker"]

log = logging.getLogger(__name__)


class ProjectionWorker:
    """Consumes the events topic for one read model until :meth:`stop`."""

    def __init__(
        self,
        role: str,
        settings: Settings,
        make_sink: Callable[[], Sink],
        make_repair_sink: Callable[[], Sink],
    ) -> None:
        self.role, self.settings = role, settings
        self.topics = Topics.from_settings(settings)
        self.group = f"{settings.topic_prefix}-{role}"
        self.instance = f"{self.group}-{settings.worker_id}"
        self._make_sink, self._make_repair_sink = make_sink, make_repair_sink
        self._stopping = threading.Event()
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{role}-writer")
        self._in_flight: tuple[Future[StepReport], Batch, list[TopicPartition]] | None = None
        self._consumer: Consumer | None = None

    def stop(self) -> None:
        self._stopping.set()

    def run(self) -> None:
        step = self._connect()
        while not self._stopping.is_set():
            try:
                self._consume(step)
            except Exception:
                # Kafka away longer than a call waits, a fatal consumer error: start
                # the consumer afresh from the committed offsets; nothing is lost.
                log.exception("%s: consuming failed; starting the consumer afresh", self.role)
                self._stopping.wait(2.0)
        self._writer.shutdown(wait=True)

    def _connect(self) -> BatchStep:
        """The batch step around the read model's sink, waiting for its store to come up."""
        delay, began = 0.5, time.time()
        waiting = metrics.STORE_WAITING_SINCE.labels(self.role)
        while True:
            try:
                sink = self._make_sink()
                break
            except Exception as exc:
                log.warning("%s: cannot reach its store yet (%s); retrying", self.role, exc)
                metrics.STORE_RETRIES.labels(self.role).inc()
                waiting.set(began)
                if self._stopping.wait(delay):
                    raise SystemExit(0) from None
                delay = min(15.0, delay * 2)
        waiting.set(0)
        return BatchStep.for_role(
            self.role, sink, self.settings, repair_sink=self._make_repair_sink
        )

    def _consume(self, step: BatchStep) -> None:
        s = self.settings
        self._consumer = consumer = Consumer(
            {
                **kafka_config(s),
                "group.id": self.group,
                "group.instance.id": self.instance,
                "isolation.level": "read_committed",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "partition.assignment.strategy": "cooperative-sticky",
                "session.timeout.ms": s.session_timeout_ms,
                "heartbeat.interval.ms": max(500, s.session_timeout_ms // 10),
                "fetch.max.bytes": 64 * 1024 * 1024,
                "max.partition.fetch.bytes": 16 * 1024 * 1024,
            }
        )
        consumer.subscribe([self.topics.events], on_revoke=self._on_revoke, on_lost=self._on_lost)
        try:
            while not self._stopping.is_set():
                batch, positions = self._take(consumer)
                if batch is None:
                    self._finish()  # nothing new: make the batch in flight visible as done
                    continue
                self._finish()
                self._in_flight = (self._writer.submit(step.apply, batch), batch, positions)
            self._finish()
        finally:
            self._consumer = None
            consumer.close()

    def _take(self, consumer: Consumer) -> tuple[Batch | None, list[TopicPartition]]:
        size = self.settings.projection_batch_max
        messages: list[Message] = consumer.consume(size, timeout=0)
        if not messages:
            messages = consumer.consume(1, timeout=self.settings.projection_batch_within_s)
            if messages:
                messages += consumer.consume(size - 1, timeout=0)
        batch = Batch()
        for message in messages:
            error = message.error()
            if error is not None:
                if ends_the_client(error):
                    raise KafkaException(error)
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("%s: consumer: %s", self.role, error)
                continue
            batch.add(
                message.partition() or 0, message.offset() or 0, message.key(), message.value()
            )
        if not batch.reached:
            return None, []
        # Where each partition of the batch resumes: past the batch, and past any
        # commit marker the consumer has already stepped over.
        positions = consumer.position(
            [TopicPartition(self.topics.events, p) for p in batch.reached]
        )
        return batch, [
            tp
            if tp.offset >= 0
            else TopicPartition(tp.topic, tp.partition, batch.reached[tp.partition] + 1)
            for tp in positions
        ]

    def _finish(self) -> None:
        """Wait for the batch in flight, record it, and commit its offsets."""
        if self._in_flight is None:
            return
        future, batch, positions = self._in_flight
        self._in_flight = None
        report = self._wait_for(future)
        assert self._consumer is not None
        self._consumer.commit(offsets=positions, asynchronous=False)
        self._record(batch, report)

    def _wait_for(self, future: Future[StepReport]) -> StepReport:
        """The batch's report. A store that is down makes the step retry; one that
        accepted the request and stalls (a stopped process answers nothing, and a
        server-side timeout cannot fire) makes this wait: said in the log and in
        ``eventcart status`` while it lasts, and the partition waits with it."""
        began = time.time()
        waiting = metrics.STORE_WAITING_SINCE.labels(self.role)
        while True:
            try:
                return future.result(timeout=self.settings.store_timeout_s)
            except TimeoutError:
                waiting.set(began)
                log.warning(
                    "%s: its store has not answered for %.0f s; the partition waits",
                    self.role,
                    time.time() - began,
                )
            finally:
                if future.done():
                    waiting.set(0)

    def _on_revoke(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Finish what is in flight before the partitions go: their next owner
        # starts from the offsets committed here.
        self._finish()

    def _on_lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # The group already gave them away: do not commit, the next owner
        # re-reads (the sinks are idempotent).
        if self._in_flight is not None:
            self._wait_for(self._in_flight[0])
            self._in_flight = None

    def _record(self, batch: Batch, report: StepReport) -> None:
        role = self.role
        metrics.EVENTS_APPLIED.labels(role).inc(report.applied)
        metrics.EVENTS_SKIPPED.labels(role).inc(report.skipped)
        metrics.DEAD_LETTERS.labels(role).inc(report.dead_lettered)
        metrics.BATCH_SIZE.labels(role).observe(len(batch.events) + len(batch.undecodable))
        metrics.BATCH_SECONDS.labels(role).observe(report.seconds)
        assert self._consumer is not None
        for partition, offset in batch.reached.items():
            _, high = self._consumer.get_watermark_offsets(
                TopicPartition(self.topics.events, partition), cached=True
            )
            if high is not None and high >= 0:
                metrics.LAG.labels(role, str(partition)).set(max(0, high - offset - 1))
