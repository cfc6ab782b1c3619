"""kill -9 of the Kafka broker itself under a steady load, then the broker back.

Every client keeps its promise through the outage: the raw producer's commands
wait in its queue and are delivered when the broker returns, the Python client
times out instead of hanging, the HTTP command API answers 503 with Retry-After
(never a 202 for a command Kafka has not acknowledged), and the processor and
both projections resume by themselves. At the end the log is exact (every
command answered once, one event per change, no fork) and both read models
equal the fold of the log. Printed: the time from the broker's return to the
first command answered.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from fastapi.testclient import TestClient

from ops.stack import manager
from producers import commands as c
from producers.client import CommandClient, CommandTimeoutError
from producers.http_api import create_app
from schemas.config.settings import Settings
from tests.fixtures.load import Answers, SteadyLoad, check_exactly_once, kill9, wait_until
from tests.fixtures.oracle import assert_read_models_equal_oracle
from tests.fixtures.workers import ALL_ROLES, SKIP_IN_CONTAINERS, Worker, cli

OUTAGE_S = 8.0


def test_broker_killed_and_back_under_load(
    module_settings: Settings,
    settings: Settings,
    make_worker: Callable[[str], Worker],
    answers: Answers,
) -> None:
    if settings.testcontainers:
        pytest.skip(SKIP_IN_CONTAINERS)
    for role in ALL_ROLES:
        make_worker(role)
    kafka = manager.pick(settings, ["kafka"])[0]
    auth = {"Authorization": f"Bearer {module_settings.api_token.get_secret_value()}"}
    outage_command = {"sku": "OUTAGE-1", "data": {"name": "in the outage"}, "command_id": "o-1"}

    load = SteadyLoad(module_settings, total=9_000, skus=600, rate=300, seed=31).start()
    with TestClient(create_app(module_settings)) as api, CommandClient(module_settings) as client:
        client.send(c.register_product("PROBE", "probe"), timeout_s=120)
        while load.done < 3_000:
            time.sleep(0.05)
        try:
            kill9(kafka)
            lost_at = time.monotonic()
            # While the broker is away: the API refuses to promise, the client does
            # not hang.
            during = api.post(
                "/commands/register-product",
                json=outage_command,
                params={"timeout_s": 2},
                headers=auth,
            )
            began = time.monotonic()
            with pytest.raises(CommandTimeoutError):
                client.send(c.register_product("OUTAGE-2", "python client"), timeout_s=3)
            gave_up_after = time.monotonic() - began
            # The CLI, a fresh client: a clear message and exit code, no hang.
            shell = cli(
                module_settings,
                *("command", "adjust-stock", "--sku", "PROBE", "--delta", "1"),
                *("--command-id", "cli-1", "--timeout", "3"),
                timeout_s=60,
            )
            time.sleep(max(0.0, OUTAGE_S - (time.monotonic() - lost_at)))
        finally:
            manager.up(settings, ["kafka"])  # whatever happened, the stack is whole again
        back_ms = int(time.time() * 1000)
        assert during.status_code == 503, during.text
        assert int(during.headers["retry-after"]) > 0
        assert gave_up_after < 10
        assert shell.returncode in (3, 4), shell.stdout + shell.stderr
        assert "--command-id cli-1" in shell.stderr, shell.stderr
        wait_until(lambda: answers.first_after(back_ms), 120, "an answer after the broker")
        first_ms = answers.first_after(back_ms) or back_ms

        # The command sent during the outage arrives (it waited in the client's queue);
        # the one refused with 503 is resent with its command_id, as the API told.
        resent = api.post(
            "/commands/register-product",
            json=outage_command,
            params={"timeout_s": 60},
            headers=auth,
        )
        assert resent.status_code == 200, resent.text
        assert resent.json()["status"] == "accepted"
        client.flush(60)

    load.join(timeout_s=load.total / load.rate + 300)
    counts = check_exactly_once(module_settings, load, answers)
    assert_read_models_equal_oracle(module_settings, [*load.skus, "OUTAGE-1", "OUTAGE-2"])
    print(
        f"\nbroker kill -9 for {OUTAGE_S:.0f} s during {load.total} commands at "
        f"{load.rate:.0f}/s: {counts}; broker back -> first answer "
        f"{(first_ms - back_ms) / 1000:.1f} s"
    )
