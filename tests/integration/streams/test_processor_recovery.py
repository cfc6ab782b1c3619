"""kill -9 of the command processor mid-stream: state comes back from the changelog,
no command is lost and none is applied twice."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable

from producers import commands as c
from producers.client import CommandClient
from schemas.config.settings import Settings
from schemas.topics import Topics
from tests.fixtures.kafka_read import read_topic
from tests.fixtures.workers import Worker


def test_kill9_and_restart_loses_nothing_and_applies_nothing_twice(
    module_settings: Settings, make_worker: Callable[[str], Worker]
) -> None:
    worker = make_worker("command-processor")
    skus = [f"K9-{i}" for i in range(20)]
    with CommandClient(module_settings) as client:
        client.send(c.register_product("PROBE", "probe"), timeout_s=120)
        assert all(
            r.accepted for r in client.send_batch([c.register_product(s, "p") for s in skus])
        )

        commands = [c.adjust_stock(skus[i % len(skus)], 1) for i in range(4000)]
        futures = [client.submit(command) for command in commands]
        client.flush()
        deadline = time.monotonic() + 60
        while sum(f.done() for f in futures) < 200 and time.monotonic() < deadline:
            time.sleep(0.01)
        answered_before_kill = sum(f.done() for f in futures)
        worker.kill9()
        assert answered_before_kill < len(commands), "the worker finished before the kill"
        worker.start()
        results = [f.result(timeout=180) for f in futures]
        assert all(r.accepted for r in results)

        events = [
            r["value"]
            for r in read_topic(module_settings, Topics.from_settings(module_settings).events)
        ]
        by_sku: dict[str, dict[str, dict[str, object]]] = defaultdict(dict)
        for event in events:
            if event["sku"] in skus:
                seen = by_sku[event["sku"]].setdefault(event["event_id"], event)
                assert seen == event, "a re-published event must be identical to the first"
        per_sku = len(commands) // len(skus)
        for sku in skus:
            distinct = sorted(by_sku[sku].values(), key=lambda e: int(str(e["version"])))
            assert [e["version"] for e in distinct] == list(range(1, per_sku + 2))
            assert distinct[-1]["data"] == {"delta": 1, "quantity": per_sku, "reason": ""}

        # The recovered state continues where it stopped.
        after = client.send(c.adjust_stock(skus[0], 1), timeout_s=60)
        assert (after.accepted, after.version) == (True, per_sku + 2)
    assert worker.starts == 2
