"""A second processor joins and leaves mid-load, twice: nothing lost, nothing twice, no fork."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from schemas.config.settings import Settings
from tests.fixtures.load import Answers, SteadyLoad, check_exactly_once, wait_until
from tests.fixtures.workers import Worker


@pytest.mark.long  # minutes: `make test-long`
def test_a_processor_joining_and_leaving_twice_loses_nothing(
    module_settings: Settings, make_worker: Callable[[str], Worker], answers: Answers
) -> None:
    make_worker("command-processor")
    load = SteadyLoad(module_settings, total=30_000, skus=1_000, rate=800, seed=4).start()
    wait_until(lambda: load.done > 3_000, 60, "load before the first join")
    second = make_worker("command-processor")
    for _ in range(2):
        time.sleep(6)  # it joins: the group gives it some partitions
        second.stop()  # SIGTERM: it finishes its batch and leaves
        time.sleep(4)
        second.start()
    load.join(timeout_s=120)
    counts = check_exactly_once(module_settings, load, answers)
    print(f"\nrebalances: {counts}")
