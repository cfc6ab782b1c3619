"""A three-broker KRaft cluster on loopback, and the loss of the broker that leads most.

On demand (it starts three more JVMs on a two-core machine):
`.venv/bin/pytest -m long -s tests/faults/test_kafka_cluster.py`.

The cluster is the project's own (`ops.stack`, ``EVENTCART_KAFKA_BROKERS=3``), on
ports of its own beside the single-broker stack; Elasticsearch and PostgreSQL
are the usual ones. Topics get three replicas with min.insync.replicas 2 from
the topics module. Under a steady load, kill -9 of the broker that leads the
most partitions: producing goes on once leaders are elected, the processor and
both projections go on, the broker comes back and catches up; at the end the
log is exact (no command lost, no event twice, no fork) and both read models
equal the fold of the log. Printed: the longest pause a producer saw, and
through the HTTP command API (one command at a time, as a user sends them,
:mod:`tests.fixtures.http_probe`) how long after the kill the first command
sent after it was answered.
"""

from __future__ import annotations

import shutil
import time
from collections import Counter
from collections.abc import Callable, Iterator

import pytest
from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, ConfigResource

from ops.stack import manager
from producers import commands as c
from producers.client import CommandClient
from schemas.config.settings import Settings
from schemas.topics import Topics
from tests.fixtures.apis import api_process
from tests.fixtures.http_probe import HttpProbe
from tests.fixtures.load import Answers, SteadyLoad, check_exactly_once, kill9, wait_until
from tests.fixtures.oracle import assert_read_models_equal_oracle
from tests.fixtures.workers import ALL_ROLES, Worker, free_port_block, module_scope

pytestmark = pytest.mark.long

FIRST_PORT, FIRST_CONTROLLER_PORT = 19092, 19093


@pytest.fixture(scope="module")
def cluster(settings: Settings, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    home = tmp_path_factory.mktemp("kafka-cluster")
    ports = ",".join(f"127.0.0.1:{FIRST_PORT + 2 * n}" for n in range(3))
    three = settings.model_copy(
        update={
            "home": home,
            "kafka_brokers": 3,
            "kafka_bootstrap_servers": ports,
            "kafka_controller_port": FIRST_CONTROLLER_PORT,
            "kafka_heap": "512m",
        }
    )
    manager.up(three, ["kafka"])
    yield three
    manager.down(three, ["kafka"])
    shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def module_settings(
    cluster: Settings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Settings]:
    """This module's settings point at the cluster (overrides the shared fixture)."""
    yield from module_scope(cluster, tmp_path_factory)


def leaders(settings: Settings) -> Counter[int]:
    """How many partitions of this deployment's topics each broker leads."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    metadata = admin.list_topics(timeout=10)
    return Counter(
        partition.leader
        for name, topic in metadata.topics.items()
        if name.startswith(settings.topic_prefix)
        for partition in topic.partitions.values()
    )


def test_topics_are_replicated_three_times_with_two_in_sync(module_settings: Settings) -> None:
    admin = AdminClient({"bootstrap.servers": module_settings.kafka_bootstrap_servers})
    events = Topics.from_settings(module_settings).events
    # Each broker learns of a new topic from the metadata log, some a moment later.
    wait_until(lambda: events in admin.list_topics(timeout=10).topics, 60, "the topic everywhere")
    metadata = admin.list_topics(timeout=10).topics[events]
    assert all(len(p.replicas) == 3 for p in metadata.partitions.values())
    resource = ConfigResource("topic", events)
    for _ in range(300):
        try:
            config = admin.describe_configs([resource])[resource].result(timeout=10)
            break
        except KafkaException:
            time.sleep(0.2)
    assert config["min.insync.replicas"].value == "2"


@pytest.fixture(scope="module")
def workers(module_settings: Settings, make_worker: Callable[[str], Worker]) -> list[Worker]:
    started = [make_worker(role) for role in ALL_ROLES]
    with CommandClient(module_settings) as client:
        client.send(c.register_product("PROBE", "probe"), timeout_s=120)
    return started


def coordinator(settings: Settings) -> int:
    """The broker coordinating the command processor's consumer group."""
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    group = f"{settings.topic_prefix}-command-processor"
    (future,) = admin.describe_consumer_groups([group]).values()
    return int(future.result(timeout=10).coordinator.id)


@pytest.mark.parametrize("victim", ["leader of most partitions", "processor's coordinator"])
def test_a_broker_killed_under_load(
    module_settings: Settings,
    cluster: Settings,
    workers: list[Worker],
    answers: Answers,
    victim: str,
) -> None:
    """The processor's group coordinator is killed too: its consumer must rejoin
    through the new coordinator (librdkafka may call the old static member fenced)."""
    seed = 41 if victim.startswith("leader") else 42
    port = free_port_block(1)
    token = module_settings.api_token.get_secret_value()
    with (
        api_process(module_settings, "commands", port),
        HttpProbe(f"http://127.0.0.1:{port}", token, f"HTTP-{seed}") as http,
    ):
        load = SteadyLoad(module_settings, total=12_000, skus=600, rate=300, seed=seed).start()
        killed, node, led = kill_under_load(cluster, module_settings, load, victim)
    counts = check_exactly_once(module_settings, load, answers)
    assert_read_models_equal_oracle(module_settings, load.skus)
    assert http.first_answered_after(killed) is not None, "no HTTP command answered after"
    print(
        f"\nkill -9 of kafka-{node} ({victim}; leading {led} partitions) during {load.total} commands "
        f"at {load.rate:.0f}/s over 3 brokers: {counts}; longest pause a producer saw: "
        f"{load.longest_pause():.2f} s; through the HTTP API, one command at a time: the "
        f"longest wait for an answer after the kill {http.longest_wait(killed):.1f} s"
    )


def kill_under_load(
    cluster: Settings, module_settings: Settings, load: SteadyLoad, victim: str
) -> tuple[float, int, int]:
    """Kill the victim broker once a third of the load is in, start it again at two
    thirds, wait for the load's end; (the kill's monotonic instant, node, partitions led)."""
    while load.done < 4_000:
        time.sleep(0.05)
    if victim.startswith("leader"):
        node, led = leaders(module_settings).most_common(1)[0]
    else:
        node = coordinator(module_settings)
        led = leaders(module_settings)[node]
    (broker,) = manager.pick(cluster, [f"kafka-{node}"])
    killed = kill9(broker)
    print(f"\nkafka-{node} killed at {time.strftime('%H:%M:%S')} (for the workers' logs)")
    while load.done < 8_000:  # the load runs on without it ...
        time.sleep(0.05)
    assert time.monotonic() - killed < 120
    manager.up(cluster, [broker.name])  # ... and through its return
    load.join(timeout_s=load.total / load.rate + 300)
    return killed, node, led
