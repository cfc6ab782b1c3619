"""Batches whose transaction the broker refuses are aborted, invisible, and done again.

For a few seconds mid-load the results topic refuses every batch of results
(``max.message.bytes`` lowered to 100 bytes): each batch's transaction fails
on its results, is aborted (its events with it) and the batch is read again
from its first record until the topic takes records again. (100 bytes, not
less: the broker must still be able to write the ~80-byte abort marker into
that partition. Kafka 4.1 treats a marker it cannot write as fatal and leaves
the transaction hanging, which this test once found at 64 bytes.)
"""

from __future__ import annotations

import time
from collections.abc import Callable

from confluent_kafka.admin import (
    AdminClient,
    AlterConfigOpType,
    ConfigEntry,
    ConfigResource,
    ResourceType,
)

from schemas.config.settings import Settings
from schemas.topics import Topics
from tests.fixtures.kafka_read import read_topic
from tests.fixtures.load import Answers, SteadyLoad, check_exactly_once, wait_until
from tests.fixtures.workers import Worker


def set_max_message_bytes(settings: Settings, topic: str, value: str | None) -> None:
    admin = AdminClient({"bootstrap.servers": settings.kafka_bootstrap_servers})
    operation = AlterConfigOpType.SET if value is not None else AlterConfigOpType.DELETE
    entry = ConfigEntry("max.message.bytes", value or "", incremental_operation=operation)
    resource = ConfigResource(ResourceType.TOPIC, topic, incremental_configs=[entry])
    for future in admin.incremental_alter_configs([resource]).values():
        future.result(timeout=30)


def test_aborted_batches_are_invisible_and_redone(
    module_settings: Settings, make_worker: Callable[[str], Worker], answers: Answers
) -> None:
    topics = Topics.from_settings(module_settings)
    make_worker("command-processor")
    load = SteadyLoad(module_settings, total=12_000, skus=500, rate=600, seed=5).start()
    wait_until(lambda: len(answers.first) > 2_000, 60, "answers before the fault")
    set_max_message_bytes(module_settings, topics.results, "100")
    try:
        time.sleep(6)
    finally:
        set_max_message_bytes(module_settings, topics.results, None)
    load.join(timeout_s=120)
    counts = check_exactly_once(module_settings, load, answers)
    aborted = (
        len(read_topic(module_settings, topics.events, committed_only=False)) - counts["events"]
    )
    print(f"\naborts: {counts}; event records left invisible by aborted transactions: {aborted}")
    assert aborted > 0, "no transaction was aborted: the fault did not bite"
