"""The raw JSON contract, sent the way the README shows for other languages: with kcat."""

from __future__ import annotations

import shutil
import subprocess
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime

import orjson
import pytest

from producers import commands as c
from producers.client import CommandClient
from schemas.config.settings import Settings
from schemas.topics import Topics
from tests.fixtures.kafka_read import read_topic
from tests.fixtures.workers import Worker

pytestmark = pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat is not installed")


def test_kcat_produced_command_is_processed(
    module_settings: Settings, make_worker: Callable[[str], Worker]
) -> None:
    make_worker("command-processor")
    topics = Topics.from_settings(module_settings)
    with CommandClient(module_settings) as client:
        client.send(c.register_product("KCAT-1", "Kettle"), timeout_s=120)
    command_id = str(uuid.uuid4())
    command = {
        "command_id": command_id,
        "type": "ChangePrice",
        "schema_version": 1,
        "sku": "KCAT-1",
        "occurred_at": datetime.now(UTC).isoformat(),
        "data": {"amount": "24.99", "currency": "EUR"},
    }
    # As in the README: key|value, murmur2 partitioning like every other producer.
    subprocess.run(
        [
            "kcat",
            "-P",
            "-b",
            module_settings.kafka_bootstrap_servers,
            "-t",
            topics.commands,
            "-K",
            "|",
            "-X",
            "partitioner=murmur2_random",
            "-X",
            "enable.idempotence=true",
        ],
        input=b"KCAT-1|" + orjson.dumps(command) + b"\n",
        check=True,
        timeout=60,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        mine = [
            r["value"]
            for r in read_topic(module_settings, topics.results)
            if r["value"] and r["value"]["command_id"] == command_id
        ]
        if mine:
            break
        time.sleep(0.5)
    assert mine and mine[0]["status"] == "accepted" and mine[0]["version"] == 2
