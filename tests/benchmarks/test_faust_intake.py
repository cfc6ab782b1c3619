"""Faust's per-message intake vs a fast path vs a batch consumer, on the same records.

The projections must take tens of thousands of events per second; Faust hands
each record to a stream through futures and an ``asyncio.wait``. Measured on
the same 200,000 pre-loaded records (taking them, nothing else):
Faust as installed, Faust with the fast path of tests/benchmarks/faust_intake.py,
and a confluent-kafka batch consumer (what streams/projection_worker.py uses).

Run: `.venv/bin/pytest -m benchmark -s tests/benchmarks/test_faust_intake.py`.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

import pytest
from confluent_kafka import Producer

from schemas.config.settings import Settings
from tests.fixtures.workers import settings_env

pytestmark = [pytest.mark.benchmark, pytest.mark.timeout(1800)]

RECORDS = 200_000


def test_intake_faust_vs_fast_path_vs_batch_consumer(
    module_settings: Settings, make_topic: Callable[..., str]
) -> None:
    topic = make_topic("intake", partitions=module_settings.partitions)
    producer = Producer(
        {"bootstrap.servers": module_settings.kafka_bootstrap_servers, "linger.ms": 20}
    )
    value = b'{"sku": "SKU-1", "version": 1, "type": "StockAdjusted", "data": {"quantity": 1}}'
    for i in range(RECORDS):
        while True:
            try:
                producer.produce(topic, key=f"SKU-{i % 5000}".encode(), value=value)
                break
            except BufferError:
                producer.poll(0.01)
    producer.flush(60)
    rates = {}
    for mode in ("faust", "faust-fast", "batch"):
        done = subprocess.run(
            [sys.executable, "-m", "tests.benchmarks.faust_intake", mode, topic, str(RECORDS)],
            env=settings_env(module_settings),
            capture_output=True,
            text=True,
            timeout=900,
        )
        output = done.stdout + done.stderr  # Faust sends print() to its log (stderr)
        marked = [line for line in output.splitlines() if "INTAKE_SECONDS=" in line]
        assert marked, output
        seconds = float(marked[-1].split("INTAKE_SECONDS=")[1].split()[0])
        rates[mode] = RECORDS / seconds
    print(
        f"\nintake of {RECORDS:,} records: Faust agent {rates['faust']:,.0f}/s | Faust with the "
        f"fast path {rates['faust-fast']:,.0f}/s ({rates['faust-fast'] / rates['faust']:.1f}x) | "
        f"batch consumer {rates['batch']:,.0f}/s ({rates['batch'] / rates['faust']:.1f}x)"
    )
