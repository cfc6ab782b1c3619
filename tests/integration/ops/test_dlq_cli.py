"""`eventcart dlq`: list, show and re-drive dead letters of every consumer."""

from __future__ import annotations

import subprocess

import orjson
from confluent_kafka import Producer

from producers import commands as c
from producers.client import CommandClient
from schemas.config.settings import Settings
from schemas.topics import Topics
from tests.fixtures.kafka_read import read_topic
from tests.fixtures.load import wait_until
from tests.fixtures.workers import cli


def eventcart(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return cli(settings, *args, timeout_s=300)


def letters(settings: Settings, consumer: str) -> list[dict[str, object]]:
    topic = Topics.from_settings(settings).dead_letters(consumer)
    return [r["value"] for r in read_topic(settings, topic)]


def test_list_show_and_redrive(system_client: CommandClient, module_settings: Settings) -> None:
    topics = Topics.from_settings(module_settings)
    producer = Producer({"bootstrap.servers": module_settings.kafka_bootstrap_servers})
    producer.produce(topics.events, key=b"DLQ-1", value=b'{"type": "PriceChanged"')
    producer.produce(
        topics.commands,
        key=b"DLQ-2",
        value=orjson.dumps({**c.register_product("DLQ-2", "x"), "sku": "DLQ-OTHER"}),
    )
    producer.flush(30)
    assert system_client.send(c.register_product("DLQ-3", "behind the poison")).accepted
    wait_until(lambda: len(letters(module_settings, "pricing-projection")) == 1, 60, "a letter")
    wait_until(lambda: len(letters(module_settings, "command-processor")) == 1, 60, "a letter")

    listed = eventcart(module_settings, "dlq", "list", "pricing")
    assert listed.returncode == 0 and "json" in listed.stdout, listed.stdout + listed.stderr
    shown = eventcart(module_settings, "dlq", "show", "pricing", "0")
    assert shown.returncode == 0 and '"value_b64"' in shown.stdout and "DLQ-1" in shown.stdout

    again = eventcart(module_settings, "dlq", "replay", "pricing", "--offset", "0")
    assert again.returncode == 1 and "failed again" in again.stdout, again.stdout + again.stderr
    # The re-drive went through the same step as the live projection: dead-lettered again.
    assert len(letters(module_settings, "pricing-projection")) == 2

    resent = eventcart(module_settings, "dlq", "replay", "processor", "--offset", "0")
    assert resent.returncode == 0 and "resent" in resent.stdout, resent.stdout + resent.stderr
    wait_until(lambda: len(letters(module_settings, "command-processor")) == 2, 60, "re-refused")
