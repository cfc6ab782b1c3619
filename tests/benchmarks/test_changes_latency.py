"""Change subscriptions: read model applied -> message received, and what an idle
subscriber costs.

**Latency.** 1,000 subscribers (a storefront's mix of filters; a Go program, one
goroutine each, so the clients are not a Python process's queue) on the query API
as `eventcart up` runs it (two processes), commands at 200/s for 30 s. An
observer polls both read models' applied positions every 5 ms (the PostgreSQL
checkpoint, the search positions by realtime get) and notes when each event was
applied by both; each message's latency is its arrival at a subscriber minus
that instant. Target: p99 <= 100 ms. The ceiling beside it, in the same run: the
other source the stream could have had, PostgreSQL's NOTIFY from a committing
transaction to one LISTENing connection (no fan-out, no resume: the least any
push from the pricing store could cost).

**Memory.** One query API process; RSS with one subscriber, then with 10,000
idle ones (each its own SKU filter, nothing flowing). Target: <= 64 KiB each.

Run: `pytest -m benchmark -s tests/benchmarks/test_changes_latency.py`.
"""

from __future__ import annotations

import asyncio
import json
import random
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import psycopg
import pytest
from elasticsearch import Elasticsearch
from psycopg import sql

from producers import commands as c
from producers.client import CommandClient
from read_models.search.positions import applied_now
from schemas.config.connections import elasticsearch_options, postgres_conninfo
from schemas.config.settings import Settings
from tests.benchmarks.profiling import py_spy, top_frames
from tests.benchmarks.search_load import build_loadgen
from tests.fixtures import changes as sse

pytestmark = [pytest.mark.benchmark, pytest.mark.services, pytest.mark.timeout(1800)]

SUBSCRIBERS = 1000
RATE = 200
LOAD_S = 30
IDLE = 10_000
SUBSCRIBERS_SOURCE = Path(__file__).parent / "subscribers"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


class Observer(threading.Thread):
    """Notes, per event position, the first instant both read models had applied it."""

    def __init__(self, settings: Settings) -> None:
        super().__init__(daemon=True)
        self.settings = settings
        self.applied_at: dict[tuple[int, int], float] = {}
        self.stop = threading.Event()

    def run(self) -> None:
        query = sql.SQL(
            "SELECT partition, \"offset\" FROM {}.checkpoint WHERE projection = 'pricing'"
        ).format(sql.Identifier(self.settings.pricing_schema))
        seen = [-1] * self.settings.partitions
        with (
            psycopg.connect(postgres_conninfo(self.settings), autocommit=True) as pg,
            Elasticsearch(**elasticsearch_options(self.settings)) as es,
        ):
            while not self.stop.is_set():
                pricing: dict[int, int] = dict(pg.execute(query).fetchall())
                search = applied_now(es, self.settings.search_index, self.settings.partitions)
                now = time.time()  # the wall clock: the Go subscribers' too
                for p in range(self.settings.partitions):
                    both = min(pricing.get(p, -1), search.get(p, -1))
                    for offset in range(seen[p] + 1, both + 1):
                        self.applied_at[(p, offset)] = now
                    seen[p] = max(seen[p], both)
                time.sleep(0.005)


def notify_ceiling(settings: Settings, count: int = 2000) -> list[float]:
    """NOTIFY at RATE/s from committing transactions to one listener: delays in ms."""
    dsn = postgres_conninfo(settings)
    sent: dict[str, float] = {}
    delays: list[float] = []
    with psycopg.connect(dsn, autocommit=True) as listener:
        listener.execute("LISTEN eventcart_bench")

        def send() -> None:
            with psycopg.connect(dsn) as talker:
                for n in range(count):
                    with talker.transaction():
                        sent[str(n)] = time.monotonic()
                        talker.execute("SELECT pg_notify('eventcart_bench', %s)", [str(n)])
                    time.sleep(1 / RATE)

        sender = threading.Thread(target=send)
        sender.start()
        for note in listener.notifies(timeout=count / RATE + 10, stop_after=count):
            delays.append((time.monotonic() - sent[note.payload]) * 1000)
        sender.join()
    return delays


@pytest.fixture(scope="module")
def catalog(system_client: CommandClient) -> CommandClient:
    sse.register_catalog(system_client)
    return system_client


@pytest.fixture(scope="module")
def api(module_settings: Settings, catalog: CommandClient) -> Iterator[sse.QueryApi]:
    running = sse.QueryApi(module_settings)
    running.start()
    yield running
    running.stop()


def test_applied_to_received_with_a_thousand_subscribers(
    module_settings: Settings, api: sse.QueryApi, catalog: CommandClient, tmp_path: Path
) -> None:
    filters = sse.mixed_filters(random.Random(3), SUBSCRIBERS)
    queries = tmp_path / "subscribers.json"
    queries.write_text(json.dumps([urlencode(f) for f in filters]))
    binary = build_loadgen(tmp_path, SUBSCRIBERS_SOURCE)
    arrivals = tmp_path / "arrivals.tsv"
    observer = Observer(module_settings)
    # The subscribers run outside Python (Go, one goroutine each), so what is measured
    # is the API, not a Python client's own queue on the same two cores.
    clients = subprocess.Popen(
        [str(binary), "-url", api.url, "-subs", str(queries), "-out", str(arrivals)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert clients.stdout is not None and clients.stdin is not None
    assert clients.stdout.readline().strip() == "ready"
    observer.start()
    spy = py_spy(api.process.pid, LOAD_S - 5, tmp_path / "api.txt", children=True)
    halt, sent = threading.Event(), list[int]()
    sse.load(catalog, RATE, LOAD_S, halt, sent)
    time.sleep(5)
    spy.wait()
    clients.stdin.close()
    clients.wait(timeout=60)
    observer.stop.set()
    observer.join()
    delays = []
    received = 0
    for line in arrivals.read_text().splitlines():
        _, position, at_ns = line.split("\t")
        received += 1
        partition, offset = position.split(":")
        applied = observer.applied_at.get((int(partition), int(offset)))
        if applied is not None:
            delays.append((int(at_ns) / 1e9 - applied) * 1000)
    ceiling = notify_ceiling(module_settings)
    lines = [
        f"changes: {sent[0]} commands at {RATE}/s for {LOAD_S} s; {SUBSCRIBERS} subscribers "
        f"(Go) received {received} messages ({len(delays)} timed)",
        "read models applied -> message received (ms): "
        f"p50 {pct(delays, 0.5):.1f}  p95 {pct(delays, 0.95):.1f}  "
        f"p99 {pct(delays, 0.99):.1f}  max {max(delays):.1f}  mean {statistics.mean(delays):.1f}",
        "ceiling, NOTIFY -> one LISTENer, same run (ms): "
        f"p50 {pct(ceiling, 0.5):.2f}  p99 {pct(ceiling, 0.99):.2f}  max {max(ceiling):.2f}",
        f"ratio p99 / ceiling p99: {pct(delays, 0.99) / pct(ceiling, 0.99):.0f}x "
        f"(target: p99 <= 100 ms)",
        "query API profile (own time, both processes):",
        *top_frames((tmp_path / "api.txt").read_text(), 12),
    ]
    print("\n" + "\n".join(lines))
    assert delays


def test_memory_of_ten_thousand_idle_subscribers(
    module_settings: Settings, catalog: CommandClient
) -> None:
    one = sse.QueryApi(module_settings, {"EVENTCART_QUERY_API_WORKERS": "1"})
    one.start()
    try:

        async def scenario() -> dict[str, Any]:
            stop = asyncio.Event()
            facts: dict[str, Any] = {}
            async with sse.session() as session:
                first = sse.Subscriber([("sku", "CS-0001")])
                tasks = [asyncio.create_task(sse.follow(session, one.url, first, stop))]
                await sse.until_ready([first])
                await asyncio.sleep(3)
                facts["rss_one"] = one.rss_mib()
                idle = [sse.Subscriber([("sku", f"IDLE-{n}")]) for n in range(IDLE)]
                began = time.monotonic()
                for batch in range(0, IDLE, 500):
                    tasks += [
                        asyncio.create_task(sse.follow(session, one.url, s, stop))
                        for s in idle[batch : batch + 500]
                    ]
                    await sse.until_ready(idle[batch : batch + 500])
                facts["connect_s"] = time.monotonic() - began
                await asyncio.sleep(5)
                facts["rss_all"] = one.rss_mib()
                # still answering: a change reaches the first subscriber
                await asyncio.to_thread(catalog.send, c.adjust_stock("CS-0001", 1))
                deadline = time.monotonic() + 30
                while not first.got and time.monotonic() < deadline:  # noqa: ASYNC110
                    await asyncio.sleep(0.05)
                facts["delivered"] = len(first.got)
                stop.set()
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
            return facts

        facts = asyncio.run(scenario())
    finally:
        one.stop()
    per = (facts["rss_all"] - facts["rss_one"]) * 1024 / IDLE
    print(
        f"\nidle subscribers: one API process, RSS {facts['rss_one']:.0f} MiB with one "
        f"subscriber, {facts['rss_all']:.0f} MiB with {IDLE + 1:,} "
        f"(connected in {facts['connect_s']:.1f} s): {per:.1f} KiB per idle subscriber "
        f"(target <= 64 KiB); a change still delivered: {facts['delivered']}"
    )
    assert facts["delivered"] == 1
