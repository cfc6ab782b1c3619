"""``GET /changes`` against the running system: real Kafka, Elasticsearch and
PostgreSQL, the three worker roles and the query API as their own processes.

1,000 subscribers with different filters follow the stream while commands flow
at about 200/s. Some drop mid-stream and resume with their last id; the query
API is restarted mid-stream and every subscriber resumes; one subscriber reads
nothing and is cut off with its resume id while the others go on. In the end
each subscriber's messages are exactly the events of the log its filter matches,
from where it began: none missing, none twice, in log order per SKU.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from confluent_kafka import TopicPartition
from confluent_kafka.admin import AdminClient

from producers import commands as c
from producers.client import CommandClient
from schemas.config.connections import kafka_config
from schemas.config.settings import Settings
from schemas.topics import Topics
from tests.fixtures import changes as sse
from tests.fixtures.workers import module_scope

SUBSCRIBERS = 1000
RATE = 200  # commands per second
LOAD_S = 30


@pytest.fixture(scope="module")
def module_settings(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    # A short stall so the subscriber that reads nothing is cut off within seconds;
    # heartbeats every second so an idle subscriber notices a drop quickly.
    yield from module_scope(
        settings,
        tmp_path_factory,
        changes_stall_s=2.0,
        changes_heartbeat_s=1.0,
        query_api_workers=2,
    )


@pytest.fixture(scope="module")
def catalog(module_settings: Settings, system_client: CommandClient) -> CommandClient:
    sse.register_catalog(system_client)
    return system_client


@pytest.fixture(scope="module")
def api(module_settings: Settings, catalog: CommandClient) -> Iterator[sse.QueryApi]:
    running = sse.QueryApi(module_settings)
    running.start()
    yield running
    running.stop()


def slow_subscriber(url: str) -> socket.socket:
    """A client that subscribes to everything and then reads nothing."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    sock.sendall(f"GET /changes HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    return sock


def drain(sock: socket.socket, timeout_s: float = 30) -> bytes:
    """What the slow client was sent, read now: up to the end of its stream."""
    sock.settimeout(2)
    chunks = []
    deadline = time.monotonic() + timeout_s
    with contextlib.suppress(TimeoutError, OSError):
        while time.monotonic() < deadline and (chunk := sock.recv(65536)):
            chunks.append(chunk)
    return b"".join(chunks)


def by_partition(positions: list[tuple[int, int]]) -> dict[int, list[int]]:
    """Offsets per partition, in the order given: the order the stream promises."""
    found: dict[int, list[int]] = {}
    for partition, offset in positions:
        found.setdefault(partition, []).append(offset)
    return found


@pytest.mark.long  # minutes: `make test-long`
def test_a_thousand_subscribers_get_exactly_their_changes_through_drops_and_a_restart(
    module_settings: Settings, api: sse.QueryApi, catalog: CommandClient
) -> None:
    rng = random.Random(11)
    subs = [sse.Subscriber(params) for params in sse.mixed_filters(rng, SUBSCRIBERS)]

    async def scenario() -> dict[str, Any]:
        stop = asyncio.Event()
        facts: dict[str, Any] = {}
        async with sse.session() as session:
            tasks = [asyncio.create_task(sse.follow(session, api.url, s, stop)) for s in subs]
            await sse.until_ready(subs)
            halt, sent = threading.Event(), list[int]()
            loader = threading.Thread(target=sse.load, args=(catalog, RATE, LOAD_S, halt, sent))
            loader.start()
            await asyncio.sleep(6)
            for sub in rng.sample(subs, 50):  # dropped by their clients, resumed by id
                sub.drop_at = time.monotonic()
            await asyncio.sleep(6)
            await asyncio.to_thread(api.stop)  # restarted mid-stream
            await asyncio.to_thread(api.start)
            await asyncio.to_thread(loader.join)
            facts["sent"] = sent[0]
            log = await asyncio.to_thread(sse.read_log, module_settings)
            wanted = {id(s): sse.expected(s, log, sse.PRODUCTS) for s in subs}
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if all(len(s.got) >= len(wanted[id(s)]) for s in subs):
                    break
                await asyncio.sleep(0.5)
            await asyncio.sleep(1)  # anything extra (a duplicate) would have come by now
            stop.set()
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            facts["wanted"] = wanted
        return facts

    facts = asyncio.run(scenario())
    assert facts["sent"] >= RATE * LOAD_S * 0.9
    wanted = facts["wanted"]
    for sub in subs:
        got = [sse.position(m) for m in sub.got]
        assert by_partition(got) == by_partition(wanted[id(sub)]), (
            f"{sub.params}: {len(got)} received, {len(wanted[id(sub)])} expected; "
            f"missing {sorted(set(wanted[id(sub)]) - set(got))[:5]}, "
            f"extra {sorted(set(got) - set(wanted[id(sub)]))[:5]}; errors {sub.errors[:3]}"
        )
        assert len(set(got)) == len(got), f"{sub.params}: a change twice"
        per_sku: dict[str, list[int]] = {}
        for message in sub.got:
            per_sku.setdefault(message["sku"], []).append(message["version"])
        assert all(v == sorted(v) for v in per_sku.values()), f"{sub.params}: out of order"
        assert sub.connects >= 2  # the restart made every one of them resume
    assert sum(len(s.got) for s in subs) > 10_000


def test_a_subscriber_that_reads_nothing_is_cut_off_and_slows_nobody(
    module_settings: Settings, api: sse.QueryApi, catalog: CommandClient
) -> None:
    """Until the sockets' buffers are full a client that does not read looks like one
    that does (a few MiB on loopback), so the details sent here are large."""
    reader = sse.Subscriber([("kind", "details")])
    text = "x" * 4000

    async def scenario() -> dict[str, Any]:
        stop = asyncio.Event()
        async with sse.session() as session:
            task = asyncio.create_task(sse.follow(session, api.url, reader, stop))
            await sse.until_ready([reader])
            slow = slow_subscriber(api.url)
            await asyncio.sleep(1)
            rss_before = api.rss_mib()
            for n in range(3000):
                sku = f"CS-{n % 1000:04d}"
                catalog.send_nowait(c.update_product_details(sku, description=f"{n} {text}"))
            await asyncio.to_thread(catalog.flush)
            deadline = time.monotonic() + 120
            while len(reader.got) < 3000 and time.monotonic() < deadline:  # noqa: ASYNC110
                await asyncio.sleep(0.2)
            await asyncio.sleep(module_settings.changes_stall_s + 2)  # it has stalled now
            rss_after = api.rss_mib()
            received = await asyncio.to_thread(drain, slow, 60)
            slow.close()
            stop.set()
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        return {"rss_before": rss_before, "rss_after": rss_after, "slow": received}

    facts = asyncio.run(scenario())
    assert len(reader.got) == 3000 and reader.connects == 1  # the reader was not held up
    slow = facts["slow"]
    assert b"event: cut" in slow, (len(slow), slow.count(b"\ndata: "))
    assert b'"resume_after"' in slow
    # What the slow client did not read was dropped, not held: the API's memory grew by
    # about the buffer of recent changes (3,000 of 4 KiB in each of its two processes).
    assert facts["rss_after"] - facts["rss_before"] < 96, facts


def test_bad_filters_and_positions_get_clear_answers(
    module_settings: Settings, api: sse.QueryApi
) -> None:
    def get(params: dict[str, str], **headers: str) -> httpx.Response:
        return httpx.get(f"{api.url}/changes", params=params, headers=headers, timeout=30)

    unknown = get({"colour": "red"})
    assert unknown.status_code == 422
    assert unknown.json()["detail"][0]["field"] == "query.colour"
    kind = get({"kind": "prices"})
    assert kind.status_code == 422 and "price, stock" in kind.json()["detail"][0]["message"]
    malformed = get({}, **{"Last-Event-ID": "yesterday"})
    assert malformed.status_code == 422
    assert malformed.json()["detail"][0]["field"] == "header.last-event-id"
    future = get({"after": "0:99999999"})
    assert future.status_code == 422 and future.json()["detail"][0]["rule"] == "future"
    no_partition = get({"after": "42:1"})
    assert no_partition.status_code == 422
    # Records deleted from the start of partition 0 (as retention would): a position
    # before them cannot be resumed, and the answer says what to do instead.
    topic = Topics.from_settings(module_settings).events
    admin = AdminClient(kafka_config(module_settings))
    for future_ in admin.delete_records([TopicPartition(topic, 0, 1)]).values():
        future_.result(timeout=30)
    gone = get({"after": "1:0"})
    assert gone.status_code == 410
    assert "retention" in gone.json()["detail"] and "without after" in gone.json()["detail"]
