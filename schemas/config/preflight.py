"""Refuse to start with credentials or TLS settings a store rejects, naming the setting.

Every eventcart process waits for a store that is down: the processor and the
projections retry until Kafka, Elasticsearch or PostgreSQL come back, which is
right for an outage and wrong for a bad password, since that never comes
back. librdkafka in particular retries an authentication failure forever,
reporting it only to an error callback, so a worker with a wrong SCRAM
password would sit silent. Before a process starts work, :func:`check` asks
each store it needs once, with the very options its clients use
(``schemas.config.connections``), and turns a refusal (SASL authentication, a
certificate that does not verify, an Elasticsearch 401/403, PostgreSQL's
password or pg_hba refusal) into :class:`CredentialsRejectedError`, whose message
names the ``EVENTCART_*`` settings to fix. A store that does not answer at all
is left to the usual waiting.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import psycopg
from confluent_kafka import KafkaError, Producer
from elastic_transport import TlsError
from elasticsearch import (
    AuthenticationException,
    AuthorizationException,
    Elasticsearch,
    TransportError,
)

from schemas.config.connections import elasticsearch_options, kafka_config, postgres_conninfo
from schemas.config.settings import Settings

__all__ = [
    "CredentialsRejectedError",
    "check",
    "check_elasticsearch",
    "check_kafka",
    "check_postgres",
]

_KAFKA_SASL = "EVENTCART_KAFKA_SASL_USERNAME, EVENTCART_KAFKA_SASL_PASSWORD and EVENTCART_KAFKA_SASL_MECHANISM"
_KAFKA_TLS = "EVENTCART_KAFKA_SSL_CA_LOCATION (and EVENTCART_KAFKA_SECURITY_PROTOCOL)"
_KAFKA_PROTOCOL = "EVENTCART_KAFKA_SECURITY_PROTOCOL"
#: How long a broker that accepts TCP connections but answers no request (a
#: clear-text client on a TLS listener, or the reverse) is given before that is
#: called a protocol mismatch rather than a broker starting.
_MISMATCH_AFTER_S = 5.0


class CredentialsRejectedError(RuntimeError):
    """A store refused the connection settings; retrying cannot help, a setting must change."""

    def __init__(self, store: str, detail: str, fix: str) -> None:
        super().__init__(f"{store} refused the connection: {detail}; check {fix}")
        self.store, self.detail, self.fix = store, detail, fix


def check(
    settings: Settings,
    *,
    kafka: bool = False,
    elasticsearch: bool = False,
    postgres: bool = False,
    postgres_reader: bool = False,
) -> None:
    """Check each named store accepts the settings' credentials; raise
    :class:`CredentialsRejectedError` for the first that does not."""
    if kafka:
        check_kafka(settings)
    if elasticsearch:
        check_elasticsearch(settings)
    if postgres:
        check_postgres(settings)
    if postgres_reader:
        check_postgres(settings, reader=True)


def check_kafka(settings: Settings, timeout_s: float = 15.0) -> None:
    """Ask for the cluster's metadata until it answers, the brokers refuse us, or it is
    plain that none is listening (or ``timeout_s`` passed): an unreachable cluster is
    left to the clients' own waiting."""
    errors: list[KafkaError] = []
    # Quiet: the error callback gets what matters, the message names the setting.
    client = Producer(kafka_config(settings, error_cb=errors.append, log_level=0))
    began = time.monotonic()
    while time.monotonic() - began < timeout_s:
        try:
            client.list_topics(timeout=1)
            return
        except Exception:  # noqa: S110 (the error callback below says why)
            pass
        client.poll(0.1)  # serves the error callback
        for error in errors:
            if error.code() == KafkaError._AUTHENTICATION:
                raise CredentialsRejectedError("Kafka", error.str(), _KAFKA_SASL)
            if error.code() == KafkaError._SSL:
                raise CredentialsRejectedError("Kafka", error.str(), _KAFKA_TLS)
        if any(error.code() == KafkaError._ALL_BROKERS_DOWN for error in errors):
            if not _accepts_tcp(settings.kafka_bootstrap_servers):
                return  # nobody listening: an outage, not a setting
            if time.monotonic() - began > _MISMATCH_AFTER_S:
                raise CredentialsRejectedError(
                    "Kafka",
                    f"{settings.kafka_bootstrap_servers} accepts connections but no Kafka "
                    f"request (security.protocol {settings.kafka_security_protocol}: a "
                    "clear-text client on a TLS listener, or the reverse)",
                    _KAFKA_PROTOCOL,
                )


def _accepts_tcp(bootstrap: str) -> bool:
    """Whether the first bootstrap address accepts a TCP connection."""
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    try:
        with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=2):
            return True
    except (OSError, ValueError):
        return False


def check_elasticsearch(settings: Settings) -> None:
    """One authenticated request; a 401/403 or a certificate refused is fatal."""
    fix = (
        "EVENTCART_ELASTICSEARCH_API_KEY"
        if settings.elasticsearch_api_key is not None
        else "EVENTCART_ELASTICSEARCH_USERNAME and EVENTCART_ELASTICSEARCH_PASSWORD"
    )
    try:
        client = Elasticsearch(**elasticsearch_options(settings), request_timeout=10, max_retries=0)
    except ValueError as exc:  # e.g. a CA given with an http:// URL
        raise CredentialsRejectedError(
            "Elasticsearch", str(exc), "EVENTCART_ELASTICSEARCH_URL and _CA_CERTS"
        ) from None
    try:
        client.cluster.health()
    except AuthenticationException as exc:
        raise CredentialsRejectedError("Elasticsearch", _es_reason(exc), fix) from None
    except AuthorizationException as exc:
        raise CredentialsRejectedError(
            "Elasticsearch", f"authenticated but not allowed: {_es_reason(exc)}", fix
        ) from None
    except TlsError as exc:
        raise CredentialsRejectedError(
            "Elasticsearch",
            f"TLS: {exc.message}",
            "EVENTCART_ELASTICSEARCH_CA_CERTS and EVENTCART_ELASTICSEARCH_URL",
        ) from None
    except TransportError:
        pass  # not answering: the clients wait for it as for any outage
    finally:
        client.close()


def _es_reason(exc: Any) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error")
    reason = error.get("reason") if isinstance(error, dict) else None
    return f"HTTP {exc.meta.status}: {reason or exc.message}"


#: PostgreSQL's words for a refusal no retry can cure.
_PG_CREDENTIALS = ("password authentication failed", "pg_hba.conf", "role", "does not exist")
_PG_TLS = ("SSL", "certificate", "sslmode", "sslrootcert")


def check_postgres(settings: Settings, *, reader: bool = False) -> None:
    """One connection as the application (or the read-only role); a refused password,
    pg_hba entry or certificate is fatal."""
    overrides: dict[str, Any] = {"connect_timeout": 10}
    where_set = "the password in EVENTCART_POSTGRES_DSN"
    if reader:
        overrides.update(
            user=f"{settings.postgres_user}_reader",
            password=settings.postgres_reader_password.get_secret_value(),
        )
        where_set = "EVENTCART_POSTGRES_READER_PASSWORD"
    try:
        psycopg.connect(postgres_conninfo(settings, **overrides)).close()
    except psycopg.OperationalError as exc:
        text = str(exc)
        if "Connection refused" in text or "timeout expired" in text:
            return  # not answering: the clients wait for it as for any outage
        if any(word in text for word in _PG_TLS):
            raise CredentialsRejectedError(
                "PostgreSQL",
                text.strip(),
                "sslmode and sslrootcert in EVENTCART_POSTGRES_DSN",
            ) from None
        if any(word in text for word in _PG_CREDENTIALS):
            raise CredentialsRejectedError(
                "PostgreSQL",
                text.strip(),
                f"the user of EVENTCART_POSTGRES_DSN and {where_set} (and its sslmode: "
                "a server that takes TLS only rejects the others in pg_hba.conf)",
            ) from None
