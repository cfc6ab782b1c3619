"""How fast the command processor answers again after a stop, a kill -9, or the loss of
its local store, with a long history behind it (target: within 15 s), and how much
memory it holds then (kept bounded: the states live in its local store, not in RAM).

1,200,000 commands over 1,000,000 products are decided first; then, each time, the
processor is stopped and started again and the time from the start of the new
process to the answer of a new command is printed:

- clean stop (SIGTERM) and start, as `eventcart down` + `make run` do;
- kill -9 and start;
- stop, local store deleted (a new machine, a lost disk), start: the
  partitions' states are restored from the whole changelog.

Run: `.venv/bin/pytest -m benchmark -s tests/benchmarks/test_processor_recovery.py`.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable

import pytest

from producers import commands as c
from producers.client import CommandClient
from schemas.config.settings import Settings
from schemas.topics import Topics
from tests.benchmarks.test_command_side import catalog_commands, wait_for_count
from tests.fixtures.rss import MIB, rss_bytes
from tests.fixtures.workers import Worker

pytestmark = [pytest.mark.benchmark, pytest.mark.timeout(3600)]

HISTORY = 1_200_000
PRODUCTS = 1_000_000


def answered_after_start(worker: Worker, client: CommandClient, sku: str) -> tuple[float, str]:
    """Seconds from the new process's start to its first answer, and its RSS then."""
    began = time.monotonic()
    worker.start()
    result = client.send(c.adjust_stock(sku, 1), timeout_s=600)
    assert result.accepted
    return time.monotonic() - began, resident(worker)


def resident(worker: Worker) -> str:
    assert worker.proc is not None
    return f"{(rss_bytes(worker.proc.pid) or 0) / MIB:.0f} MiB"


def test_restart_time_with_a_long_history(
    module_settings: Settings, make_worker: Callable[[str], Worker]
) -> None:
    topics = Topics.from_settings(module_settings)
    with CommandClient(module_settings) as client:
        for command in catalog_commands(HISTORY, PRODUCTS, prefix="R"):
            client.send_nowait(command)
        client.flush(300)
        worker = make_worker("command-processor")
        began = time.monotonic()
        wait_for_count(module_settings, topics.results, HISTORY, timeout_s=1800)
        decided_s = time.monotonic() - began
        decided_rss = resident(worker)

        worker.stop()
        clean = answered_after_start(worker, client, "R-1")
        worker.kill9()
        killed = answered_after_start(worker, client, "R-2")
        worker.stop()
        shutil.rmtree(module_settings.home / "workers")
        cold = answered_after_start(worker, client, "R-3")
    print(
        f"\nprocessor restart with {HISTORY:,} commands over {PRODUCTS:,} products behind it "
        f"(decided in {decided_s:.0f} s, RSS then {decided_rss}): start -> first answer "
        f"(RSS): after a clean stop {clean[0]:.1f} s ({clean[1]}), after kill -9 "
        f"{killed[0]:.1f} s ({killed[1]}), with its local store lost (whole changelog "
        f"restored) {cold[0]:.1f} s ({cold[1]}) (target 15 s)"
    )
