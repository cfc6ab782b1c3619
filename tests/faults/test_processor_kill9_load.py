"""kill -9 of the command processor under a steady load: nothing lost, nothing twice, no fork.

The short version runs in `make test` (3 kills during 20,000 commands over
1,000 SKUs); the long one (20 kills during 200,000 commands over 5,000 SKUs)
on demand: `.venv/bin/pytest -m long tests/faults/test_processor_kill9_load.py -s`.
Each kill is followed at once by a restart, as a supervisor would; the time
from the kill to the first answer the new process publishes is printed.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable

import pytest

from schemas.config.settings import Settings
from tests.fixtures.load import Answers, SteadyLoad, check_exactly_once, wait_until
from tests.fixtures.workers import Worker


def kills_under_load(
    settings: Settings,
    worker: Worker,
    answers: Answers,
    *,
    total: int,
    skus: int,
    rate: float,
    kills: int,
    seed: int,
) -> list[float]:
    load = SteadyLoad(settings, total=total, skus=skus, rate=rate, seed=seed).start()
    recoveries = []
    for n in range(1, kills + 1):
        while load.done < total * n // (kills + 1):
            time.sleep(0.05)
        killed_ms = int(time.time() * 1000)
        worker.kill9()
        worker.start()
        first = functools.partial(answers.first_after, killed_ms)
        wait_until(first, 90, "an answer after kill -9")
        recoveries.append(((first() or 0) - killed_ms) / 1000)
    load.join(timeout_s=total / rate + 300)
    counts = check_exactly_once(settings, load, answers)
    print(
        f"\n{kills} kills during {total} commands over {skus} SKUs at {rate:.0f}/s: {counts}; "
        f"kill -9 -> first answer of the new process: "
        + ", ".join(f"{r:.1f} s" for r in recoveries)
        + f" (max {max(recoveries):.1f} s)"
    )
    return recoveries


def test_three_kills_during_twenty_thousand_commands(
    module_settings: Settings, make_worker: Callable[[str], Worker], answers: Answers
) -> None:
    worker = make_worker("command-processor")
    kills_under_load(
        module_settings, worker, answers, total=20_000, skus=1_000, rate=1_000, kills=3, seed=1
    )
    assert worker.starts == 4


@pytest.mark.long
def test_twenty_kills_during_two_hundred_thousand_commands(
    module_settings: Settings, make_worker: Callable[[str], Worker], answers: Answers
) -> None:
    worker = make_worker("command-processor")
    kills_under_load(
        module_settings, worker, answers, total=200_000, skus=5_000, rate=1_500, kills=20, seed=2
    )
