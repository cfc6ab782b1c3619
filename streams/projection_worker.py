"""A read model's live projection: batches of committed events, through the batch step.

Runs inside the projection's Faust app (``streams.projections``) on a
thread of its own, with a confluent-kafka consumer that takes records in
batches (``consume(n)``): Faust's own consumer hands records to a stream one
at a time (futures and an ``asyncio.wait`` per message), which capped a
projection near 15,000 events/s before any projecting, and it commits
offsets only over records it acked one by one.

Its batches go through :mod:`streams.driver`, the loop every path into a read
model runs (pipelined: batch N+1 is read and decoded while batch N is
written; the offsets of batch N are committed once it is applied); this
module only says where they come from (:class:`GroupTail`).

Static group membership (``streams.membership``): a restarted worker gets its
partitions back at once, without a rebalance.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from opentelemetry.trace import SpanKind

from read_models.projection import Sink
from schemas import tracing
from schemas.config.connections import kafka_config
from schemas.config.settings import Settings
from schemas.topics import Topics
from streams import gap_repair, metrics
from streams.batch_step import BatchStep, StepReport
from streams.driver import Driver
from streams.event_log import Batch
from streams.kafka_errors import ends_the_client
from streams.membership import static_member

__all__ = ["GroupTail", "ProjectionWorker"]

log = logging.getLogger(__name__)


class GroupTail:
    """The live projection's source: its consumer group's share of the events topic.

    A batch is what the consumer has fetched, up to the batch size (waiting
    briefly for the first record only), decoded and upcast. Its offsets are
    committed when the driver reports it applied. A partition taken away by a
    rebalance has the batch in flight settled (applied and committed) first; a
    partition lost without notice (the group gave it away already) has it waited
    for but not committed: its next owner reads it again.
    """

    finished = False

    def __init__(self, role: str, settings: Settings, driver: Driver) -> None:
        self.role, self.settings = role, settings
        self.topic = Topics.from_settings(settings).events
        group = f"{settings.topic_prefix}-{role}"
        self._positions: dict[int, list[TopicPartition]] = {}
        #: batch -> (oldest, newest) record timestamp in ms: how fresh its writes are
        self._stamps: dict[int, tuple[int, int]] = {}
        #: batch -> (partition, offset) -> traceparent of its traced events (tracing on)
        self._traces: dict[int, dict[tuple[int, int], bytes]] = {}
        self._tracing = tracing.enabled()
        self._consumer = Consumer(
            {
                **kafka_config(settings),
                **static_member(settings, group, f"{group}-{settings.worker_id}"),
                "isolation.level": "read_committed",
                "enable.auto.commit": False,
                "enable.auto.offset.store": False,
                "auto.offset.reset": "earliest",
                "fetch.max.bytes": 64 * 1024 * 1024,
                "max.partition.fetch.bytes": 16 * 1024 * 1024,
            }
        )
        self._consumer.subscribe(
            [self.topic],
            on_revoke=lambda _c, _p: driver.settle(),
            on_lost=lambda _c, _p: driver.forget(),
        )

    def close(self) -> None:
        self._consumer.close()

    def take(self) -> Batch | None:
        consumer, size = self._consumer, self.settings.projection_batch_max
        messages: list[Message] = consumer.consume(size, timeout=0)
        if not messages:
            messages = consumer.consume(1, timeout=self.settings.projection_batch_within_s)
            if messages:
                messages += consumer.consume(size - 1, timeout=0)
        batch = Batch()
        oldest = newest = 0
        traced: dict[tuple[int, int], bytes] = {}
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
            stamp = message.timestamp()[1]
            oldest = stamp if not oldest else min(oldest, stamp)
            newest = max(newest, stamp)
            if self._tracing and (parent := tracing.record_trace(message.headers())) is not None:
                traced[(message.partition() or 0, message.offset() or 0)] = parent
        if not batch.reached:
            return None
        self._stamps[id(batch)] = (oldest, newest)
        if traced:
            self._traces[id(batch)] = traced
        # Where each partition of the batch resumes: past the batch, and past any
        # commit marker the consumer has already stepped over.
        positions = consumer.position([TopicPartition(self.topic, p) for p in batch.reached])
        self._positions[id(batch)] = [
            tp
            if tp.offset >= 0
            else TopicPartition(tp.topic, tp.partition, batch.reached[tp.partition] + 1)
            for tp in positions
        ]
        return batch

    def done(self, batch: Batch, report: StepReport) -> None:
        self._consumer.commit(offsets=self._positions.pop(id(batch)), asynchronous=False)
        role = self.role
        metrics.EVENTS_APPLIED.labels(role).inc(report.applied)
        metrics.EVENTS_SKIPPED.labels(role).inc(report.skipped)
        metrics.DEAD_LETTERS.labels(role).inc(report.dead_lettered)
        metrics.BATCH_SIZE.labels(role).observe(len(batch.events) + len(batch.undecodable))
        metrics.BATCH_SECONDS.labels(role).observe(report.seconds)
        oldest, newest = self._stamps.pop(id(batch), (0, 0))
        traced = self._traces.pop(id(batch), None)
        if traced:
            trace_writes(role, batch, traced, report.seconds)
        now_ms = time.time() * 1000
        if oldest > 0:
            metrics.WRITE_FRESHNESS.labels(role).observe(max(0.0, now_ms - oldest) / 1000)
        waiting = False
        for partition, offset in batch.reached.items():
            _, high = self._consumer.get_watermark_offsets(
                TopicPartition(self.topic, partition), cached=True
            )
            if high is not None and high >= 0:
                metrics.LAG.labels(role, str(partition)).set(max(0, high - offset - 1))
                # A marker ends a transactional partition: more than it means records wait.
                waiting = waiting or high - offset - 1 > 1
        # The next record waiting is no older than this batch's newest: an upper bound.
        behind = max(0.0, now_ms - newest) / 1000 if waiting and newest > 0 else 0.0
        metrics.BEHIND.labels(role).set(behind)


def trace_writes(
    role: str, batch: Batch, traced: dict[tuple[int, int], bytes], seconds: float
) -> None:
    """A span per traced event, in its command's trace, over the batch's write; and one
    for the batch, linked to them. Recorded once the batch is committed."""
    end = time.time_ns()
    start = end - int(seconds * 1e9)
    links = []
    for positioned in batch.events:
        parent = traced.get((positioned.partition, positioned.offset))
        if parent is None:
            continue
        event = positioned.event
        span = tracing.start_span(
            f"{role} write {event.get('type')}",
            parent=parent,
            kind=SpanKind.CONSUMER,
            start_ns=start,
            attributes={
                "eventcart.sku": str(event.get("sku", "")),
                "eventcart.version": int(event.get("version", 0)),
                "eventcart.command_id": str(event.get("command_id", "")),
                "messaging.kafka.partition": positioned.partition,
                "messaging.kafka.offset": positioned.offset,
            },
        )
        links.append(tracing.traceparent_of(span) or parent)
        tracing.end_span(span, end_ns=end)
    batch_span = tracing.start_span(
        f"{role} batch",
        links=links,
        start_ns=start,
        attributes={"eventcart.events": len(batch.events)},
    )
    tracing.end_span(batch_span, end_ns=end)


class ProjectionWorker:
    """Drives the events topic into one read model until :meth:`stop`."""

    def __init__(
        self,
        role: str,
        settings: Settings,
        make_sink: Callable[[], Sink],
        make_repair_sink: Callable[[], Sink],
    ) -> None:
        self.role, self.settings = role, settings
        self._make_sink, self._make_repair_sink = make_sink, make_repair_sink
        self._stopping = threading.Event()
        self._driver: Driver | None = None

    def stop(self) -> None:
        self._stopping.set()
        if self._driver is not None:
            self._driver.stop()

    def run(self) -> None:
        driver = self._driver = Driver(
            self._connect(), store_timeout_s=self.settings.store_timeout_s
        )
        if self._stopping.is_set():
            driver.stop()
        try:
            while not self._stopping.is_set():
                try:
                    source = GroupTail(self.role, self.settings, driver)
                    try:
                        driver.run(source)
                    finally:
                        source.close()
                except Exception:
                    # Kafka away longer than a call waits, a fatal consumer error: start
                    # the consumer afresh from the committed offsets; nothing is lost.
                    log.exception("%s: consuming failed; starting the consumer afresh", self.role)
                    self._stopping.wait(2.0)
        finally:
            driver.close()

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
        fill = gap_repair.filler(self.settings, self.role, self._make_repair_sink)
        return BatchStep.for_role(self.role, sink, self.settings, fill_gaps=fill)
