"""The Faust application of one projection.

Each projection is its own Faust app, hence its own consumer group,
checkpoints and lag: one can fail, lag or be rebuilt while the other keeps
going. At-least-once (never Faust's ``exactly_once``, whose fencing and
duplicates after rebalances are open issues upstream) with idempotent sinks,
reading committed events only (``streams.faust_patches``), no web server, a
short commit interval.
"""

from __future__ import annotations

from pathlib import Path

import faust

from ops.settings import Settings
from streams import faust_patches


def datadir(settings: Settings, role: str) -> Path:
    """Where Faust keeps this worker's local data; two live workers must not share one."""
    return settings.home / "workers" / f"{role}-{settings.worker_id}"


def make_app(role: str, settings: Settings) -> faust.App:
    faust_patches.apply()
    datadir(settings, role).parent.mkdir(parents=True, exist_ok=True)
    return faust.App(
        f"{settings.topic_prefix}-{role}",
        broker=f"kafka://{settings.kafka_bootstrap_servers}",
        datadir=str(datadir(settings, role)),
        processing_guarantee="at_least_once",
        web_enabled=False,
        autodiscover=False,
        key_serializer="raw",
        value_serializer="raw",
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        topic_allow_declare=True,
        table_standby_replicas=0,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=1.0,
        broker_commit_every=10_000,
        stream_buffer_maxsize=20_000,
        producer_acks=-1,
        producer_linger=0.005,
        producer_max_batch_size=256 * 1024,
    )
