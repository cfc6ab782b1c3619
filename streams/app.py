"""The Faust application of one projection.

Each projection is its own Faust app: faust-streaming runs the worker process
(start, graceful stop on SIGTERM, logging, the services of the app). The
events do not come through Faust's consumer: the projection's batch consumer
(``streams.projection_worker``) reads them, so the app boots without Kafka
clients of its own (which would also join the projection's consumer group
with another protocol). It is still given the broker's credentials
(``broker_credentials``): were Faust's Kafka clients (aiokafka) ever enabled,
they would authenticate as every other client does, never in clear text.
"""

from __future__ import annotations

from pathlib import Path

import faust
from faust.app.base import BootStrategy

from schemas.config.connections import kafka_ssl_context
from schemas.config.settings import Settings


class _ServicesOnly(BootStrategy):
    """Start the app's services (the projection), sensors and nothing of Kafka."""

    enable_kafka = False
    enable_web = False


class ProjectionApp(faust.App):
    BootStrategy = _ServicesOnly


def datadir(settings: Settings, role: str) -> Path:
    """Where Faust keeps this worker's local data; two live workers must not share one."""
    return settings.home / "workers" / f"{role}-{settings.worker_id}"


def broker_credentials(settings: Settings) -> faust.types.auth.CredentialsT | None:
    """Faust's (aiokafka's) form of the settings' Kafka security: SASL credentials
    (with the TLS context under SASL_SSL), a TLS context alone, or None in clear text."""
    protocol, context = settings.kafka_security_protocol, kafka_ssl_context(settings)
    if protocol.startswith("SASL_"):
        password = settings.kafka_sasl_password
        return faust.SASLCredentials(
            username=settings.kafka_sasl_username,
            password=password.get_secret_value() if password else None,
            mechanism=settings.kafka_sasl_mechanism,
            ssl_context=context,
        )
    if context is not None:
        return faust.SSLCredentials(context)
    return None


def make_app(role: str, settings: Settings) -> faust.App:
    datadir(settings, role).parent.mkdir(parents=True, exist_ok=True)
    return ProjectionApp(
        f"{settings.topic_prefix}-{role}",
        broker=f"kafka://{settings.kafka_bootstrap_servers}",
        broker_credentials=broker_credentials(settings),
        datadir=str(datadir(settings, role)),
        web_enabled=False,
        autodiscover=False,
    )
