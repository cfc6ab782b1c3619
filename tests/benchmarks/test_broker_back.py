"""Broker back -> commands answered again, measured from outside through the HTTP API.

The system as `eventcart up` runs it: the three roles and the command API as
their own processes, raw commands arriving at 300/s throughout. The single
broker is killed with kill -9, stays away for a few seconds, and is started
again by the stack's own code; the instant that returns (the broker answers
on its port) is "healthy". From then on a client does what any HTTP client
would: it sends one command, waits for its answer (``timeout_s=30``, so no 202
hides a slow answer), then sends the next, through the outage too
(:mod:`tests.fixtures.http_probe`). Printed per round: when the first
command sent after "healthy" was answered, and the floor beside it, a bare
producer's first acknowledged record after "healthy" (the broker itself taking
writes again). The target: the first command answered within 5 s of healthy.

At the end the log is exact (every command answered once, no fork) and both
read models equal the fold of the log: the speed costs no correctness.

Run: `pytest -m benchmark -s tests/benchmarks/test_broker_back.py` (it kills the
local broker: nothing else may use the stack meanwhile).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from confluent_kafka import KafkaError, Message, Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from ops.stack import manager
from schemas.config.connections import kafka_config
from schemas.config.settings import Settings
from tests.fixtures.apis import api_process
from tests.fixtures.http_probe import HttpProbe
from tests.fixtures.load import Answers, SteadyLoad, check_exactly_once, kill9
from tests.fixtures.oracle import assert_read_models_equal_oracle
from tests.fixtures.workers import ALL_ROLES, Worker, free_port_block

pytestmark = [pytest.mark.benchmark, pytest.mark.services, pytest.mark.timeout(1200)]

ROUNDS = 3
OUTAGE_S = 6.0
TARGET_S = 5.0


def probe_topic(settings: Settings) -> str:
    """A topic of its own for the bare producer's records."""
    topic = f"{settings.topic_prefix}-broker-back-probe"
    admin = AdminClient(kafka_config(settings))
    for future in admin.create_topics([NewTopic(topic, 1, 1)]).values():
        future.result(30)
    return topic


def first_ack_after(settings: Settings, topic: str, healthy: float) -> float:
    """Seconds from ``healthy`` to a bare producer's first acknowledged record."""
    producer = Producer(kafka_config(settings, **{"acks": "all", "linger.ms": 0}))
    acked = threading.Event()

    def delivered(err: KafkaError | None, _msg: Message) -> None:
        if err is None:
            acked.set()

    while not acked.is_set():
        producer.produce(topic, b"probe", on_delivery=delivered)
        producer.flush(1)
    return time.monotonic() - healthy


def test_commands_answered_again_after_the_broker_is_back(
    module_settings: Settings,
    settings: Settings,
    make_worker: Callable[[str], Worker],
    answers: Answers,
) -> None:
    for role in ALL_ROLES:
        make_worker(role)
    kafka = manager.pick(settings, ["kafka"])[0]
    port = free_port_block(1)
    topic = probe_topic(module_settings)
    token = module_settings.api_token.get_secret_value()
    load = SteadyLoad(module_settings, total=300 * 120, skus=600, rate=300, seed=47).start()
    lines = [f"broker kill -9, back after {OUTAGE_S:.0f} s, raw load at {load.rate:.0f}/s:"]
    firsts: list[float] = []
    with (
        api_process(module_settings, "commands", port),
        HttpProbe(f"http://127.0.0.1:{port}", token, "BACK") as http,
    ):
        for round_ in range(1, ROUNDS + 1):
            while load.done < round_ * 3_000:
                time.sleep(0.05)
            try:
                kill9(kafka)
                time.sleep(OUTAGE_S)
            finally:
                manager.up(settings, ["kafka"])
            healthy = time.monotonic()
            floor = first_ack_after(settings, topic, healthy)
            time.sleep(15)
            first = http.first_answered_after(healthy)
            assert first is not None, "no command answered after the broker came back"
            firsts.append(first.answered - healthy)
            lines.append(
                f"  round {round_}: the first command sent after healthy (at "
                f"{first.sent - healthy:.2f} s) answered {first.answered - healthy:.1f} s "
                f"after healthy; a bare producer's first ack {floor:.2f} s; longest wait "
                f"for an answer since {http.longest_wait(healthy):.1f} s"
            )
    load.join(timeout_s=load.total / load.rate + 300)
    counts = check_exactly_once(module_settings, load, answers)
    assert_read_models_equal_oracle(module_settings, load.skus)
    lines.append(
        f"  worst round {max(firsts):.1f} s (target <= {TARGET_S:.0f} s); exactly once: {counts}"
    )
    print("\n" + "\n".join(lines))
