"""The secured local stack: its credentials, certificates and the client settings they give.

`eventcart stack up --secure` (or ``EVENTCART_STACK_SECURE=1``) runs the three
services as production clusters run: Kafka authenticates clients with
SASL/SCRAM-SHA-512 over TLS, Elasticsearch has its security module on (users,
TLS on HTTP), PostgreSQL accepts TLS connections with scram passwords only.
The passwords are generated once per stack home and kept in
``credentials.json`` there (mode 600); the client settings (every
``EVENTCART_*`` variable a client needs) are written to ``secure.env`` beside
it, for a shell to source. The stack's own health checks use the same
settings through ``schemas.config.connections``, so the stack is healthy only when a
client with those settings gets in.

A home is secured or not from its first start: Kafka's SCRAM users are
written when its storage is formatted and PostgreSQL's superuser password at
initdb, so switching a home between the two modes is refused with a message.
"""

from __future__ import annotations

import json
import secrets
import shlex
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

from pydantic import SecretStr

from ops.stack import tls
from ops.stack.errors import StackError
from schemas.config.settings import Settings

#: The user the secured stack creates in Kafka and Elasticsearch.
USER = "eventcart"
#: SASL mechanism of the secured Kafka (KRaft stores SCRAM credentials in its metadata).
MECHANISM = "SCRAM-SHA-512"

_SECRETS = ("kafka", "elasticsearch", "postgres", "postgres_reader", "postgres_admin")


def credentials_file(settings: Settings) -> Path:
    return settings.home / "credentials.json"


def env_file(settings: Settings) -> Path:
    """The client settings of the secured stack, as ``export EVENTCART_...`` lines."""
    return settings.home / "secure.env"


def certificates(settings: Settings) -> tls.Certificates:
    return tls.Certificates(settings.home / "tls")


def stack_settings(settings: Settings) -> Settings:
    """The settings the stack runs with: unchanged in the default mode; in the secured
    mode, the same ports with the generated credentials and the CA (made on first use).

    Refuses a home first started in the other mode.
    """
    started = _started_before(settings)
    secured_home = credentials_file(settings).exists()
    if not settings.stack_secure:
        if secured_home:
            raise StackError(
                "stack",
                f"{settings.home} holds a secured stack: run `eventcart stack up --secure` "
                f"(or source {env_file(settings)}), or use another EVENTCART_HOME",
            )
        return settings
    if started and not secured_home:
        raise StackError(
            "stack",
            f"{settings.home} holds a stack started without --secure (its Kafka users and "
            "PostgreSQL passwords are set at the first start): use another EVENTCART_HOME "
            "for the secured stack, or wipe this one with `eventcart stack reset`",
        )
    passwords = _passwords(settings)
    certs = tls.ensure(settings.home / "tls")
    dsn = urlsplit(settings.postgres_dsn.get_secret_value())
    query = urlencode({"sslmode": "verify-full", "sslrootcert": str(certs.ca)})
    user = quote(settings.postgres_user)
    netloc = f"{user}:{quote(passwords['postgres'])}@127.0.0.1:{settings.postgres_port}"
    return settings.model_copy(
        update={
            "kafka_security_protocol": "SASL_SSL",
            "kafka_sasl_mechanism": MECHANISM,
            "kafka_sasl_username": USER,
            "kafka_sasl_password": SecretStr(passwords["kafka"]),
            "kafka_ssl_ca_location": certs.ca,
            "elasticsearch_url": f"https://127.0.0.1:{settings.elasticsearch_port}",
            "elasticsearch_username": USER,
            "elasticsearch_password": SecretStr(passwords["elasticsearch"]),
            "elasticsearch_api_key": None,
            "elasticsearch_ca_certs": certs.ca,
            "postgres_dsn": SecretStr(f"postgresql://{netloc}{dsn.path}?{query}"),
            "postgres_reader_password": SecretStr(passwords["postgres_reader"]),
            "postgres_admin_password": SecretStr(passwords["postgres_admin"]),
        }
    )


def client_environment(settings: Settings) -> dict[str, str]:
    """The ``EVENTCART_*`` variables a client of the secured stack needs (from
    :func:`stack_settings`), by name."""
    names = [
        "stack_secure",
        "home",
        "kafka_bootstrap_servers",
        "kafka_controller_port",  # for `stack up` from a shell that only sourced the file
        "kafka_security_protocol",
        "kafka_sasl_mechanism",
        "kafka_sasl_username",
        "kafka_sasl_password",
        "kafka_ssl_ca_location",
        "elasticsearch_url",
        "elasticsearch_username",
        "elasticsearch_password",
        "elasticsearch_ca_certs",
        "postgres_dsn",
        "postgres_reader_password",
        "postgres_admin_password",
    ]
    env = {}
    for name in names:
        value = getattr(settings, name)
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, bool):
            value = int(value)
        env[f"EVENTCART_{name.upper()}"] = str(value)
    return env


def write_env_file(settings: Settings) -> Path:
    """``secure.env`` (mode 600) from the secured settings: ``. secure.env`` in a shell
    gives every eventcart command of that shell the secured stack."""
    path = env_file(settings)
    lines = [f"export {k}={shlex.quote(v)}" for k, v in client_environment(settings).items()]
    path.touch(mode=0o600)
    path.write_text(
        "# The client settings of the secured local stack (`eventcart stack up --secure`).\n"
        + "\n".join(lines)
        + "\n"
    )
    return path


def _passwords(settings: Settings) -> dict[str, str]:
    path = credentials_file(settings)
    if path.exists():
        stored: dict[str, str] = json.loads(path.read_text())
        return stored
    made = {name: secrets.token_urlsafe(18) for name in _SECRETS}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.write_text(json.dumps(made, indent=2) + "\n")
    return made


def _started_before(settings: Settings) -> bool:
    """Whether any service of the stack has data in this home."""
    home = settings.home
    return any(
        marker.exists()
        for marker in (
            home / "kafka" / "data" / "meta.properties",
            home / "kafka-1" / "data" / "meta.properties",
            home / "postgres" / "data" / "PG_VERSION",
        )
    )
