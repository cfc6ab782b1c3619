"""Every command the contract accepts lands in both read models, through the real system.

Commands generated from the JSON Schemas (hypothesis-jsonschema: extreme
lengths, counts and values, every RFC 3339 form of a date-time) are sent as a
raw-contract client sends them, through the real processor and both
projections: no accepted event may end in a projection's dead-letter topic,
and both read models must equal the oracle fold of the events topic.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from confluent_kafka import Producer
from hypothesis import HealthCheck, Phase, given, note, settings
from hypothesis import strategies as st

from producers import commands as c
from producers.client import CommandClient
from schemas import codec
from schemas.config.settings import Settings
from schemas.errors import ContractError
from schemas.topics import Topics
from tests.fixtures.contract_strategies import command_strategy, commands_for
from tests.fixtures.kafka_read import read_topic
from tests.fixtures.oracle import assert_read_models_equal_oracle
from tests.fixtures.workers import Worker

PROJECTIONS = ("search-projection", "pricing-projection")


@pytest.fixture(scope="module")
def client(
    module_settings: Settings, make_worker: Callable[[str], Worker]
) -> Iterator[CommandClient]:
    for role in ("command-processor", *PROJECTIONS):
        make_worker(role)
    with CommandClient(module_settings) as client:
        client.send(c.register_product("PROBE", "probe"), timeout_s=120)
        yield client


@st.composite
def histories(draw: st.DrawFn) -> list[dict[str, Any]]:
    """Three products, each registered first (from the schema), then anything."""
    skus = [f"E{uuid.uuid4().hex[:8]}-{i}" for i in range(3)]
    registrations = [{**draw(command_strategy("RegisterProduct")), "sku": sku} for sku in skus]
    for registration in registrations:
        registration.pop("expected_version", None)  # so that the products exist
    return registrations + draw(st.lists(commands_for(skus), min_size=10, max_size=40))


@settings(
    max_examples=20,
    deadline=None,
    # Each example runs through the whole system: shrinking would take hours; the
    # failing example is printed as generated.
    phases=(Phase.explicit, Phase.reuse, Phase.generate),
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,
    ],
)
@given(histories())
def test_every_accepted_command_reaches_both_read_models(
    client: CommandClient, module_settings: Settings, commands: list[dict[str, Any]]
) -> None:
    topics = Topics.from_settings(module_settings)
    valid = []
    for command in commands:
        command["command_id"] = f"{uuid.uuid4()}"  # generated ids repeat across examples
        try:
            codec.validate_command(command)
        except ContractError:
            continue
        valid.append(command)
    note(json.dumps(valid))
    producer = Producer(
        {
            "bootstrap.servers": module_settings.kafka_bootstrap_servers,
            "partitioner": "murmur2_random",
        }
    )
    futures = [client.listener.expect(cmd["command_id"]) for cmd in valid]
    for command in valid:
        # json, not orjson: a client in another language may send integers beyond 64 bits.
        value = json.dumps(command).encode()
        producer.produce(topics.commands, key=command["sku"].encode(), value=value)
    assert producer.flush(30) == 0
    results = [f.result(timeout=120) for f in futures]
    assert all(r.reason != "invalid" for r in results)

    skus = sorted({cmd["sku"] for cmd in valid})
    assert_read_models_equal_oracle(module_settings, skus)
    for role in PROJECTIONS:
        letters = read_topic(module_settings, topics.dead_letters(role))
        assert [r["value"] for r in letters if r["value"]["key"] in skus] == [], role
