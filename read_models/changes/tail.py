"""The one reader of the events topic per query API process, feeding its hub.

Why the events topic and not PostgreSQL's LISTEN/NOTIFY: a subscriber must be
able to resume from any id, also after the API restarted, and a notification
is gone once delivered; the topic keeps every event forever, in order per
partition (so per SKU). The tail reads it read-committed and *holds* each event
until both read models have applied it (:mod:`read_models.changes.applied`,
asked every ``EVENTCART_CHANGES_POLL_MS`` while anything waits), then releases
it to the hub. A freshly started tail begins ``EVENTCART_CHANGES_BUFFER``
events back, so subscribers reconnecting after a restart resume from memory.

All Kafka and store calls run on the tail's own thread; the event loop only
hears released changes (``call_soon_threadsafe``), in release order.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import OrderedDict, deque
from collections.abc import Mapping, Sequence
from typing import Any

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition
from elasticsearch import Elasticsearch
from opentelemetry.trace import SpanKind

from read_models.changes.applied import AppliedPositions
from read_models.changes.change import UNKNOWN, Change, Product, describe, product_after
from read_models.changes.hub import Hub
from schemas import tracing
from schemas.codec import decode_event
from schemas.config.connections import kafka_config
from schemas.config.settings import Settings
from schemas.errors import ContractError
from schemas.topics import Topics

__all__ = ["Tail", "TailUnavailable"]

log = logging.getLogger(__name__)

#: a traced event's sampled ``traceparent`` and when the tail read it (ns)
Traced = tuple[bytes, int]
#: offset, event (None: not an event we can read), its trace (tracing on, event traced)
Held = tuple[int, dict[str, Any] | None, Traced | None]


class TailUnavailable(Exception):  # noqa: N818 (an outcome: 503, like SearchUnavailable)
    """Kafka could not be reached to start the stream or check a position."""


class Products:
    """SKU -> brand and category, for the filters: learnt from registrations and
    details events, else read once from the search read model (bounded LRU)."""

    def __init__(self, es: Elasticsearch, alias: str, size: int = 200_000) -> None:
        self.es = es
        self.alias = alias
        self.size = size
        self.known: OrderedDict[str, Product] = OrderedDict()
        self.lock = threading.Lock()

    def lookup(self, events: Sequence[Mapping[str, Any]]) -> None:
        """Make sure every SKU of ``events`` is known (one multi-get for the rest)."""
        with self.lock:
            missing = {e["sku"] for e in events if e["sku"] not in self.known}
        if not missing:
            return
        response = self.es.mget(
            index=self.alias, ids=sorted(missing), source_includes=["brand", "category_path"]
        )
        with self.lock:
            for doc in response["docs"]:
                source = doc.get("_source") or {}
                found = Product(
                    str(source.get("brand", "")), tuple(source.get("category_path", ()))
                )
                self._put(doc["_id"], found if doc.get("found") else UNKNOWN)

    def after(self, event: Mapping[str, Any]) -> Product:
        with self.lock:
            before = self.known.get(event["sku"])
            product = product_after(before, event) or before or UNKNOWN
            self._put(event["sku"], product)
            return product

    def _put(self, sku: str, product: Product) -> None:
        self.known[sku] = product
        self.known.move_to_end(sku)
        while len(self.known) > self.size:
            self.known.popitem(last=False)


def _decode(message: Message) -> dict[str, Any] | None:
    try:
        return decode_event(message.value() or b"")
    except ContractError:
        return None  # the projections dead-letter it; subscribers are told nothing


def _released_span(partition: int, offset: int, event: Mapping[str, Any], trace: Traced) -> None:
    """A traced event's wait in the tail, in its command's trace: from when it was read
    to when both read models had applied it and it went out to every change stream."""
    parent, read_ns = trace
    span = tracing.start_span(
        f"push change {event['type']}",
        parent=parent,
        kind=SpanKind.PRODUCER,
        start_ns=read_ns,
        attributes={
            "eventcart.sku": event["sku"],
            "eventcart.event_id": event["event_id"],
            "messaging.kafka.partition": partition,
            "messaging.kafka.offset": offset,
        },
    )
    tracing.end_span(span)


class Tail:
    def __init__(self, settings: Settings, es: Elasticsearch, reader_dsn: str) -> None:
        self.settings = settings
        self.topic = Topics.from_settings(settings).events
        self.products = Products(es, settings.search_index)
        self.applied = AppliedPositions(
            es, settings.search_index, reader_dsn, settings.pricing_schema
        )
        self.partitions = 0
        self.hub: Hub | None = None
        self.ready = asyncio.Event()
        self._started = asyncio.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._consumer: Consumer | None = None
        self._lookup: Consumer | None = None
        self._lookup_lock = threading.Lock()

    def _new_consumer(self) -> Consumer:
        return Consumer(
            kafka_config(
                self.settings,
                **{
                    "group.id": "eventcart-changes",  # never joined: partitions are assigned
                    "enable.auto.commit": False,
                    "isolation.level": "read_committed",
                    "fetch.wait.max.ms": 10,
                    "enable.partition.eof": False,
                },
            )
        )

    async def start(self) -> Hub:
        """Start the tail on first use (an API nobody subscribes to reads no topic)."""
        async with self._started:
            if self.hub is None:
                loop = asyncio.get_running_loop()
                self.hub = await asyncio.to_thread(self._open, loop)
        await asyncio.wait_for(self.ready.wait(), timeout=60)
        return self.hub

    def _open(self, loop: asyncio.AbstractEventLoop) -> Hub:
        consumer = self._new_consumer()
        try:
            topic = consumer.list_topics(self.topic, timeout=10).topics[self.topic]
            if topic.error is not None:
                raise TailUnavailable(f"topic {self.topic}: {topic.error}")
            self.partitions = len(topic.partitions)
            marks = [self._marks(consumer, p) for p in range(self.partitions)]
        except KafkaException as exc:
            consumer.close()
            raise TailUnavailable(f"Kafka: {exc}") from exc
        try:
            # Ready once what both read models had applied at start is released again: a
            # subscriber from "now" is then told only what its own reads cannot show yet.
            target = self.applied.read(self.partitions)
        except Exception as exc:
            consumer.close()
            raise TailUnavailable(f"the read models' positions: {exc}") from exc
        per_partition = max(1, self.settings.changes_buffer // self.partitions)
        begin = [max(low, high - per_partition) for low, high in marks]
        hub = Hub(
            self.partitions,
            self.settings.changes_buffer,
            self.settings.changes_max_backlog,
            self.settings.changes_stall_s,
        )
        hub.begin_at(begin)
        consumer.assign([TopicPartition(self.topic, p, o) for p, o in enumerate(begin)])
        self._consumer = consumer
        goal = {p: min(marks[p][1], target[p] + 1) for p in range(self.partitions)}
        self._thread = threading.Thread(
            target=self._run, args=(loop, hub, goal), name="changes-tail", daemon=True
        )
        self._thread.start()
        return hub

    def _marks(self, consumer: Consumer, partition: int) -> tuple[int, int]:
        low, high = consumer.get_watermark_offsets(
            TopicPartition(self.topic, partition), timeout=10, cached=False
        )
        return int(low), int(high)

    def watermarks(self) -> list[tuple[int, int]]:
        """(low, high) per partition, asked of the brokers now (for checking a resume id).

        On a consumer of its own: one that is consuming on another thread answers
        a watermark query only after a long wait."""
        with self._lookup_lock:
            if self._lookup is None:
                self._lookup = self._new_consumer()
            try:
                return [self._marks(self._lookup, p) for p in range(self.partitions)]
            except KafkaException as exc:
                raise TailUnavailable(f"Kafka: {exc}") from exc

    # --- the tail's thread ---------------------------------------------------
    def _run(self, loop: asyncio.AbstractEventLoop, hub: Hub, goal: Mapping[int, int]) -> None:
        assert self._consumer is not None
        consumer = self._consumer
        held: list[deque[Held]] = [deque() for _ in range(self.partitions)]
        poll_s = self.settings.changes_poll_ms / 1000
        # Read models stopped for long must not fill this process: hold at most this
        # many events, and read on once they are released.
        most = 2 * self.settings.changes_buffer
        asked_at, backoff, ready = 0.0, 0.0, False
        while not self._stop.is_set():
            try:
                if sum(map(len, held)) < most:
                    self._read(consumer, held, timeout_s=poll_s if any(held) else 0.1)
                else:
                    time.sleep(poll_s)
                positions: dict[int, int] = {}
                if any(held):
                    now = time.monotonic()
                    if now - asked_at < max(poll_s, backoff):
                        continue
                    asked_at = now
                    changes = self._release(held, self.applied.read(self.partitions))
                    backoff = 0.0
                    positions = {p: q[0][0] for p, q in enumerate(held) if q}
                    if changes or positions:
                        loop.call_soon_threadsafe(hub.publish, changes, positions)
                reached = self._positions(consumer) | positions
                if not any(held) and reached:
                    loop.call_soon_threadsafe(hub.publish, [], reached)
                if not ready and all(reached.get(p, 0) >= n for p, n in goal.items()):
                    ready = True
                    loop.call_soon_threadsafe(self.ready.set)
            except Exception as exc:  # a store or Kafka that cannot answer: ask again later
                backoff = min(max(backoff * 2, 0.1), 5.0)
                log.warning("change stream: %s (trying again in %.1f s)", exc, backoff)
                time.sleep(backoff)
        consumer.close()

    def _read(self, consumer: Consumer, held: list[deque[Held]], timeout_s: float) -> None:
        for message in consumer.consume(500, timeout=timeout_s):
            error = message.error()
            if error is not None:
                if error.code() != KafkaError._PARTITION_EOF:
                    log.warning("change stream: %s", error)
                continue
            partition, offset = message.partition(), message.offset()
            if partition is not None and offset is not None:
                trace = tracing.record_trace(message.headers()) if tracing.enabled() else None
                traced = (trace, time.time_ns()) if trace is not None else None
                held[partition].append((offset, _decode(message), traced))

    def _positions(self, consumer: Consumer) -> dict[int, int]:
        assigned = consumer.position(
            [TopicPartition(self.topic, p) for p in range(self.partitions)]
        )
        return {tp.partition: tp.offset for tp in assigned if tp.offset >= 0}

    def _release(self, held: list[deque[Held]], applied: Mapping[int, int]) -> list[Change]:
        """Take every held event both read models have applied, in order, as changes.
        They leave ``held`` only once described: a lookup that fails loses nothing."""
        ready: list[tuple[int, int, dict[str, Any] | None]] = []
        traced: list[tuple[int, int, dict[str, Any], Traced]] = []
        for partition, queue in enumerate(held):
            limit = applied.get(partition, -1)
            for offset, event, trace in queue:
                if offset > limit:
                    break
                ready.append((partition, offset, event))
                if trace is not None and event is not None:
                    traced.append((partition, offset, event, trace))
        changes = self.describe(ready)
        for partition, _, _ in ready:
            held[partition].popleft()
        for partition, offset, event, trace in traced:
            _released_span(partition, offset, event, trace)
        return changes

    def describe(self, events: Sequence[tuple[int, int, dict[str, Any] | None]]) -> list[Change]:
        known = [e for _, _, e in events if e is not None]
        self.products.lookup(known)
        return [
            describe(partition, offset, event, self.products.after(event))
            for partition, offset, event in events
            if event is not None
        ]

    # --- reading back what the buffer no longer holds --------------------------
    def read_back(
        self, ranges: Mapping[int, tuple[int, int]], limit: int = 5000
    ) -> tuple[list[Change], dict[int, int]]:
        """Up to ``limit`` changes of ``ranges`` (partition -> [from, to)), only those
        both read models have applied; and where each partition got to."""
        consumer = self._new_consumer()
        reached = {p: start for p, (start, _) in ranges.items()}
        open_ = {p for p, (start, end) in ranges.items() if start < end}
        found: list[tuple[int, int, dict[str, Any] | None]] = []
        try:
            applied = self.applied.read(self.partitions)
            consumer.assign([TopicPartition(self.topic, p, reached[p]) for p in open_])
            deadline = time.monotonic() + 10
            while open_ and len(found) < limit and time.monotonic() < deadline:
                for message in consumer.consume(500, timeout=0.2):
                    p, offset = message.partition(), message.offset()
                    if message.error() is not None or p not in open_ or offset is None:
                        continue
                    if offset >= ranges[p][1] or offset > applied.get(p, -1):
                        open_.discard(p)
                        continue
                    found.append((p, offset, _decode(message)))
                    reached[p] = offset + 1
                for tp in consumer.position([TopicPartition(self.topic, p) for p in list(open_)]):
                    if tp.offset >= ranges[tp.partition][1]:
                        reached[tp.partition] = max(reached[tp.partition], ranges[tp.partition][1])
                        open_.discard(tp.partition)
        finally:
            consumer.close()
        return self.describe(found), reached

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._lookup is not None:
            self._lookup.close()
        self.applied.close()
