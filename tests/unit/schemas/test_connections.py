"""The connection options every client is built from: credentials and TLS reach each one."""

from __future__ import annotations

from pathlib import Path

import faust
import pytest
from psycopg.conninfo import conninfo_to_dict
from pydantic import SecretStr, ValidationError

from read_models.query_stores import reader_dsn
from schemas.config.connections import (
    elasticsearch_options,
    kafka_config,
    kafka_ssl_context,
    postgres_conninfo,
)
from schemas.config.settings import Settings
from streams.app import broker_credentials

TLS_DSN = (
    "postgresql://eventcart:pw@127.0.0.1:5432/eventcart"
    "?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.crt"
)


def plain(**update: object) -> Settings:
    """Settings in clear text whatever the environment says (init arguments win)."""
    fields: dict[str, object] = {
        "kafka_bootstrap_servers": "127.0.0.1:9092",
        "kafka_security_protocol": "PLAINTEXT",
        "kafka_sasl_username": None,
        "kafka_sasl_password": None,
        "kafka_ssl_ca_location": None,
        "elasticsearch_url": "http://127.0.0.1:9200",
        "elasticsearch_username": None,
        "elasticsearch_password": None,
        "elasticsearch_api_key": None,
        "elasticsearch_ca_certs": None,
    }
    return Settings(**(fields | update))  # type: ignore[arg-type]


def secured(**update: object) -> Settings:
    fields: dict[str, object] = {
        "kafka_security_protocol": "SASL_SSL",
        "kafka_sasl_username": "svc",
        "kafka_sasl_password": SecretStr("s3cret"),
        "kafka_ssl_ca_location": Path("/etc/ca.crt"),
    }
    return plain(**(fields | update))


def test_plain_kafka_is_the_bootstrap_the_protocol_and_a_short_reconnect_backoff() -> None:
    assert kafka_config(plain()) == {
        "bootstrap.servers": "127.0.0.1:9092",
        "security.protocol": "plaintext",
        "reconnect.backoff.max.ms": 1000,
    }


def test_sasl_ssl_kafka_carries_librdkafkas_own_names() -> None:
    config = kafka_config(secured())
    assert config["security.protocol"] == "sasl_ssl"
    assert config["sasl.mechanism"] == "SCRAM-SHA-512"
    assert (config["sasl.username"], config["sasl.password"]) == ("svc", "s3cret")
    assert config["ssl.ca.location"] == "/etc/ca.crt"


def test_sasl_without_tls_sends_no_ca() -> None:
    config = kafka_config(secured(kafka_security_protocol="SASL_PLAINTEXT"))
    assert "ssl.ca.location" not in config
    assert config["sasl.username"] == "svc"


def test_overrides_win_and_keep_the_credentials() -> None:
    config = kafka_config(secured(), **{"bootstrap.servers": "127.0.0.1:1", "log_level": 0})
    assert config["bootstrap.servers"] == "127.0.0.1:1"
    assert config["sasl.password"] == "s3cret"


def test_python_kafka_clients_get_a_tls_context_only_over_tls() -> None:
    assert kafka_ssl_context(plain()) is None
    assert kafka_ssl_context(secured(kafka_ssl_ca_location=None)) is not None


def test_faust_gets_the_same_sasl_credentials(tmp_path: Path) -> None:
    credentials = broker_credentials(secured(kafka_ssl_ca_location=None, home=tmp_path))
    assert isinstance(credentials, faust.SASLCredentials)
    assert (credentials.username, credentials.password) == ("svc", "s3cret")
    assert credentials.mechanism.value == "SCRAM-SHA-512"
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.ssl_context is not None
    assert broker_credentials(plain()) is None
    assert isinstance(
        broker_credentials(plain(kafka_security_protocol="SSL")), faust.SSLCredentials
    )


def test_elasticsearch_basic_auth_api_key_and_ca() -> None:
    assert elasticsearch_options(plain()) == {"hosts": ["http://127.0.0.1:9200"]}
    basic = elasticsearch_options(
        plain(
            elasticsearch_url="https://127.0.0.1:9200",
            elasticsearch_username="svc",
            elasticsearch_password=SecretStr("pw"),
            elasticsearch_ca_certs=Path("/etc/ca.crt"),
        )
    )
    assert basic["basic_auth"] == ("svc", "pw")
    assert basic["ca_certs"] == "/etc/ca.crt"
    keyed = elasticsearch_options(plain(elasticsearch_api_key=SecretStr("a2V5")))
    assert keyed["api_key"] == "a2V5"
    assert "basic_auth" not in keyed


def test_elasticsearch_api_key_and_user_together_are_refused() -> None:
    with pytest.raises(ValidationError, match="not both"):
        plain(elasticsearch_api_key=SecretStr("k"), elasticsearch_username="svc")


def test_postgres_tls_parameters_survive_every_derived_connection() -> None:
    settings = plain(postgres_dsn=SecretStr(TLS_DSN))
    admin = conninfo_to_dict(postgres_conninfo(settings, user="postgres", dbname="postgres"))
    assert (admin["user"], admin["dbname"]) == ("postgres", "postgres")
    assert (admin["sslmode"], admin["sslrootcert"]) == ("verify-full", "/etc/ca.crt")
    reader = conninfo_to_dict(reader_dsn(settings))
    assert reader["user"] == "eventcart_reader"
    assert reader["password"] == settings.postgres_reader_password.get_secret_value()
    assert (reader["sslmode"], reader["sslrootcert"]) == ("verify-full", "/etc/ca.crt")
    assert (reader["host"], reader["port"], reader["dbname"]) == ("127.0.0.1", "5432", "eventcart")
    assert settings.postgres_port == 5432


def test_an_elasticsearch_cluster_is_given_to_clients_node_by_node() -> None:
    three = plain(elasticsearch_nodes=3, elasticsearch_url="http://127.0.0.1:19200")
    assert elasticsearch_options(three)["hosts"] == [
        "http://127.0.0.1:19200",
        "http://127.0.0.1:19201",
        "http://127.0.0.1:19202",
    ]
    assert [three.elasticsearch_transport_port_of(n) for n in (1, 2, 3)] == [9300, 9301, 9302]
    # several URLs given (a managed cluster's nodes) are kept as they are
    given = plain(elasticsearch_url="https://a.example:9243, https://b.example:9243")
    assert elasticsearch_options(given)["hosts"] == [
        "https://a.example:9243",
        "https://b.example:9243",
    ]
    assert given.elasticsearch_port == 9243


def test_a_client_of_several_nodes_tries_the_next_one_on_a_lost_connection() -> None:
    from read_models.search.client import connect

    three = plain(elasticsearch_nodes=3)
    client = connect(three, request_timeout=5, max_retries=0)
    # the client's own per-request options (the transport keeps its defaults)
    assert client._max_retries == 2
    assert tuple(client._retry_on_status) == ()
    assert client._retry_on_timeout is False
    assert connect(plain(), max_retries=0)._max_retries == 0
