"""A rolling restart of every worker, one at a time, under a steady load.

Two workers per role, each with its own worker id, as on two hosts
(they share partitions through their consumer groups, the processors fence
each other through their transactional ids). Each of the six is stopped
(SIGTERM) and started again in turn, as a deployment would roll a new version
out, while raw commands keep coming; the load runs past the last restart. At the
end the log is exact (every command answered once and as the rules say, one
event per change, no fork) and both read models equal the fold of the log.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from schemas.config.settings import Settings
from tests.fixtures.load import Answers, SteadyLoad, check_exactly_once
from tests.fixtures.oracle import assert_read_models_equal_oracle
from tests.fixtures.workers import ALL_ROLES, Worker


@pytest.mark.long  # minutes: `make test-long`
def test_every_worker_restarted_in_turn_under_load(
    module_settings: Settings, make_worker: Callable[[str], Worker], answers: Answers
) -> None:
    workers = [make_worker(role) for role in ALL_ROLES for _ in range(2)]
    # total is a bound (200 s): the load stops 15 s after the last restart
    load = SteadyLoad(module_settings, total=60_000, skus=600, rate=300, seed=61).start()
    while load.done < 1_500:
        time.sleep(0.05)
    began = time.monotonic()
    for worker in workers:
        worker.stop()  # the batch in flight is finished, committed, and the group moves on
        worker.start()
        time.sleep(3)  # the next one goes once this one is back in its group
    rolled_s = time.monotonic() - began
    load.run_past(15, end=True)
    load.join(timeout_s=load.total / load.rate + 300)
    counts = check_exactly_once(module_settings, load, answers)
    assert_read_models_equal_oracle(module_settings, load.skus)
    assert all(w.alive() for w in workers)
    print(
        f"\nrolling restart of {len(workers)} workers in {rolled_s:.0f} s during "
        f"{load.total} commands at {load.rate:.0f}/s: {counts}"
    )
