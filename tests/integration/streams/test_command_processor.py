"""The command processor against real Kafka: rules, idempotence, ordering, poison records."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import orjson
import pytest
from confluent_kafka import Producer

from producers import commands as c
from producers.client import CommandClient, producer_config
from schemas import codec
from schemas.config.settings import Settings
from schemas.errors import ContractError
from schemas.topics import Topics
from streams import dead_letters
from tests.fixtures.kafka_read import read_topic
from tests.fixtures.workers import Worker


@pytest.fixture(scope="module")
def client(
    module_settings: Settings, make_worker: Callable[[str], Worker]
) -> Iterator[CommandClient]:
    make_worker("command-processor")
    with CommandClient(module_settings) as client:
        # The first answer proves the worker has joined its group and recovered.
        client.send(c.register_product("PROBE", "probe"), timeout_s=120)
        yield client


def events_of(settings: Settings, sku: str) -> list[dict[str, Any]]:
    topic = Topics.from_settings(settings).events
    return [r["value"] for r in read_topic(settings, topic) if r["key"] == sku.encode()]


def test_every_command_is_accepted_in_turn(
    client: CommandClient, module_settings: Settings
) -> None:
    sku = "LIFE-1"
    results = [
        client.send(c.register_product(sku, "Trail shoe", brand="Acme", tags=["trail"])),
        client.send(c.update_product_details(sku, description="Grippy")),
        client.send(c.change_price(sku, "89.90", "EUR")),
        client.send(c.adjust_stock(sku, 12, reason="delivery")),
        client.send(c.discontinue_product(sku, reason="end of line")),
    ]
    assert [r.status for r in results] == ["accepted"] * 5
    assert [r.version for r in results] == [1, 2, 3, 4, 5]
    events = events_of(module_settings, sku)
    assert [e["type"] for e in events] == [
        "ProductRegistered",
        "ProductDetailsUpdated",
        "PriceChanged",
        "StockAdjusted",
        "ProductDiscontinued",
    ]
    assert [e["event_id"] for e in events] == [eid for r in results for eid in r.event_ids]
    positions = [(p.partition, p.offset) for r in results for p in r.positions]
    assert len(set(p for p, _ in positions)) == 1  # one SKU, one partition
    assert events[2]["data"] == {"amount": "89.90", "currency": "EUR", "price_type": "regular"}
    assert events[3]["data"]["quantity"] == 12


@pytest.mark.parametrize(
    ("setup", "command", "reason"),
    [
        ([], lambda s: c.update_product_details(s, name="x"), "not_found"),
        ([], lambda s: c.change_price(s, "1.00", "EUR"), "not_found"),
        ([], lambda s: c.adjust_stock(s, 1), "not_found"),
        ([], lambda s: c.discontinue_product(s), "not_found"),
        (["register"], lambda s: c.register_product(s, "again"), "already_registered"),
        (["register"], lambda s: c.change_price(s, "0.00", "EUR"), "price_not_positive"),
        (["register"], lambda s: c.adjust_stock(s, -1), "insufficient_stock"),
        (["register", "discontinue"], lambda s: c.change_price(s, "5", "EUR"), "discontinued"),
        (["register", "discontinue"], lambda s: c.adjust_stock(s, 5), "discontinued"),
        (
            ["register", "discontinue"],
            lambda s: c.update_product_details(s, name="y"),
            "discontinued",
        ),
        (["register", "discontinue"], lambda s: c.discontinue_product(s), "already_discontinued"),
        (["register"], lambda s: c.adjust_stock(s, 1, expected_version=7), "version_conflict"),
        ([], lambda s: c.register_product(s, "new", expected_version=3), "version_conflict"),
    ],
)
def test_each_rule_rejects(
    client: CommandClient,
    unique: str,
    setup: list[str],
    command: Callable[[str], dict[str, Any]],
    reason: str,
) -> None:
    sku = f"RULE-{unique}"
    for step in setup:
        first = c.register_product(sku, "p") if step == "register" else c.discontinue_product(sku)
        assert client.send(first).accepted
    result = client.send(command(sku))
    assert (result.status, result.reason) == ("rejected", reason)
    assert result.message
    assert result.version == len(setup)


def test_expected_version_matching_is_accepted(client: CommandClient, unique: str) -> None:
    sku = f"EXP-{unique}"
    assert client.send(c.register_product(sku, "p", expected_version=0)).accepted
    assert client.send(c.change_price(sku, "3.50", "USD", expected_version=1)).accepted
    conflict = client.send(c.change_price(sku, "4.50", "USD", expected_version=1))
    assert conflict.reason == "version_conflict"
    assert "2" in (conflict.message or "")


def test_invalid_command_is_refused_before_sending(client: CommandClient) -> None:
    bad = c.change_price("SKU-BAD", "12.5", "EUR")
    bad["data"]["amount"] = 12.5  # money as a float
    with pytest.raises(ContractError) as caught:
        client.send(bad)
    assert (caught.value.field, caught.value.rule) == ("data.amount", "type")


def test_retried_command_id_gives_one_event(
    client: CommandClient, module_settings: Settings, unique: str
) -> None:
    sku = f"IDEM-{unique}"
    client.send(c.register_product(sku, "p"))
    command = c.adjust_stock(sku, 5)
    first, second = client.send(command), client.send(command)
    assert first == second
    assert first.accepted and first.version == 2
    assert [e["type"] for e in events_of(module_settings, sku)] == [
        "ProductRegistered",
        "StockAdjusted",
    ]
    # A rejection is remembered the same way: the retry gets the original answer.
    too_much = c.adjust_stock(sku, -100)
    assert client.send(too_much) == client.send(too_much)


def test_per_sku_order_is_kept(
    client: CommandClient, module_settings: Settings, unique: str
) -> None:
    skus = [f"ORD-{unique}-{i}" for i in range(5)]
    client.send_batch([c.register_product(sku, "p") for sku in skus])
    batch = [c.adjust_stock(sku, n + 1) for n in range(40) for sku in skus]
    results = client.send_batch(batch)
    assert all(r.accepted for r in results)
    for sku in skus:
        events = events_of(module_settings, sku)
        assert [e["version"] for e in events] == list(range(1, 42))
        quantities = [e["data"]["quantity"] for e in events[1:]]
        assert quantities == [sum(range(1, n + 2)) for n in range(40)]


def test_poison_records_are_dead_lettered_and_the_rest_goes_on(
    client: CommandClient, module_settings: Settings, unique: str
) -> None:
    topics = Topics.from_settings(module_settings)
    sku = f"POISON-{unique}"
    valid_before = c.register_product(sku, "p")
    schema_violation = c.change_price(sku, "1.00", "EURO")
    wrong_key = c.adjust_stock(sku, 1)
    valid_after = c.adjust_stock(sku, 3)
    raw_producer = Producer(producer_config(module_settings))
    poison = [
        (sku, b"{not json"),
        (sku, b'{"type": "Teleport", "sku": "x"}'),
        (sku, codec.encode(schema_violation)),
        (sku, b"[" + b"1," * (codec.MAX_MESSAGE_BYTES // 2) + b"1]"),
        ("another-key", codec.encode(wrong_key)),
    ]
    futures = [client.submit(valid_before)]
    waiting = [
        client.listener.expect(str(cmd["command_id"])) for cmd in (schema_violation, wrong_key)
    ]
    for key, value in poison:
        raw_producer.produce(topics.commands, key=key.encode(), value=value)
    raw_producer.flush(30)
    futures.append(client.submit(valid_after))
    assert [f.result(timeout=60).status for f in futures] == ["accepted", "accepted"]
    violation, misrouted = (w.result(timeout=60) for w in waiting)
    assert (violation.reason, violation.field, violation.rule) == (
        "invalid",
        "data.currency",
        "enum",
    )
    assert (misrouted.reason, misrouted.rule) == ("invalid", "kafka_key")

    letters = [
        r["value"] for r in read_topic(module_settings, topics.dead_letters("command-processor"))
    ]
    mine = [d for d in letters if d["key"] in (sku, "another-key")]
    rules = sorted(d["error"]["rule"] for d in mine)
    assert rules == sorted(["json", "unknown_type", "enum", "size", "kafka_key"])
    originals = {d["error"]["rule"]: dead_letters.original(d) for d in mine}
    assert all(d["offset"] >= 0 and d["value_size"] > 0 for d in mine)
    assert originals["json"] == b"{not json"
    assert orjson.loads(originals["enum"] or b"")["sku"] == sku
