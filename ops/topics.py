"""Creating eventcart's topics on a cluster (their names and settings are in
``schemas.topics``, which every layer may import)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]

from schemas.config.connections import kafka_config
from schemas.config.settings import Settings
from schemas.topics import replication, specs

_NOT_PERMITTED = "this login may not create it (its ACLs): an operator's `eventcart topics create`"


@dataclass(frozen=True)
class Outcome:
    name: str
    state: str  # "created" | "exists" | "mismatch" | "not permitted"
    detail: str = ""


def create(settings: Settings, timeout_s: float = 30.0) -> list[Outcome]:
    """Create the topics that do not exist; report those that exist and differ."""
    admin = AdminClient(kafka_config(settings))
    metadata = admin.list_topics(timeout=timeout_s)
    brokers = len(metadata.brokers)
    wanted = specs(settings, brokers)
    rf, _ = replication(settings, brokers)
    existing = metadata.topics
    outcomes: list[Outcome] = []
    missing = [spec for spec in wanted if spec.name not in existing]
    futures = (
        admin.create_topics(
            [
                NewTopic(
                    spec.name,
                    num_partitions=spec.partitions,
                    replication_factor=rf,
                    config=spec.config,
                )
                for spec in missing
            ],
            operation_timeout=timeout_s,
        )
        if missing
        else {}
    )
    for spec in wanted:
        if spec.name in futures:
            try:
                futures[spec.name].result(timeout=timeout_s)
                outcomes.append(
                    Outcome(spec.name, "created", f"{spec.partitions} partitions, {rf} replicas")
                )
            except KafkaException as exc:
                if "TOPIC_AUTHORIZATION_FAILED" in str(exc):
                    # A role's principal sees and creates only what its ACLs allow: the
                    # operator's `eventcart topics create` (or `eventcart up`) makes it.
                    outcomes.append(Outcome(spec.name, "not permitted", _NOT_PERMITTED))
                    continue
                if "TOPIC_ALREADY_EXISTS" not in str(exc):
                    raise
                outcomes.append(Outcome(spec.name, "exists"))
            continue
        have = len(existing[spec.name].partitions)
        if have != spec.partitions:
            outcomes.append(
                Outcome(
                    spec.name,
                    "mismatch",
                    f"has {have} partitions, settings say {spec.partitions} "
                    "(partitions can only grow, and growing remaps SKUs: create a new topic set)",
                )
            )
        else:
            outcomes.append(Outcome(spec.name, "exists", f"{have} partitions"))
    created = [o.name for o in outcomes if o.state == "created"]
    if created:
        wait_for_leaders(admin, created, timeout_s)
    return outcomes


def wait_for_leaders(admin: AdminClient, names: list[str], timeout_s: float) -> None:
    """Return once every partition of the topics has a leader: a new topic is usable then."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        metadata = admin.list_topics(timeout=timeout_s).topics
        if all(
            name in metadata
            and metadata[name].partitions
            and all(p.leader >= 0 for p in metadata[name].partitions.values())
            for name in names
        ):
            return
        time.sleep(0.1)
    raise TimeoutError(f"topics {', '.join(names)} have no leader after {timeout_s} s")
