"""The whole system on a secured stack, as production clusters run, and wrong credentials.

The tests' secured stack (``tests.fixtures.secured``: Kafka with SASL/SCRAM
over TLS and ACLs, Elasticsearch with security and TLS, PostgreSQL with TLS and
scram passwords) runs in a home and on ports of its own, beside the default
stack. On it (``long``, as Elasticsearch takes minutes to start on a busy
machine): the processor and both projections as real worker processes, each
logged in as its own principal, a steady load of raw commands, the command API
and the query API as theirs, `eventcart verify`; then the same checks as every fault test (every command
answered once, one event per change, both read models equal to the fold of
the log). Then each way a setting can be wrong, for each store: the process
stops at start with exit code 5 and a line naming the setting, never a hang.

In the default run (``-m "not long"``) only the secured Kafka and PostgreSQL
start (Elasticsearch is started by the first test that needs it): clear-text
clients refused, wrong Kafka and PostgreSQL passwords and CA, the default
token, and Faust's credentials.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from fastapi.testclient import TestClient
from faust.transport.drivers.aiokafka import credentials_to_aiokafka_auth
from pydantic import SecretStr

from ops import system
from ops.stack.secured import CREDENTIALS
from producers import commands as c
from producers import http_api
from producers.client import CommandClient
from read_models import query_api
from schemas.config import preflight
from schemas.config.settings import Settings
from schemas.topics import Topics
from streams.app import broker_credentials
from tests.fixtures.load import Answers, SteadyLoad, check_exactly_once
from tests.fixtures.oracle import assert_read_models_equal_oracle
from tests.fixtures.secured import (
    as_principal,
    grant_search,
    role_environment,
)
from tests.fixtures.workers import ALL_ROLES, Worker, cli, settings_env, worker_maker

#: One process stopped by a refused setting: generous for two shared cores, far
#: from the forever a retried authentication failure would take.
REFUSED_WITHIN_S = 120


@pytest.fixture(scope="module")
def module_settings(secured_module: Settings) -> Settings:
    """This module's deployment on the secured stack."""
    return secured_module


@pytest.fixture(scope="module")
def module_search(
    secured_search: Settings, module_settings: Settings, stack_passwords: dict[str, str]
) -> Settings:
    grant_search(module_settings, secured_search, stack_passwords)
    return module_settings


@pytest.fixture(scope="module")
def make_worker(
    module_settings: Settings, stack_passwords: dict[str, str]
) -> Iterator[Callable[[str], Worker]]:
    """Workers as `eventcart up` runs them on the secured stack: each role logged in as
    its own principal, with only its own credentials."""

    def env_of(role: str) -> dict[str, str]:
        env = {k: v for k, v in settings_env(module_settings).items() if k not in CREDENTIALS}
        return env | role_environment(module_settings, role, stack_passwords)

    yield from worker_maker(module_settings, env_of)


def test_the_stack_refuses_clear_text_clients(secured_stack: Settings) -> None:
    clear_text = secured_stack.model_copy(update={"kafka_security_protocol": "PLAINTEXT"})
    with pytest.raises(preflight.CredentialsRejectedError, match="SECURITY_PROTOCOL"):
        preflight.check_kafka(clear_text)
    dsn = secured_stack.postgres_dsn.get_secret_value().replace("verify-full", "disable")
    no_tls = secured_stack.model_copy(update={"postgres_dsn": SecretStr(dsn)})
    with pytest.raises(preflight.CredentialsRejectedError, match="no encryption"):
        preflight.check_postgres(no_tls)


@pytest.mark.long
def test_elasticsearch_refuses_anonymous_clients(secured_search: Settings) -> None:
    anonymous = secured_search.model_copy(
        update={"elasticsearch_username": None, "elasticsearch_password": None}
    )
    with pytest.raises(preflight.CredentialsRejectedError, match="HTTP 401"):
        preflight.check_elasticsearch(anonymous)


@pytest.mark.long
def test_commands_and_queries_end_to_end_on_the_secured_stack(
    module_search: Settings,
    module_settings: Settings,
    stack_passwords: dict[str, str],
    make_worker: Callable[[str], Worker],
    answers: Answers,
) -> None:
    """Every process logged in as its role's principal: the workers, both APIs, and
    the client as the command API's principal; the exactly-once checks after. The
    operator prepares the stores first, as `eventcart up` does: no role may."""
    system.prepare(module_settings, print)
    for role in ALL_ROLES:
        make_worker(role)
    token = "a-token-of-this-test"

    def api(principal: str) -> Settings:
        logged_in = as_principal(module_settings, principal, stack_passwords)
        return logged_in.model_copy(update={"api_token": SecretStr(token)})

    load = SteadyLoad(module_settings, total=1_500, skus=120, rate=150, seed=61).start()
    with (
        TestClient(http_api.create_app(api("commands"))) as commands,
        TestClient(query_api.create_app(api("queries"))) as queries,
        CommandClient(api("commands")) as client,
    ):
        client.send(c.register_product("PROBE", "probe"), timeout_s=120)
        answer = commands.post(
            "/commands/register-product",
            json={"sku": "SECURE-1", "data": {"name": "over TLS"}, "command_id": "s-1"},
            params={"timeout_s": 60},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["status"] == "accepted"
        priced = client.send(c.change_price("SECURE-1", "12.50", "EUR"), timeout_s=60)
        assert priced.accepted
        consistent = {"min_position": priced.position_token, "wait_ms": 10_000}
        price = queries.get("/prices/SECURE-1", params=consistent)
        assert price.status_code == 200, price.text  # PostgreSQL as the reader, over TLS
        # Elasticsearch with its user, over TLS; 503 (retry) while the projection's
        # new indices are still starting on a busy machine, as the API says.
        found = queries.get("/search", params={"q": "over TLS", **consistent})
        for _ in range(60):
            if found.status_code != 503:
                break
            time.sleep(int(found.headers["retry-after"]))
            found = queries.get("/search", params={"q": "over TLS", **consistent})
        assert found.status_code == 200, found.text
        assert "SECURE-1" in found.text
        client.flush(60)
    load.join(timeout_s=load.total / load.rate + 300)
    counts = check_exactly_once(module_settings, load, answers)
    assert_read_models_equal_oracle(module_settings, [*load.skus, "PROBE", "SECURE-1"])
    verified = cli(module_settings, "verify", timeout_s=600)
    assert verified.returncode == 0, verified.stdout + verified.stderr
    print(f"\nsecured stack: {counts}")


def test_faust_credentials_authenticate_aiokafka(module_settings: Settings) -> None:
    """The projections' Faust apps run no Kafka client of their own, but the credentials
    they are given are aiokafka's working ones."""
    auth = credentials_to_aiokafka_auth(broker_credentials(module_settings))

    async def topics() -> set[str]:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=module_settings.kafka_bootstrap_servers, **auth
        )
        await consumer.start()
        try:
            return set(await consumer.topics())
        finally:
            await consumer.stop()

    assert Topics.from_settings(module_settings).events in asyncio.run(topics())


def _wrong_pg_password(s: Settings) -> dict[str, Any]:
    dsn = s.postgres_dsn.get_secret_value().replace(f":{s.postgres_password}@", ":wrong@")
    return {"postgres_dsn": SecretStr(dsn)}


Wrong = tuple[list[str], Callable[[Settings], dict[str, Any]], str]

#: what is wrong -> (the eventcart command, the settings it gets, the setting it must name)
WRONG: dict[str, Wrong] = {
    "kafka password, processor": (
        ["worker", "--only", "processor"],
        lambda s: {"kafka_sasl_password": SecretStr("wrong")},
        "EVENTCART_KAFKA_SASL_PASSWORD",
    ),
    "kafka password, command CLI": (
        ["command", "register-product", "--sku", "X-1", "--name", "x", "--timeout", "5"],
        lambda s: {"kafka_sasl_password": SecretStr("wrong")},
        "EVENTCART_KAFKA_SASL_PASSWORD",
    ),
    "kafka CA, command API": (
        ["api", "commands"],
        lambda s: {"kafka_ssl_ca_location": None},
        "EVENTCART_KAFKA_SSL_CA_LOCATION",
    ),
    "postgres password, pricing projection": (
        ["worker", "--only", "pricing"],
        _wrong_pg_password,
        "EVENTCART_POSTGRES_DSN",
    ),
    "postgres reader password, price CLI": (
        ["price", "X-1"],
        lambda s: {"postgres_reader_password": SecretStr("wrong")},
        "EVENTCART_POSTGRES_READER_PASSWORD",
    ),
    "default token on every address, command API": (
        ["api", "commands"],
        lambda s: {"api_host": "0.0.0.0"},
        "EVENTCART_API_TOKEN",
    ),
}

#: The same for Elasticsearch, which the default run does not start.
WRONG_SEARCH: dict[str, Wrong] = {
    "elasticsearch password, search projection": (
        ["worker", "--only", "search"],
        lambda s: {"elasticsearch_password": SecretStr("wrong")},
        "EVENTCART_ELASTICSEARCH_PASSWORD",
    ),
    "elasticsearch CA, replay": (
        ["replay", "search", "--dry-run"],
        lambda s: {"elasticsearch_ca_certs": None},
        "EVENTCART_ELASTICSEARCH_CA_CERTS",
    ),
    "postgres reader password, query API": (
        ["api", "queries"],
        lambda s: {"postgres_reader_password": SecretStr("wrong")},
        "EVENTCART_POSTGRES_READER_PASSWORD",
    ),
}


def _refused(settings: Settings, case: Wrong) -> None:
    args, wrong, setting = case
    began = time.monotonic()
    done = cli(settings.model_copy(update=wrong(settings)), *args, timeout_s=REFUSED_WITHIN_S)
    took = time.monotonic() - began
    assert done.returncode == 5, done.stdout + done.stderr
    assert setting in done.stderr, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    print(f"\n{' '.join(args)}: refused in {took:.1f} s: {done.stderr.strip()[:160]}")


@pytest.mark.parametrize("case", list(WRONG))
def test_a_wrong_setting_stops_the_process_at_start_by_name(
    module_settings: Settings, case: str
) -> None:
    _refused(module_settings, WRONG[case])


@pytest.mark.long
@pytest.mark.parametrize("case", list(WRONG_SEARCH))
def test_a_wrong_search_setting_stops_the_process_at_start_by_name(
    secured_search: Settings, module_settings: Settings, case: str
) -> None:
    _refused(module_settings, WRONG_SEARCH[case])
