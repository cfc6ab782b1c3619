"""10,000 scheduled price changes fire exactly once through two kill -9 of the processor.

Everything is checked from outside against independent models
(``tests.fixtures.command_model`` for the answers, ``tests.fixtures.schedule_model``
for what the schedules publish): the processor's answers, the events topic
step by step, both read models against the fold of the log, and both read
models again after a rebuild of both.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from producers import commands as c
from producers.client import CommandClient
from schemas.config.settings import Settings
from schemas.topics import Topics
from tests.fixtures.command_model import fold_commands
from tests.fixtures.kafka_read import read_topic
from tests.fixtures.load import Answers, SteadyLoad, check_exactly_once
from tests.fixtures.oracle import assert_read_models_equal_oracle
from tests.fixtures.schedule_model import logged_steps
from tests.fixtures.schedules import catalog, events, expected_steps, send_all, wait_for_steps
from tests.fixtures.workers import Worker, module_scope, run_cli


@pytest.fixture(scope="module")
def module_settings(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    yield from module_scope(settings, tmp_path_factory, partitions=6)


def plan(skus: list[str], t0: datetime, seed: int) -> tuple[list[dict[str, Any]], set[str]]:
    """Five schedules per SKU, all due within [t0 + 20 s, t0 + 60 s]; then, for some
    SKUs, a replacement, a cancellation or four refused commands. Returns the commands
    and the "sku/schedule_id" of the schedules cancelled.

    Every sale lasts at least 15 s, longer than the processor takes to come back
    after kill -9, so none can pass entirely while it is down (that would be a
    missed sale, tested with an outage in ``test_schedule_outage``)."""
    r = random.Random(seed)

    def at(seconds: float) -> datetime:
        return t0 + timedelta(seconds=seconds)

    first: list[dict[str, Any]] = []
    later: list[dict[str, Any]] = []
    cancelled: set[str] = set()
    for sku in skus:
        a = r.uniform(30, 34)
        first += [
            c.schedule_price_change(sku, "s1", "80.00", "EUR", at(a), ends_at=at(a + 21)),
            c.schedule_price_change(sku, "r1", r.choice(["110.00", "100.00"]), "EUR", at(a + 9)),
            c.schedule_price_change(sku, "s2", "70.00", "EUR", at(a + 21), ends_at=at(a + 25)),
            c.schedule_price_change(sku, "r2", "105.00", "EUR", at(r.uniform(36, 58))),
            c.schedule_price_change(
                sku,
                "u1",
                "99.00",
                "USD",
                at(r.uniform(30, 40)),
                ends_at=at(r.uniform(45, 58)),
                campaign_id="usd-week",
            ),
        ]
        roll = r.random()
        if roll < 0.15:  # replaced before it is due: another amount, a second later
            later.append(
                c.schedule_price_change(sku, "s2", "65.00", "EUR", at(a + 22), ends_at=at(a + 26))
            )
        elif roll < 0.30:
            later.append(c.cancel_scheduled_price_change(sku, "s2", reason="moved"))
            cancelled.add(f"{sku}/s2")
        elif roll < 0.40:
            later.append(c.cancel_scheduled_price_change(sku, "u1"))
            cancelled.add(f"{sku}/u1")
        elif roll < 0.45:  # refused: overlaps s1, in the past, an empty window, unknown
            later += [
                c.schedule_price_change(sku, "bad", "1.00", "EUR", at(a + 5), ends_at=at(a + 6)),
                c.schedule_price_change(sku, "old", "1.00", "EUR", t0 - timedelta(hours=1)),
                c.schedule_price_change(sku, "neg", "1.00", "USD", at(50), ends_at=at(50)),
                c.cancel_scheduled_price_change(sku, "never-planned"),
            ]
    return first + later, cancelled


@pytest.mark.long  # minutes: `make test-long`
def test_ten_thousand_schedules_fire_once_through_two_kills(
    module_settings: Settings, make_worker: Callable[[str], Worker], answers: Answers
) -> None:
    settings = module_settings
    processor = make_worker("command-processor")
    make_worker("search-projection")
    make_worker("pricing-projection")
    skus = [f"S-{i:04d}" for i in range(2_000)]
    with CommandClient(settings) as client:
        catalog(client, skus)
        t0 = datetime.now(UTC)
        planned, cancelled = plan(skus, t0, seed=19)
        results = send_all(client, planned)
    first_due, last_due = t0 + timedelta(seconds=20), t0 + timedelta(seconds=60)
    assert datetime.now(UTC) < first_due, "planning took so long that schedules were due"
    schedules = sum(1 for command in planned if command["type"] == "SchedulePriceChange")
    assert schedules >= 10_000

    # Through the minute: other commands keep coming, the processor is killed twice.
    load = SteadyLoad(settings, total=40_000, skus=300, rate=400, seed=19).start()
    for offset in (8, 22):
        while datetime.now(UTC) < first_due + timedelta(seconds=offset):
            time.sleep(0.05)
        processor.kill9()
        processor.start()
    while datetime.now(UTC) < last_due + timedelta(seconds=5):
        time.sleep(0.2)
    load.run_past(10)
    load.join(timeout_s=300)
    check_exactly_once(settings, load, answers)

    # Every schedule command answered as the rules say, refusals with their reason.
    model = fold_commands(read_topic(settings, Topics.from_settings(settings).commands))
    for command, result in zip(planned, results, strict=True):
        want = model[(command["sku"], command["command_id"])]
        assert (result.status, result.reason) == (want.status, want.reason), command
    refused = {r.reason for r in results if not r.accepted}
    assert refused == {
        "schedule_overlap",
        "schedule_in_past",
        "schedule_window",
        "schedule_not_found",
    }, refused

    # Every due step published exactly once, in order; no cancelled one ever.
    expected = expected_steps(settings, skus, last_due + timedelta(seconds=5))
    wait_for_steps(settings, expected, timeout_s=180)
    applied = {
        f"{sku}/{step.schedule_id}"
        for sku, steps in logged_steps(events(settings)).items()
        for step in steps
    }
    assert not applied & cancelled, "a cancelled schedule took effect"
    assert processor.starts == 3
    steps = sum(len(s) for s in expected.values())
    print(f"\n{schedules} schedules over {len(skus)} SKUs, 2 kill -9: {steps} steps, exact")

    assert_read_models_equal_oracle(settings, skus)
    run_cli(settings, "replay", "all")
    assert_read_models_equal_oracle(settings, skus)
