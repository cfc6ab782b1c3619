"""How fast records reach a projection, three ways (tests/benchmarks/test_faust_intake.py).

Run as ``python -m tests.benchmarks.faust_intake faust|faust-fast|batch TOPIC N``;
prints the seconds from the first record taken to the N-th.

- ``faust``: a Faust agent with ``take_events`` over Faust's consumer, as the
  projections used to run (faust-streaming 0.15.3 as installed);
- ``faust-fast``: the same with the fast path below patched into Faust's
  ``Consumer._drain_messages``;
- ``batch``: a confluent-kafka consumer taking records with ``consume(n)``,
  as ``streams.projection_worker`` does.

The fast path, a change ready to send upstream (faust/transport/consumer.py,
``Consumer._drain_messages``). Today every record is handed to the streams with

    await self.wait_first(callback(message), self.suspend_flow.wait())

which builds futures and runs an ``asyncio.wait`` per record, so that a
rebalance (``suspend_flow``) can interrupt a callback blocked on a full stream
buffer. The callback only blocks when a buffer is full; when every channel of
the record's partition has room and the flow is not suspended, the patch
awaits the callback directly (it completes without suspending: the record is
put with ``put_nowait``), and keeps the waiting path for the other cases, so
the behaviour under back-pressure and rebalances is unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from typing import Any, cast

import faust
from confluent_kafka import Consumer
from faust.transport.consumer import Consumer as FaustConsumer
from mode import Service

from schemas.config.settings import get_settings


async def _drain_messages_fast(self: Any, fetcher: Any) -> None:  # pragma: no cover
    """faust 0.15.3's ``Consumer._drain_messages`` with the fast path (marked below)."""
    callback = self.callback
    getmany = self.getmany
    consumer_should_stop = cast(Service, self)._stopped.is_set
    fetcher_should_stop = cast(Service, fetcher)._stopped.is_set
    get_read_offset = self._read_offset.__getitem__
    set_read_offset = self._read_offset.__setitem__
    commit_every = self._commit_every
    acks_enabled_for = self.app.topics.acks_enabled_for
    tp_index = self.app.topics._tp_index  # the channels each partition feeds
    suspend_flow = self.suspend_flow
    yield_every, num_since_yield = 100, 0
    while not (consumer_should_stop() or fetcher_should_stop()):
        ait = getmany(timeout=1.0)
        await asyncio.sleep(0)
        if self.should_stop:
            continue
        async for tp, message in ait:
            num_since_yield += 1
            if num_since_yield > yield_every:
                await asyncio.sleep(0)
                num_since_yield = 0
            offset = message.offset
            r_offset = get_read_offset(tp)
            if r_offset is None or offset >= r_offset:
                gap = offset - (r_offset or 0)
                if gap > 1 and r_offset and acks_enabled_for(message.topic):
                    await self._add_gap(tp, r_offset + 1, offset)
                if commit_every is not None and self._n_acked >= commit_every:
                    self._n_acked = 0
                    await self.commit()
                # --- the fast path -------------------------------------------
                channels = tp_index.get(tp, ())
                if not suspend_flow.is_set() and all(not ch.queue.full() for ch in channels):
                    await callback(message)
                else:
                    await self.wait_first(callback(message), suspend_flow.wait())
                # -------------------------------------------------------------
                set_read_offset(tp, offset)


def _faust(topic: str, n: int, fast: bool) -> float:
    if fast:
        FaustConsumer._drain_messages = _drain_messages_fast  # type: ignore[method-assign]
    settings = get_settings()
    app = faust.App(
        f"{settings.topic_prefix}-intake-{'fast' if fast else 'plain'}",
        broker=f"kafka://{settings.kafka_bootstrap_servers}",
        web_enabled=False,
        autodiscover=False,
        key_serializer="raw",
        value_serializer="raw",
        consumer_auto_offset_reset="earliest",
        stream_buffer_maxsize=20_000,
        datadir=str(settings.home / "intake"),
    )
    source = app.topic(topic, key_type=bytes, value_type=bytes)
    seen = {"n": 0, "first": 0.0, "last": 0.0}

    @app.agent(source, concurrency=1)
    async def take(stream: Any) -> Any:
        async for batch in stream.take_events(5000, within=0.05):
            if not seen["n"]:
                seen["first"] = time.perf_counter()
            seen["n"] += len(batch)
            if seen["n"] >= n:
                seen["last"] = time.perf_counter()
                print(f"INTAKE_SECONDS={seen['last'] - seen['first']:.3f}", flush=True)
                os._exit(0)  # measured: no graceful stop needed
            yield None

    sys.argv = [sys.argv[0], "worker", "-l", "warn"]
    with contextlib.suppress(SystemExit):
        app.main()
    return seen["last"] - seen["first"]


def _batch(topic: str, n: int) -> float:
    settings = get_settings()
    consumer = Consumer(
        {
            "bootstrap.servers": settings.kafka_bootstrap_servers,
            "group.id": f"{settings.topic_prefix}-intake-batch",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "isolation.level": "read_committed",
            "fetch.max.bytes": 64 * 1024 * 1024,
        }
    )
    consumer.subscribe([topic])
    count, first = 0, 0.0
    while count < n:
        messages = consumer.consume(5000, timeout=0) or consumer.consume(1, timeout=0.05)
        if messages and not first:
            first = time.perf_counter()
        count += sum(1 for m in messages if m.error() is None)
    seconds = time.perf_counter() - first
    print(f"INTAKE_SECONDS={seconds:.3f}", flush=True)
    consumer.close()
    return seconds


if __name__ == "__main__":
    mode, topic_name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    if mode == "batch":
        _batch(topic_name, count)
    else:
        _faust(topic_name, count, fast=mode == "faust-fast")
