"""The Faust application of one projection.

Each projection is its own Faust app: faust-streaming runs the worker process
(start, graceful stop on SIGTERM, logging, the services of the app). The
events do not come through Faust's consumer: the projection's batch consumer
(``streams.projection_worker``) reads them, so the app boots without Kafka
clients of its own (which would also join the projection's consumer group
with another protocol).
"""

from __future__ import annotations

from pathlib import Path

import faust
from faust.app.base import BootStrategy

from schemas.settings import Settings


class _ServicesOnly(BootStrategy):
    """Start the app's services (the projection), sensors and nothing of Kafka."""

    enable_kafka = False
    enable_web = False


class ProjectionApp(faust.App):
    BootStrategy = _ServicesOnly


def datadir(settings: Settings, role: str) -> Path:
    """Where Faust keeps this worker's local data; two live workers must not share one."""
    return settings.home / "workers" / f"{role}-{settings.worker_id}"


def make_app(role: str, settings: Settings) -> faust.App:
    datadir(settings, role).parent.mkdir(parents=True, exist_ok=True)
    return ProjectionApp(
        f"{settings.topic_prefix}-{role}",
        broker=f"kafka://{settings.kafka_bootstrap_servers}",
        datadir=str(datadir(settings, role)),
        web_enabled=False,
        autodiscover=False,
    )
