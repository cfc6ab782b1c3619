"""The secured stack's client settings: generated once, TLS verified, modes never mixed."""

from __future__ import annotations

from pathlib import Path

import pytest
from psycopg.conninfo import conninfo_to_dict
from pydantic import SecretStr

from ops.stack import secured
from ops.stack.errors import StackError
from schemas.config.connections import postgres_conninfo
from schemas.config.settings import Settings


def base(home: Path, secure: bool = True) -> Settings:
    return Settings(
        home=home,
        stack_secure=secure,
        kafka_bootstrap_servers="127.0.0.1:39092",
        elasticsearch_url="http://127.0.0.1:39200",
        postgres_dsn=SecretStr("postgresql://eventcart:eventcart@127.0.0.1:35432/eventcart"),
    )


def test_secured_settings_verify_every_server_and_keep_the_ports(tmp_path: Path) -> None:
    made = secured.stack_settings(base(tmp_path))
    ca = tmp_path / "tls" / "ca.crt"
    assert ca.exists()
    assert (made.kafka_security_protocol, made.kafka_sasl_mechanism) == (
        "SASL_SSL",
        "SCRAM-SHA-512",
    )
    assert made.kafka_ssl_ca_location == ca
    assert made.kafka_bootstrap_servers == "127.0.0.1:39092"
    assert made.elasticsearch_url == "https://127.0.0.1:39200"
    assert made.elasticsearch_ca_certs == ca
    dsn = conninfo_to_dict(postgres_conninfo(made))
    assert (dsn["sslmode"], dsn["sslrootcert"], dsn["port"]) == ("verify-full", str(ca), "35432")
    assert dsn["password"] != "eventcart"
    # Generated once: a second start gives the same passwords.
    again = secured.stack_settings(base(tmp_path))
    assert again.kafka_sasl_password == made.kafka_sasl_password
    assert again.postgres_dsn == made.postgres_dsn
    env = secured.write_env_file(made).read_text()
    assert "export EVENTCART_KAFKA_SECURITY_PROTOCOL=SASL_SSL" in env
    assert (tmp_path / "secure.env").stat().st_mode & 0o077 == 0


def test_plain_start_on_a_secured_home_is_refused(tmp_path: Path) -> None:
    secured.stack_settings(base(tmp_path))
    with pytest.raises(StackError, match="holds a secured stack"):
        secured.stack_settings(base(tmp_path, secure=False))


def test_secured_start_on_a_plain_home_is_refused(tmp_path: Path) -> None:
    (tmp_path / "postgres" / "data").mkdir(parents=True)
    (tmp_path / "postgres" / "data" / "PG_VERSION").write_text("15\n")
    with pytest.raises(StackError, match="started without --secure"):
        secured.stack_settings(base(tmp_path))
