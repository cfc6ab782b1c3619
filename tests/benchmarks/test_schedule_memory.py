"""1,000,000 pending scheduled price changes: the processor's memory stays bounded and
it answers again within 15 s of a restart (a clean stop, kill -9, a lost local store),
with the next schedule due still fired on time afterwards.

200,000 products each get five regular price changes planned on five days ahead
(a schedule lives in its product's state, in the processor's local store and its
changelog; the due index is one row per product, so what is pending costs disk,
not RAM). The processor's resident memory is printed after half of the schedules
and after all of them, then after each restart with the time from the new process's
start to its first answer. Finally one more schedule, due 5 s ahead, is watched into
the log: the due index was restored with everything else.

Run: ``.venv/bin/pytest -m benchmark -s tests/benchmarks/test_schedule_memory.py``.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from confluent_kafka import Consumer, TopicPartition

from producers import commands as c
from producers.client import CommandClient
from schemas.config.connections import kafka_config
from schemas.config.settings import Settings
from schemas.topics import Topics
from tests.benchmarks.test_command_side import wait_for_count
from tests.benchmarks.test_processor_recovery import answered_after_start, resident
from tests.fixtures.workers import Worker

pytestmark = [pytest.mark.benchmark, pytest.mark.timeout(3600)]

#: fewer for a quick look: EVENTCART_BENCH_PRODUCTS=2000
PRODUCTS = int(os.environ.get("EVENTCART_BENCH_PRODUCTS", "200000"))
PER_PRODUCT = 5
SCHEDULES = PRODUCTS * PER_PRODUCT


def _sku(i: int) -> str:
    return f"M-{i}"


def catalog(skus: range) -> Iterator[dict[str, Any]]:
    for i in skus:
        yield c.register_product(_sku(i), f"Product {i}", category_path=["Bench"])
        yield c.change_price(_sku(i), "100.00", "EUR")


def schedules(skus: range, first: datetime) -> Iterator[dict[str, Any]]:
    """Five regular price changes per product, a day apart, from ``first`` on."""
    for i in skus:
        for n in range(PER_PRODUCT):
            starts = first + timedelta(days=n, seconds=i % 86_400)
            yield c.schedule_price_change(_sku(i), f"plan-{n}", f"{90 + n}.00", "EUR", starts)


def test_a_million_pending_schedules(
    module_settings: Settings, make_worker: Callable[[str], Worker]
) -> None:
    topics = Topics.from_settings(module_settings)
    first = datetime.now(UTC) + timedelta(days=30)
    halves = (range(0, PRODUCTS // 2), range(PRODUCTS // 2, PRODUCTS))
    rss: list[str] = []
    with CommandClient(module_settings) as client:
        worker = make_worker("command-processor")
        sent = 0
        began = time.monotonic()
        for half in halves:
            for command in catalog(half):
                client.send_nowait(command)
                sent += 1
            for command in schedules(half, first):
                client.send_nowait(command)
                sent += 1
            client.flush(600)
            wait_for_count(module_settings, topics.results, sent, timeout_s=1800)
            rss.append(resident(worker))
        decided_s = time.monotonic() - began

        worker.stop()
        clean = answered_after_start(worker, client, "M-1")
        worker.kill9()
        killed = answered_after_start(worker, client, "M-2")
        late_killed = _fired_after(module_settings, topics, _scheduler(client, "M-4", "soon-1"))
        worker.stop()
        shutil.rmtree(module_settings.home / "workers")
        cold = answered_after_start(worker, client, "M-3")
        late_cold = _fired_after(module_settings, topics, _scheduler(client, "M-5", "soon-2"))
    print(
        f"\n{SCHEDULES:,} pending schedules over {PRODUCTS:,} products ({sent:,} commands "
        f"decided in {decided_s:.0f} s); processor RSS after half {rss[0]}, after all "
        f"{rss[1]}\n  start -> first answer (RSS): after a clean stop {clean[0]:.1f} s "
        f"({clean[1]}), after kill -9 {killed[0]:.1f} s ({killed[1]}), local store lost "
        f"(whole changelog restored) {cold[0]:.1f} s ({cold[1]}) (target 15 s)"
        f"\n  a schedule sent at once and due 5 s later, in the log after its instant: "
        f"after the kill -9 {late_killed:.0f} ms, after the cold start {late_cold:.0f} ms "
        "(its partition may still be restoring)"
    )


def _scheduler(client: CommandClient, sku: str, schedule_id: str) -> Callable[[], datetime]:
    """Sends, when called, a price change of ``sku`` due 5 s later; returns its instant."""

    def send() -> datetime:
        due = datetime.now(UTC) + timedelta(seconds=5)
        command = c.schedule_price_change(sku, schedule_id, "77.00", "EUR", due)
        assert client.send(command, timeout_s=120).accepted
        return due

    return send


def _fired_after(settings: Settings, topics: Topics, send: Callable[[], datetime]) -> float:
    """Milliseconds from the instant ``send`` scheduled to the Kafka timestamp of the
    PriceChanged it fired, read from where the events topic ended before it was sent."""
    consumer = Consumer(
        {
            **kafka_config(settings),
            "group.id": "eventcart-bench",
            "isolation.level": "read_committed",
        }
    )
    try:
        topic = topics.events
        partitions = consumer.list_topics(topic, timeout=30).topics[topic].partitions
        ends = [
            TopicPartition(topic, p, consumer.get_watermark_offsets(TopicPartition(topic, p))[1])
            for p in partitions
        ]
        consumer.assign(ends)
        due = send()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            for message in consumer.consume(100, timeout=1.0):
                if message.error() is not None:
                    continue
                event = orjson.loads(message.value() or b"{}")
                if event.get("type") == "PriceChanged" and str(
                    event["data"].get("schedule_id", "")
                ).startswith("soon"):
                    return float(message.timestamp()[1] - due.timestamp() * 1000)
    finally:
        consumer.close()
    raise AssertionError("the schedule due after the restart never fired")
