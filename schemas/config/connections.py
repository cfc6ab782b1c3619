"""How every client reaches Kafka, Elasticsearch and PostgreSQL: one function per ecosystem.

Every producer, consumer, admin client, Elasticsearch client and PostgreSQL
connection of eventcart is built from these, so credentials and TLS set once
in the settings reach them all: a client that built its own options would be
the one that connects in clear text, or not at all, on a secured cluster.
Each function speaks its library's own names (librdkafka's ``sasl.username``,
elasticsearch-py's ``basic_auth``, libpq's ``sslmode``), so its documentation
applies as is.
"""

from __future__ import annotations

import ssl
from typing import Any

from psycopg.conninfo import make_conninfo

from schemas.config.settings import Settings

__all__ = [
    "elasticsearch_options",
    "kafka_config",
    "kafka_ssl_context",
    "postgres_conninfo",
]


def kafka_config(settings: Settings, **overrides: Any) -> dict[str, Any]:
    """librdkafka's connection properties (bootstrap, protocol, SASL, CA) for any
    confluent-kafka Producer, Consumer or AdminClient; ``overrides`` win (e.g.
    ``**{"bootstrap.servers": one_broker}``)."""
    config: dict[str, Any] = {
        "bootstrap.servers": settings.kafka_bootstrap_servers,
        "security.protocol": settings.kafka_security_protocol.lower(),
        # A broker that went away is tried again at most every second (librdkafka's
        # default backs off to 10 s): a restarted broker is used within a second of
        # its return, not after up to ten (BENCHMARKS.md, "Broker back").
        "reconnect.backoff.max.ms": 1000,
    }
    if settings.kafka_security_protocol.startswith("SASL_"):
        config["sasl.mechanism"] = settings.kafka_sasl_mechanism
        config["sasl.username"] = settings.kafka_sasl_username or ""
        password = settings.kafka_sasl_password
        config["sasl.password"] = password.get_secret_value() if password else ""
    if settings.kafka_security_protocol.endswith("SSL") and settings.kafka_ssl_ca_location:
        config["ssl.ca.location"] = str(settings.kafka_ssl_ca_location)
    return config | overrides


def kafka_ssl_context(settings: Settings) -> ssl.SSLContext | None:
    """The TLS context of a Python-native Kafka client (aiokafka, under Faust), or
    None in clear text: the same CA as librdkafka's ``ssl.ca.location``."""
    if not settings.kafka_security_protocol.endswith("SSL"):
        return None
    ca = settings.kafka_ssl_ca_location
    return ssl.create_default_context(cafile=str(ca) if ca else None)


def elasticsearch_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments of ``elasticsearch.Elasticsearch``: the URL, then basic auth
    or an API key, and the CA of an https URL."""
    options: dict[str, Any] = {"hosts": settings.elasticsearch_hosts}
    if settings.elasticsearch_api_key is not None:
        options["api_key"] = settings.elasticsearch_api_key.get_secret_value()
    elif settings.elasticsearch_username is not None:
        password = settings.elasticsearch_password
        options["basic_auth"] = (
            settings.elasticsearch_username,
            password.get_secret_value() if password else "",
        )
    if settings.elasticsearch_ca_certs is not None:
        options["ca_certs"] = str(settings.elasticsearch_ca_certs)
    return options


def postgres_conninfo(settings: Settings, **overrides: Any) -> str:
    """The libpq connection string of ``EVENTCART_POSTGRES_DSN``, with ``overrides``
    (another user, database, timeout, ...) and every parameter of the DSN kept:
    ``sslmode``, ``sslrootcert`` and the rest travel with each connection made
    from it, the reader's and the administrator's included."""
    return make_conninfo(settings.postgres_dsn.get_secret_value(), **overrides)
