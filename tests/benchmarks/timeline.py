"""The timeline of a command, stamped at every hop that can be seen from outside.

A command is produced raw to the commands topic (as any client in any language
would) and followed, without instrumenting eventcart, through:

- **acked**: the broker acknowledged the produce (the delivery callback);
- **decided**: the processor produced its event (the event record's own
  timestamp, set by the processor's producer; millisecond resolution);
- **answered**: its result is visible to a read-committed consumer of the
  results topic (the processor's transaction committed);
- **event visible**: its event is visible to a read-committed consumer of the
  events topic;
- **pricing applied**: the pricing checkpoint has passed the event (rows and
  checkpoint commit together, so the row is visible);
- **search written**: the search positions record has passed it (the document
  is readable by id);
- **searchable**: a search (not a get) finds the search positions past it, i.e.
  an index refresh has made the batch searchable.

Watchers poll the stores every 10 ms and consume both topics on their own
threads; each hop's time is the first instant it was seen, minus the instant the
command was produced. Shared by the timeline benchmark.
"""

from __future__ import annotations

import bisect
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

import orjson
import psycopg
from confluent_kafka import Consumer, Producer, TopicPartition
from elasticsearch import ApiError, Elasticsearch
from psycopg import sql

from producers import commands as c
from producers.client import producer_config
from read_models.search.positions import applied_now, positions_index
from schemas import codec
from schemas.config.connections import elasticsearch_options, kafka_config, postgres_conninfo
from schemas.config.settings import Settings
from schemas.topics import Topics

#: how often the stores are asked (as the outside measurement: every 10 ms)
POLL_S = 0.01
#: the hops seen in the stores, polled
STORE_HOPS = ("pricing applied", "search written", "searchable")
HOPS = (
    "acked",
    "decided",
    "answered",
    "event visible",
    "pricing applied",
    "search written",
    "searchable",
)


@dataclass
class Stamps:
    """One command's instants (time.time()), by hop."""

    sent: float
    at: dict[str, float] = field(default_factory=dict)
    position: tuple[int, int] | None = None


class Timeline:
    """Produces commands and watches every hop of each."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.topics = Topics.from_settings(settings)
        self.commands: dict[str, Stamps] = {}
        self.by_position: dict[tuple[int, int], Stamps] = {}
        #: per store hop and partition, the offsets not seen there yet, sorted: a poll
        #: stamps what a checkpoint passed in time proportional to that, not to the backlog
        self.waiting: dict[str, dict[int, list[int]]] = {hop: {} for hop in STORE_HOPS}
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.producer = Producer(producer_config(settings) | {"linger.ms": 0})
        self.threads = [
            threading.Thread(target=self._acks, daemon=True),
            threading.Thread(target=self._results, daemon=True),
            threading.Thread(target=self._events, daemon=True),
            threading.Thread(target=self._stores, daemon=True),
        ]

    def __enter__(self) -> Timeline:
        for thread in self.threads:
            thread.start()
        time.sleep(2)  # the consumers assigned at the end before anything is sent
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)
        self.producer.flush(30)

    # --- sending ---------------------------------------------------------------
    def send(self, sku: str, amount: str) -> str:
        """Produce one ChangePrice; its command id."""
        command_id = str(uuid.uuid4())
        command = c.change_price(sku, amount, "EUR", command_id=command_id)
        stamps = Stamps(time.time())
        with self.lock:
            self.commands[command_id] = stamps

        def acked(err: object, _msg: object) -> None:
            if err is None:
                stamps.at["acked"] = time.time()

        self.producer.produce(
            self.topics.commands, codec.encode(command), key=sku.encode(), on_delivery=acked
        )
        return command_id

    def run(self, skus: list[str], rate: int, seconds: float, round_: int) -> list[Stamps]:
        """``rate`` commands/s for ``seconds``, round-robin over ``skus``; their stamps."""
        began = time.monotonic()
        sent: list[str] = []
        n = 0
        while time.monotonic() - began < seconds:
            sent.append(self.send(skus[n % len(skus)], f"{round_}.{n % 10000:04d}"))
            n += 1
            pause = began + n / rate - time.monotonic()
            if pause > 0:
                time.sleep(pause)
        self.producer.flush(30)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            with self.lock:
                done = all("searchable" in self.commands[k].at for k in sent)
            if done:
                break
            time.sleep(0.2)
        with self.lock:
            return [self.commands[k] for k in sent]

    # --- watching --------------------------------------------------------------
    def _acks(self) -> None:
        # Delivery reports are served by poll(): polled all the time, an ack is stamped
        # when it arrives, not at the next send (100 ms later at 10/s).
        while not self.stop.is_set():
            self.producer.poll(0.05)  # returns as soon as a report is served

    def _consumer(self, topic: str) -> Consumer:
        consumer = Consumer(
            kafka_config(
                self.settings,
                **{
                    "group.id": f"timeline-{uuid.uuid4()}",
                    "isolation.level": "read_committed",
                    # a fetch returns as soon as a record is there: waiting long costs no
                    # latency, while 5 ms made the watchers a load on the broker
                    "fetch.wait.max.ms": 100,
                    "enable.auto.commit": False,
                },
            )
        )
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        ends = [
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in partitions
        ]
        consumer.assign([TopicPartition(topic, p, ends[p]) for p in partitions])
        return consumer

    def _follow(self, topic: str, handle: Callable[[bytes, int, int, int, float], None]) -> None:
        consumer = self._consumer(topic)
        try:
            while not self.stop.is_set():
                # What is there now, else the first record to arrive: consume(n, t) waits
                # for n records or t, which stamped every hop up to 50 ms late.
                messages = consumer.consume(500, timeout=0) or consumer.consume(1, timeout=0.05)
                for message in messages:
                    now = time.time()
                    partition, offset = message.partition(), message.offset()
                    if message.error() is None and partition is not None and offset is not None:
                        stamp_ms = message.timestamp()[1]
                        handle(message.value() or b"", partition, offset, stamp_ms, now)
        finally:
            consumer.close()

    def _results(self) -> None:
        def handle(value: bytes, _p: int, _o: int, _ts: int, now: float) -> None:
            result = orjson.loads(value)
            with self.lock:
                stamps = self.commands.get(result.get("command_id", ""))
                if stamps is None:
                    return
                stamps.at["answered"] = now
                for position in result.get("positions") or []:
                    self._await((position["partition"], position["offset"]), stamps)

        self._follow(self.topics.results, handle)

    def _events(self) -> None:
        def handle(value: bytes, partition: int, offset: int, ts_ms: int, now: float) -> None:
            command_id = orjson.loads(value).get("command_id", "")
            with self.lock:
                stamps = self.commands.get(command_id)
                if stamps is not None:
                    stamps.at["event visible"] = now
                    stamps.at["decided"] = ts_ms / 1000
                    self._await((partition, offset), stamps)

        self._follow(self.topics.events, handle)

    def _stores(self) -> None:
        settings = self.settings
        query = sql.SQL(
            "SELECT partition, \"offset\" FROM {}.checkpoint WHERE projection = 'pricing'"
        ).format(sql.Identifier(settings.pricing_schema))
        with (
            psycopg.connect(postgres_conninfo(settings), autocommit=True) as pg,
            Elasticsearch(**elasticsearch_options(settings)) as es,
        ):
            while not self.stop.is_set():
                try:
                    found = {
                        "pricing applied": {
                            int(p): int(o) for p, o in pg.execute(query).fetchall()
                        },
                        "search written": applied_now(
                            es, settings.search_index, settings.partitions
                        ),
                        "searchable": _searchable(es, settings.search_index),
                    }
                except (psycopg.Error, ApiError):  # a store not made yet: look again
                    time.sleep(0.1)
                    continue
                now = time.time()
                with self.lock:
                    for hop, offsets in found.items():
                        for partition, waiting in self.waiting[hop].items():
                            passed = bisect.bisect_right(waiting, offsets.get(partition, -1))
                            for offset in waiting[:passed]:
                                self.by_position[(partition, offset)].at[hop] = now
                            del waiting[:passed]
                time.sleep(POLL_S)

    def _await(self, position: tuple[int, int], stamps: Stamps) -> None:
        """Watch for the event at ``position`` in the stores (once; under the lock)."""
        stamps.position = position
        if position in self.by_position:
            return
        self.by_position[position] = stamps
        partition, offset = position
        for hop in STORE_HOPS:
            bisect.insort(self.waiting[hop].setdefault(partition, []), offset)


def _searchable(es: Elasticsearch, alias: str) -> dict[int, int]:
    """The search positions as a search sees them (as of the last refresh)."""
    hits = es.search(index=positions_index(alias), size=100, query={"match_all": {}})
    return {
        int(h["_source"]["partition"]): int(h["_source"]["offset"]) for h in hits["hits"]["hits"]
    }
