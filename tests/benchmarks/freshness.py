"""Freshness: command accepted -> visible in PostgreSQL and searchable in Elasticsearch.

Shared by the read-model and replay benchmarks. Commands are sent at a steady
rate; every Nth accepted command is watched until both read models show its
version; p50, p99 and max are returned as a printable report.
"""

from __future__ import annotations

import statistics
import threading
import time
from typing import Any

import psycopg
from elasticsearch import Elasticsearch
from psycopg import sql

from producers import commands as c
from producers.client import CommandClient
from schemas.config.settings import Settings


def measure_freshness(
    settings: Settings,
    es: Elasticsearch,
    client: CommandClient,
    rate: int,
    seconds: int,
    sample_every: int = 25,
) -> str:
    """Send commands at ``rate``/s for ``seconds``; every ``sample_every``-th accepted
    command is watched until both read models show its version.

    One watcher thread polls both stores for every pending sample at once (one SQL
    statement, one search request, every 10 ms), so measuring costs the stores a
    few hundred light requests a second, not thousands.
    """
    alias = settings.search_index
    skus = [f"FRESH-{i}" for i in range(500)]
    client.send_batch([c.register_product(s, "p") for s in skus])
    pending: dict[str, tuple[int, float, list[float | None]]] = {}
    pg_ms: list[float] = []
    es_ms: list[float] = []
    lock = threading.Lock()
    stop = threading.Event()
    query = sql.SQL("SELECT sku, version FROM {}.product WHERE sku = ANY(%s)").format(
        sql.Identifier(settings.pricing_schema)
    )

    def watch() -> None:
        with psycopg.connect(settings.postgres_dsn.get_secret_value(), autocommit=True) as conn:
            while not (stop.is_set() and not pending):
                with lock:
                    waiting = dict(pending)
                if waiting:
                    now = time.perf_counter()
                    rows = dict(conn.execute(query, [list(waiting)]).fetchall())
                    hits = es.search(
                        index=alias,
                        size=len(waiting),
                        query={"terms": {"sku": list(waiting)}},
                        source=["sku", "version"],
                    )["hits"]["hits"]
                    docs = {h["_source"]["sku"]: h["_source"]["version"] for h in hits}
                    with lock:
                        for sku, (version, accepted_at, seen) in list(pending.items()):
                            if seen[0] is None and rows.get(sku, 0) >= version:
                                seen[0] = now
                                pg_ms.append((now - accepted_at) * 1000)
                            if seen[1] is None and docs.get(sku, 0) >= version:
                                seen[1] = now
                                es_ms.append((now - accepted_at) * 1000)
                            if None not in seen or now - accepted_at > 60:
                                del pending[sku]
                time.sleep(0.01)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()

    def sample(future: Any) -> None:
        result = future.result()
        with lock:
            if result.sku not in pending:
                pending[result.sku] = (result.version or 0, time.perf_counter(), [None, None])

    futures = []
    began = time.perf_counter()
    for i in range(rate * seconds):
        due = began + i / rate
        while (now := time.perf_counter()) < due:
            time.sleep(min(due - now, 0.001))
        future = client.submit(c.adjust_stock(skus[i % len(skus)], 1))
        if i % sample_every == 0:
            future.add_done_callback(sample)
        futures.append(future)
    for future in futures:
        future.result(timeout=300)
    stop.set()
    watcher.join(120)

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
