"""The soak: a steady load for 20 minutes (``--soak-minutes`` for longer) through faults.

What hours of traffic show and minutes do not: memory that creeps, state that
drifts, a recovery that works nine times and not the tenth. The system runs as
on two hosts: host A's three roles are killed with -9 in turn (a random role
every minute, started again at once), host B's three roles and both HTTP APIs
are never touched, so their memory over the whole soak is the flatness measure.
Elasticsearch and PostgreSQL are each restarted once along the way. Raw
commands come from Kafka, and a trickle of commands and queries goes through
the HTTP APIs, so the APIs do real work all along.

It ends with the checks every fault test ends with (every command answered once
and as the rules say, one event per change, no fork; both read models equal to
the fold of the log) and prints every process's resident memory: at its start,
after its warm-up (a quarter of its life), its peak and its end. A process that
lived through the whole soak must end within 25% (or 100 MiB) of its
after-warm-up size.

Run: ``.venv/bin/pytest -m long -s tests/faults/test_soak.py [--soak-minutes 60]``.
"""

from __future__ import annotations

import random
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import httpx
import pytest

from ops.stack import manager
from producers import commands as c
from producers.client import CommandClient
from schemas.config.settings import Settings
from tests.fixtures.apis import api_process
from tests.fixtures.load import Answers, SteadyLoad, check_exactly_once
from tests.fixtures.oracle import assert_read_models_equal_oracle
from tests.fixtures.rss import MIB, RssSampler
from tests.fixtures.workers import (
    ALL_ROLES,
    SKIP_IN_CONTAINERS,
    Worker,
    free_port_block,
)

pytestmark = [pytest.mark.long, pytest.mark.soak]

RATE = 200  # raw commands per second
KILL_EVERY_S = 60
HTTP_SKUS = [f"H-{i:03d}" for i in range(100)]


@dataclass
class Api:
    """A running API process and its address."""

    url: str
    proc: subprocess.Popen[bytes]


class HttpTrickle:
    """A few commands and queries per second through the HTTP APIs, from a thread.

    Each command is resent with its command id until the API takes it (503 while
    a fault lasts is the API's documented answer); the ids it took are kept for
    the final check that every one of them was answered.
    """

    def __init__(self, commands: Api, queries: Api, token: str) -> None:
        self._commands, self._queries = commands, queries
        self._headers = {"Authorization": f"Bearer {token}"}
        self.taken: set[tuple[str, str]] = set()
        self.queries = self.query_errors = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="http-trickle", daemon=True)

    def start(self) -> HttpTrickle:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(60)

    def _send(self, http: httpx.Client, kind: str, sku: str, data: dict[str, object]) -> None:
        command_id = f"http-{sku}-{len(self.taken)}"
        while not self._stop.is_set():
            try:
                answer = http.post(
                    f"{self._commands.url}/commands/{kind}",
                    params={"wait": "false"},
                    json={"sku": sku, "command_id": command_id, "data": data},
                    headers=self._headers,
                )
                if answer.status_code in (200, 202):
                    self.taken.add((sku, command_id))
                    return
            except httpx.HTTPError:
                pass
            self._stop.wait(1)

    def _run(self) -> None:
        r = random.Random(5)
        with httpx.Client(timeout=30) as http:
            for sku in HTTP_SKUS:
                self._send(http, "register-product", sku, {"name": f"soak {sku}", "brand": "H"})
            while not self._stop.wait(0.2):
                sku = r.choice(HTTP_SKUS)
                if r.random() < 0.5:
                    amount = f"{r.randint(1, 99)}.{r.randint(0, 99):02d}"
                    self._send(http, "change-price", sku, {"amount": amount, "currency": "EUR"})
                else:
                    self._send(http, "adjust-stock", sku, {"delta": r.randint(1, 5)})
                for path in (f"/prices/{sku}", "/search?q=soak"):
                    try:
                        answer = http.get(f"{self._queries.url}{path}")
                        self.queries += 1
                        self.query_errors += answer.status_code >= 500
                    except httpx.HTTPError:
                        self.query_errors += 1


@pytest.fixture
def soak_minutes(request: pytest.FixtureRequest) -> float:
    return float(request.config.getoption("--soak-minutes"))


@pytest.fixture
def apis(module_settings: Settings) -> Iterator[tuple[Api, Api]]:
    port = free_port_block(2)
    with (
        api_process(module_settings, "commands", port) as commands,
        api_process(module_settings, "queries", port + 1) as queries,
    ):
        yield (
            Api(f"http://127.0.0.1:{port}", commands),
            Api(f"http://127.0.0.1:{port + 1}", queries),
        )


def test_soak(
    settings: Settings,
    module_settings: Settings,
    make_worker: Callable[[str], Worker],
    answers: Answers,
    apis: tuple[Api, Api],
    soak_minutes: float,
) -> None:
    if settings.testcontainers:
        pytest.skip(SKIP_IN_CONTAINERS)
    host_a = {role: make_worker(role) for role in ALL_ROLES}
    host_b = {role: make_worker(role) for role in ALL_ROLES}
    with CommandClient(module_settings) as client:
        assert client.send(c.register_product("PROBE", "probe"), timeout_s=180).accepted

    def pid(worker: Worker) -> Callable[[], int | None]:
        return lambda: worker.proc.pid if worker.proc is not None and worker.alive() else None

    commands_api, queries_api = apis
    sampler = RssSampler(
        {
            **{f"A {role}": pid(w) for role, w in host_a.items()},
            **{f"B {role}": pid(w) for role, w in host_b.items()},
            "api commands": lambda: commands_api.proc.pid,
            "api queries": lambda: queries_api.proc.pid,
        }
    ).start()
    duration_s = soak_minutes * 60
    # The load runs a minute past the last fault (stretched if the last store restart
    # ends late): recovery is part of the soak.
    total = int(RATE * (duration_s + KILL_EVERY_S))
    load = SteadyLoad(module_settings, total=total, skus=3_000, rate=RATE, seed=83).start()
    trickle = HttpTrickle(
        commands_api, queries_api, module_settings.api_token.get_secret_value()
    ).start()

    chooser = random.Random(83)
    began = time.monotonic()
    kills: list[str] = []
    restarts = {0.35: "elasticsearch", 0.65: "postgres"}
    # A restart under load on a busy machine may take longer than a cold start.
    patient = settings.model_copy(update={"start_timeout_s": 600.0})
    while time.monotonic() - began + KILL_EVERY_S <= duration_s:
        time.sleep(KILL_EVERY_S)
        role = chooser.choice(ALL_ROLES)
        host_a[role].kill9()
        host_a[role].start()
        kills.append(role)
        for at, service in list(restarts.items()):
            if time.monotonic() - began >= at * duration_s:
                manager.down(patient, [service])
                manager.up(patient, [service])
                del restarts[at]
    load.run_past(KILL_EVERY_S)
    load.join(timeout_s=duration_s + 600)
    trickle.stop()

    counts = check_exactly_once(module_settings, load, answers)
    answers.wait_for(trickle.taken, timeout_s=180)
    assert_read_models_equal_oracle(module_settings, load.skus + HTTP_SKUS)
    lifetimes = sampler.stop()
    assert all(w.alive() for w in (*host_a.values(), *host_b.values()))
    assert commands_api.proc.poll() is None and queries_api.proc.poll() is None

    print(
        f"\nsoak of {soak_minutes:.0f} min at {RATE}/s: {counts}; {len(kills)} kill -9 "
        f"({', '.join(f'{r}: {kills.count(r)}' for r in ALL_ROLES)}), Elasticsearch and "
        f"PostgreSQL restarted once each; HTTP: {len(trickle.taken)} commands, "
        f"{trickle.queries} queries ({trickle.query_errors} failed while a store was away)"
    )
    print("resident memory per process lifetime:")
    for life in lifetimes:
        print("  " + life.line())
    whole = [life for life in lifetimes if life.span_s >= 0.9 * duration_s]
    assert len(whole) >= 5, "host B's roles and the APIs should have lived through the soak"
    for life in whole:
        settled, end = life.at(0.25), life.samples[-1][1]
        assert end <= max(settled * 1.25, settled + 100 * MIB), f"memory grew: {life.line()}"
