"""Connection settings the real stores refuse: one line naming the setting, exit 5, no hang.

The fast half of the secured-connections tests, against the plain stack every
test uses: settings that ask for what it does not offer (TLS from a clear-text
Kafka listener, Elasticsearch or PostgreSQL) or a wrong PostgreSQL password
stop each kind of process at start. The secured stack itself, with SASL/SCRAM,
Elasticsearch security and wrong passwords for each store, is
``test_secured_stack.py`` (long: it starts a stack of its own).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from pydantic import SecretStr

from schemas.config import preflight
from schemas.config.settings import Settings
from tests.fixtures.workers import cli

#: Generous for two shared cores; a retried refusal would take forever.
REFUSED_WITHIN_S = 120


def _pg(settings: Settings, **params: str) -> dict[str, Any]:
    dsn = settings.postgres_dsn.get_secret_value()
    if "password" in params:
        dsn = dsn.replace(f":{settings.postgres_password}@", f":{params.pop('password')}@")
    query = "&".join(f"{k}={v}" for k, v in params.items())
    return {
        "postgres_dsn": SecretStr(f"{dsn}{'&' if '?' in dsn else '?'}{query}" if query else dsn)
    }


#: (what is wrong, the eventcart command, the settings it gets, the setting it must name)
WRONG: list[tuple[str, list[str], Callable[[Settings], dict[str, Any]], str]] = [
    (
        "kafka TLS asked of a clear-text listener, processor",
        ["worker", "--only", "processor"],
        lambda s: {"kafka_security_protocol": "SSL"},
        "EVENTCART_KAFKA_SECURITY_PROTOCOL",
    ),
    (
        "elasticsearch https asked of an http node, search CLI",
        ["search", "shoe"],
        lambda s: {"elasticsearch_url": s.elasticsearch_url.replace("http://", "https://")},
        "EVENTCART_ELASTICSEARCH_CA_CERTS",
    ),
    (
        "postgres TLS asked of a server without it, pricing projection",
        ["worker", "--only", "pricing"],
        lambda s: _pg(s, sslmode="require"),
        "sslmode and sslrootcert in EVENTCART_POSTGRES_DSN",
    ),
    (
        "postgres password, verify",
        ["verify"],
        lambda s: _pg(s, password="wrong"),
        "EVENTCART_POSTGRES_DSN",
    ),
    (
        "default token on every address, query API",
        ["api", "queries"],
        lambda s: {"api_host": "0.0.0.0", "api_token": SecretStr("change-me-local-token")},
        "EVENTCART_API_TOKEN",
    ),
]


@pytest.mark.parametrize(
    ("args", "wrong", "setting"), [w[1:] for w in WRONG], ids=[w[0] for w in WRONG]
)
def test_a_refused_setting_stops_the_process_at_start_by_name(
    module_settings: Settings,
    args: list[str],
    wrong: Callable[[Settings], dict[str, Any]],
    setting: str,
) -> None:
    done = cli(
        module_settings.model_copy(update=wrong(module_settings)), *args, timeout_s=REFUSED_WITHIN_S
    )
    assert done.returncode == 5, done.stdout + done.stderr
    assert setting in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr


def test_an_unreachable_store_is_an_outage_not_a_refusal(settings: Settings) -> None:
    """Nobody listening is waited for by the clients as before: no error at start."""
    away = settings.model_copy(
        update={
            "kafka_bootstrap_servers": "127.0.0.1:1",
            "elasticsearch_url": "http://127.0.0.1:1",
            **_pg(settings, port="1", connect_timeout="2"),
        }
    )
    preflight.check(away, kafka=True, elasticsearch=True, postgres=True)
