"""Freshness: command accepted -> visible in PostgreSQL and searchable in Elasticsearch.

Shared by the read-model and replay benchmarks. Commands are sent at a steady
rate; every Nth accepted command is watched until both read models show its
version; p50, p99 and max are returned as a printable report.
"""

from __future__ import annotations

import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import psycopg
from elasticsearch import Elasticsearch
from psycopg import sql

from ops.settings import Settings
from producers import commands as c
from producers.client import CommandClient


def measure_freshness(
    settings: Settings,
    es: Elasticsearch,
    client: CommandClient,
    rate: int,
    seconds: int,
    sample_every: int = 25,
) -> str:
    alias = settings.search_index
    skus = [f"FRESH-{i}" for i in range(500)]
    client.send_batch([c.register_product(s, "p") for s in skus])
    pg_ms: list[float] = []
    es_ms: list[float] = []
    lock = threading.Lock()
    dsn = settings.postgres_dsn.get_secret_value()
    query = sql.SQL("SELECT version FROM {}.product WHERE sku = %s").format(
        sql.Identifier(settings.pricing_schema)
    )

    def watch(sku: str, version: int, accepted_at: float) -> None:
        seen_pg = seen_es = None
        with psycopg.connect(dsn, autocommit=True, prepare_threshold=None) as conn:
            deadline = accepted_at + 60
            while (seen_pg is None or seen_es is None) and time.perf_counter() < deadline:
                if seen_pg is None:
                    row = conn.execute(query, [sku]).fetchone()
                    if row and row[0] >= version:
                        seen_pg = time.perf_counter()
                if seen_es is None:
                    hits = es.count(
                        index=alias,
                        query={
                            "bool": {
                                "filter": [
                                    {"term": {"sku": sku}},
                                    {"range": {"version": {"gte": version}}},
                                ]
                            }
                        },
                    )
                    if hits["count"]:
                        seen_es = time.perf_counter()
                time.sleep(0.005)
        with lock:
            if seen_pg:
                pg_ms.append((seen_pg - accepted_at) * 1000)
            if seen_es:
                es_ms.append((seen_es - accepted_at) * 1000)

    watchers = ThreadPoolExecutor(max_workers=16)
    pending = []
    began = time.perf_counter()
    for i in range(rate * seconds):
        due = began + i / rate
        while (now := time.perf_counter()) < due:
            time.sleep(min(due - now, 0.001))
        future = client.submit(c.adjust_stock(skus[i % len(skus)], 1))
        if i % sample_every == 0:
            future.add_done_callback(
                lambda f: watchers.submit(
                    watch, f.result().sku or "", f.result().version or 0, time.perf_counter()
                )
            )
        pending.append(future)
    for future in pending:
        future.result(timeout=300)
    watchers.shutdown(wait=True)

    def line(name: str, ms: list[float]) -> str:
        if not ms:
            return f"{name}: no sample became visible within 60 s"
        ms.sort()
        return (
            f"{name}: p50 {statistics.median(ms):.0f} ms, p99 {ms[int(len(ms) * 0.99) - 1]:.0f} ms, "
            f"max {ms[-1]:.0f} ms ({len(ms)} samples)"
        )

    return (
        f"freshness at {rate} commands/s for {seconds} s, command accepted -> visible:"
        f"\n  {line('PostgreSQL (target p99 < 250 ms)', pg_ms)}"
        f"\n  {line('Elasticsearch, searchable (target p99 < refresh 1000 ms + 300 ms)', es_ms)}"
    )
