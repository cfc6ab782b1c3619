"""Command-side targets (issue: command side), each measured against its ceiling in the same run.

- producer path (validate + serialize + produce, waiting for delivery) vs raw
  confluent-kafka producing the same bytes;
- command processor throughput (decided and published, one transaction per
  batch) vs a bare transactional copy loop over the same commands (three
  records out per command in, offsets in the transaction: tests/benchmarks/txn_copy.py);
- command accepted -> result received at a steady 500 commands/s: p50, p99, max.

Run: `make bench` or `pytest -m benchmark -s tests/benchmarks/test_command_side.py`.
"""

from __future__ import annotations

import functools
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from producers import commands as c
from producers.client import CommandClient, producer_config
from schemas import codec, registry
from schemas.config.settings import Settings
from schemas.topics import Topics
from tests.benchmarks.ceilings import produce_seconds
from tests.fixtures.kafka_read import read_topic
from tests.fixtures.workers import Worker, settings_env

pytestmark = [pytest.mark.benchmark, pytest.mark.timeout(3600)]

N_PRODUCE = 100_000
N_PROCESS = 60_000
SKUS = 5_000
PROCESSORS = int(os.environ.get("PROCESSORS", "1"))


def catalog_commands(n: int, skus: int, prefix: str = "B") -> list[dict[str, Any]]:
    """A realistic mix: registrations first, then prices and stock for those products."""
    out: list[dict[str, Any]] = [
        c.register_product(
            f"{prefix}-{i}",
            f"Product {i}",
            brand="Acme",
            category_path=["Shoes", "Running"],
            attributes={"colour": "red"},
            tags=["new"],
        )
        for i in range(skus)
    ]
    i = 0
    while len(out) < n:
        sku = f"{prefix}-{i % skus}"
        if i % 2:
            out.append(c.change_price(sku, f"{10 + i % 90}.{i % 100:02d}", "EUR"))
        else:
            out.append(c.adjust_stock(sku, 1 + i % 5))
        i += 1
    return out


def end_offsets(settings: Settings, topic: str) -> int:
    consumer = Consumer(
        {"bootstrap.servers": settings.kafka_bootstrap_servers, "group.id": "bench"}
    )
    try:
        parts = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in parts
        )
    finally:
        consumer.close()


def wait_for_count(settings: Settings, topic: str, n: int, timeout_s: float = 600) -> float:
    """Wait until the topic holds n records and stops growing (its end counts the
    transactions' commit markers too, so "n" alone comes a little early)."""
    deadline = time.monotonic() + timeout_s
    seen, since = -1, time.monotonic()
    while True:
        now = end_offsets(settings, topic)
        if now != seen:
            seen, since = now, time.monotonic()
        elif now >= n and time.monotonic() - since > 1.5:
            return since
        assert time.monotonic() < deadline, f"{topic} did not reach {n} records"
        time.sleep(0.2)


def first_last_timestamps(settings: Settings, topic: str) -> tuple[float, float, int]:
    """Earliest and latest record timestamps (s) and the record count of a topic."""
    first, last, count = float("inf"), 0.0, 0
    for record in read_topic(settings, topic):
        ts = record["timestamp"] / 1000
        first, last, count = min(first, ts), max(last, ts), count + 1
    return first, last, count


def test_producer_path_vs_raw_confluent_kafka(
    module_settings: Settings, make_topic: Callable[..., str]
) -> None:
    commands = catalog_commands(N_PRODUCE, 10_000, prefix="P")
    # A topic of its own: these commands are not for the processor benchmarks below.
    topic = make_topic("producer-path", partitions=module_settings.partitions)

    raw = Producer(producer_config(module_settings))
    payloads = [(str(cmd["sku"]).encode(), codec.encode(cmd)) for cmd in commands]
    produce_seconds(raw, topic, payloads[:5_000])  # connected, metadata known, broker warm
    raw_s = produce_seconds(raw, topic, payloads)
    # The ceiling of any path that validates: the same bytes produced raw, each after
    # the command's compiled schema validator (jsonschema-rs) has passed the command.
    validators = {
        (t, v): registry.command_validator(t, v)
        for t, v in registry.CURRENT_COMMAND_VERSIONS.items()
    }
    checks = [
        functools.partial(validators[(cmd["type"], cmd["schema_version"])], cmd) for cmd in commands
    ]
    validated_s = produce_seconds(raw, topic, payloads, checks)

    with CommandClient(module_settings) as client:
        client.topic = topic
        began = time.perf_counter()
        for cmd in commands:
            client.send_nowait(cmd)
        client.flush(120)
        ours_s = time.perf_counter() - began

    raw_rate, our_rate = N_PRODUCE / raw_s, N_PRODUCE / ours_s
    validated_rate = N_PRODUCE / validated_s
    print(
        f"\nproducer path: eventcart {our_rate:,.0f} commands/s (validate+serialize+produce) | "
        f"raw produce plus schema validation {validated_rate:,.0f} msgs/s, ratio "
        f"{our_rate / validated_rate:.2f} (target >= 0.80) | raw produce alone "
        f"{raw_rate:,.0f} msgs/s, ratio {our_rate / raw_rate:.2f}"
    )


def _run_txn_copy(settings: Settings, source: str, target: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.benchmarks.txn_copy", source, target],
        env=settings_env(settings),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def test_processor_throughput_vs_bare_transactional_copy(
    module_settings: Settings, make_worker: Callable[[str], Worker], make_topic: Callable[..., str]
) -> None:
    topics = Topics.from_settings(module_settings)
    commands = catalog_commands(N_PROCESS, SKUS)
    # Load the commands before any consumer runs, so both sides read a full topic.
    with CommandClient(module_settings) as client:
        for cmd in commands:
            client.send_nowait(cmd)
        client.flush(120)
    sink = make_topic("txn-copy-sink", partitions=module_settings.partitions)

    copy = _run_txn_copy(module_settings, topics.commands, sink)
    try:
        wait_for_count(module_settings, sink, 3 * N_PROCESS)
    finally:
        copy.terminate()
        copy.wait(60)
    p_first, p_last, _ = first_last_timestamps(module_settings, sink)
    ceiling = N_PROCESS / max(p_last - p_first, 1e-3)

    # PROCESSORS=2: the partitions spread over two processor processes (worker ids 0, 1).
    workers = [make_worker("command-processor") for _ in range(PROCESSORS)]
    wait_for_count(module_settings, topics.results, N_PROCESS)
    for worker in workers:
        worker.stop()
    first, last, count = first_last_timestamps(module_settings, topics.results)
    ours = count / max(last - first, 1e-3)
    events = end_offsets(module_settings, topics.events)
    print(
        f"\ncommand processor ({PROCESSORS} process(es)): {ours:,.0f} commands/s decided and published ({events:,} events, "
        f"{count:,} results) | bare transactional copy loop {ceiling:,.0f} commands/s "
        f"(3 records each) | ratio {ours / ceiling:.2f} | target 10,000 commands/s"
    )


def test_accepted_to_result_latency_at_500_per_second(
    module_settings: Settings, make_worker: Callable[[str], Worker]
) -> None:
    rate, seconds = 500, 20
    make_worker("command-processor")
    with CommandClient(module_settings) as client:
        client.send(c.register_product("LAT-PROBE", "probe"), timeout_s=120)
        skus = [f"LAT-{i}" for i in range(200)]
        client.send_batch([c.register_product(s, "p") for s in skus])
        latencies: list[float] = []
        pending = []
        began = time.perf_counter()
        for i in range(rate * seconds):
            due = began + i / rate
            while (now := time.perf_counter()) < due:
                time.sleep(min(due - now, 0.001))
            sent = time.perf_counter()
            future = client.submit(c.adjust_stock(skus[i % len(skus)], 1))
            future.add_done_callback(lambda f, s=sent: latencies.append(time.perf_counter() - s))
            pending.append(future)
        for future in pending:
            future.result(timeout=60)
    ms = sorted(x * 1000 for x in latencies)
    p50 = statistics.median(ms)
    p99 = ms[int(len(ms) * 0.99) - 1]
    print(
        f"\ncommand -> result at a steady {rate}/s for {seconds} s ({len(ms)} commands): "
        f"p50 {p50:.1f} ms, p99 {p99:.1f} ms, max {ms[-1]:.1f} ms"
    )
