"""Lag as time: `eventcart status` says how long ago the oldest event a projection has
not applied was written, read from Kafka alone, so a projection with no worker at all
(stopped, crashed) is seen falling behind second by second."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest

from ops import status
from producers import commands as c
from producers.client import CommandClient
from schemas.config.settings import Settings
from tests.fixtures.load import wait_until
from tests.fixtures.workers import Worker, cli


def roles(settings: Settings) -> dict[str, status.RoleStatus]:
    return {r.role: r for r in status.collect(settings, sample_s=0.5)}


@pytest.mark.long  # minutes: `make test-long`
def test_a_projection_without_a_worker_is_behind_by_the_age_of_its_oldest_event(
    module_settings: Settings, make_worker: Callable[[str], Worker]
) -> None:
    make_worker("command-processor")
    with CommandClient(module_settings) as client:
        sent_at = time.time()
        results = client.send_batch([c.register_product(f"BH-{i}", "p") for i in range(5)])
    assert all(r.accepted for r in results)
    time.sleep(3)

    seen = roles(module_settings)
    waited = time.time() - sent_at
    search = seen["search-projection"]
    assert search.lag >= 5 and search.stalled
    assert 3 <= search.behind_s <= waited + 1, search.behind_s
    wait_until(
        lambda: roles(module_settings)["command-processor"].behind_s == 0,
        30,
        "the processor caught up: nothing waits for it",
    )

    shown = cli(module_settings, "status", "--sample", "0.5")
    assert shown.returncode == 1  # the projections are stalled: no worker
    assert "behind" in shown.stdout and " s " in shown.stdout

    make_worker("search-projection")
    wait_until(
        lambda: roles(module_settings)["search-projection"].behind_s == 0,
        60,
        "the search projection caught up once started",
    )
