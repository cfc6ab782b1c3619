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
import os
import secrets
import shlex
from pathlib import Path
from urllib.parse import quote, urlencode, urlsplit

from pydantic import SecretStr

from ops.stack import principals, tls
from ops.stack.errors import StackError
from schemas.config.settings import Settings

#: The user the secured stack creates in Kafka and Elasticsearch.
USER = "eventcart"
#: SASL mechanism of the secured Kafka (KRaft stores SCRAM credentials in its metadata).
MECHANISM = "SCRAM-SHA-512"

_SECRETS = (
    *("kafka", "elasticsearch", "postgres", "postgres_reader", "postgres_admin"),
    # one login per role (``ops.stack.principals``)
    *(f"kafka_{name}" for name in principals.PRINCIPALS),
    *(f"elasticsearch_{name}" for name in principals.ELASTICSEARCH_ROLE),
    "postgres_pricing",
)


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
    made = passwords(settings)
    certs = tls.ensure(settings.home / "tls")
    dsn = urlsplit(settings.postgres_dsn.get_secret_value())
    query = urlencode({"sslmode": "verify-full", "sslrootcert": str(certs.ca)})
    user = quote(settings.postgres_user)
    netloc = f"{user}:{quote(made['postgres'])}@127.0.0.1:{settings.postgres_port}"
    return settings.model_copy(
        update={
            "kafka_security_protocol": "SASL_SSL",
            "kafka_sasl_mechanism": MECHANISM,
            "kafka_sasl_username": USER,
            "kafka_sasl_password": SecretStr(made["kafka"]),
            "kafka_ssl_ca_location": certs.ca,
            "elasticsearch_url": f"https://127.0.0.1:{settings.elasticsearch_port}",
            "elasticsearch_username": USER,
            "elasticsearch_password": SecretStr(made["elasticsearch"]),
            "elasticsearch_api_key": None,
            "elasticsearch_ca_certs": certs.ca,
            "postgres_dsn": SecretStr(f"postgresql://{netloc}{dsn.path}?{query}"),
            "postgres_reader_password": SecretStr(made["postgres_reader"]),
            "postgres_pricing_password": SecretStr(made["postgres_pricing"]),
            "postgres_admin_password": SecretStr(made["postgres_admin"]),
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


#: The variables that carry a credential: a role's environment has only its own.
CREDENTIALS = (
    "EVENTCART_KAFKA_SASL_USERNAME",
    "EVENTCART_KAFKA_SASL_PASSWORD",
    "EVENTCART_ELASTICSEARCH_USERNAME",
    "EVENTCART_ELASTICSEARCH_PASSWORD",
    "EVENTCART_ELASTICSEARCH_API_KEY",
    "EVENTCART_POSTGRES_DSN",
    "EVENTCART_POSTGRES_READER_PASSWORD",
    "EVENTCART_POSTGRES_PRICING_PASSWORD",
    "EVENTCART_POSTGRES_ADMIN_PASSWORD",
)


def role_environment(secured: Settings, principal: str, made: dict[str, str]) -> dict[str, str]:
    """The ``EVENTCART_*`` variables of one principal (``ops.stack.principals``) on the
    secured stack (``secured``: from :func:`stack_settings`; ``made``: the stack's
    :func:`passwords`): the connection settings, and the credentials of that principal
    alone. A store the principal does not reach gets none: a PostgreSQL DSN without
    a password, no Elasticsearch user, so any attempt is refused at login.

    Merge it over an environment stripped of :data:`CREDENTIALS`
    (:func:`process_environment`), so an operator's sourced ``secure.env`` does not
    leak into the role's process.
    """
    who = principals.PRINCIPALS[principal]
    env = {k: v for k, v in client_environment(secured).items() if k not in CREDENTIALS}
    env["EVENTCART_KAFKA_SASL_USERNAME"] = principals.kafka_user(USER, principal)
    env["EVENTCART_KAFKA_SASL_PASSWORD"] = made[f"kafka_{principal}"]
    if who.elasticsearch:
        env["EVENTCART_ELASTICSEARCH_USERNAME"] = principals.elasticsearch_user(USER, principal)
        env["EVENTCART_ELASTICSEARCH_PASSWORD"] = made[f"elasticsearch_{principal}"]
    dsn = urlsplit(secured.postgres_dsn.get_secret_value())
    user, password = secured.postgres_user, ""
    if who.postgres == "writer":
        user = principals.postgres_role(user, who)
        password = made["postgres_pricing"]
    elif who.postgres == "reader":
        env["EVENTCART_POSTGRES_READER_PASSWORD"] = made["postgres_reader"]
    login = f"{quote(user)}:{quote(password)}" if password else quote(user)
    env["EVENTCART_POSTGRES_DSN"] = dsn._replace(
        netloc=f"{login}@{dsn.hostname}:{dsn.port}"
    ).geturl()
    return env


def process_environment(settings: Settings, principal: str) -> dict[str, str]:
    """This process's environment with its credentials replaced by ``principal``'s."""
    base = {k: v for k, v in os.environ.items() if k not in CREDENTIALS}
    return base | role_environment(stack_settings(settings), principal, passwords(settings))


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


def passwords(settings: Settings) -> dict[str, str]:
    """Every password of the secured stack in this home, made on first use; a home
    made before a principal existed gets that principal's password added."""
    path = credentials_file(settings)
    stored: dict[str, str] = json.loads(path.read_text()) if path.exists() else {}
    missing = [name for name in _SECRETS if name not in stored]
    if missing:
        stored |= {name: secrets.token_urlsafe(18) for name in missing}
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(json.dumps(stored, indent=2) + "\n")
    return stored


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


def write_principal_env_files(settings: Settings) -> Path:
    """``principals/<name>.env`` (mode 600) per principal: what a process of that role
    started by hand needs (``. principals/search.env; eventcart worker --only search``),
    as `eventcart up` hands it to the processes it starts. Returns the folder."""
    folder = settings.home / "principals"
    folder.mkdir(mode=0o700, exist_ok=True)
    secured, made = stack_settings(settings), passwords(settings)
    for name in principals.PRINCIPALS:
        path = folder / f"{name}.env"
        path.touch(mode=0o600)
        lines = [
            f"export {k}={shlex.quote(v)}" for k, v in role_environment(secured, name, made).items()
        ]
        path.write_text(
            f"# The secured stack's principal {name!r}: its credentials alone "
            "(ops/stack/principals.py says what it may do).\n" + "\n".join(lines) + "\n"
        )
    return folder
