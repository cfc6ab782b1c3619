"""Each principal of the secured stack refused what its role must not do, by the services.

On the tests' secured stack (``tests.fixtures.secured``), with every principal's
rights granted as `eventcart stack up --secure` grants them
(``ops.stack.principals``): each is asked to do something outside its role and
the store itself must refuse it (Kafka's authorizer, Elasticsearch's roles,
PostgreSQL's grants), while the same login does its own work. Kafka and
PostgreSQL run in `make test`; Elasticsearch, slow to start with security, is
``long``. The whole system under these principals, with the exactly-once
checks, is ``test_secured_stack.py``'s end-to-end test.
"""

from __future__ import annotations

import time

import psycopg
import pytest
from confluent_kafka import Consumer, KafkaError, Producer
from confluent_kafka.admin import AdminClient, NewTopic  # type: ignore[attr-defined]
from elasticsearch import AuthorizationException
from psycopg import sql

from read_models.pricing.migrate import MigrationError, ensure_migrated, migrate
from read_models.search import client as es_client
from read_models.search.index import ensure_index
from schemas.config.connections import kafka_config, postgres_conninfo
from schemas.config.settings import Settings
from schemas.topics import PROCESSOR, SEARCH_PROJECTION, Topics
from tests.fixtures.secured import as_principal, grant_search

REFUSED = "TOPIC_AUTHORIZATION_FAILED"


@pytest.fixture(scope="module")
def module_settings(secured_module: Settings) -> Settings:
    """This module's deployment on the secured stack."""
    return secured_module


@pytest.fixture(scope="module")
def login(module_settings: Settings, stack_passwords: dict[str, str]) -> dict[str, Settings]:
    return {
        name: as_principal(module_settings, name, stack_passwords)
        for name in ("processor", "search", "pricing", "commands", "queries")
    }


def produce(settings: Settings, topic: str) -> str:
    """The delivery's outcome: ``delivered`` or the broker's error name."""
    outcome: list[str] = []
    producer = Producer(kafka_config(settings, **{"message.timeout.ms": 20_000}))
    producer.produce(
        topic,
        b"{}",
        key=b"LEAST-PRIVILEGE",
        on_delivery=lambda err, _msg: outcome.append(err.name() if err else "delivered"),
    )
    producer.flush(30)
    return outcome[0] if outcome else "no answer"


def read(settings: Settings, topic: str, group: str) -> str:
    """``read`` when the topic's first record arrives within 15 s, else the error the
    consumer reports (``nothing`` if none: never a pass)."""
    consumer = Consumer(
        kafka_config(
            settings, **{"group.id": group, "auto.offset.reset": "earliest", "log_level": 0}
        )
    )
    try:
        consumer.subscribe([topic])
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            message = consumer.poll(0.5)
            if message is None:
                continue
            error = message.error()
            if error is None:
                return "read"
            if error.code() != KafkaError._PARTITION_EOF:
                return str(error.name())
        return "nothing"
    finally:
        consumer.close()


@pytest.fixture(scope="module")
def one_record_each(module_settings: Settings) -> None:
    """A record in the commands and events topics (put there by the administrator), so
    that a read which is allowed has something to read."""
    t = Topics.from_settings(module_settings)
    assert produce(module_settings, t.commands) == "delivered"
    assert produce(module_settings, t.events) == "delivered"


def test_kafka_refuses_each_principal_outside_its_topics(
    module_settings: Settings, login: dict[str, Settings], one_record_each: None
) -> None:
    t = Topics.from_settings(module_settings)
    refused = {
        "a projection publishing a command": produce(login["search"], t.commands),
        "a projection publishing an event": produce(login["pricing"], t.events),
        "the query API publishing a command": produce(login["queries"], t.commands),
        "the processor publishing a command": produce(login["processor"], t.commands),
        "the command API publishing an event": produce(login["commands"], t.events),
        "the command API reading the events": read(
            login["commands"], t.events, "eventcart-client-unused"
        ),
        "a projection reading the commands": read(
            login["search"], t.commands, f"{module_settings.topic_prefix}-{SEARCH_PROJECTION}"
        ),
    }
    assert refused == dict.fromkeys(refused, REFUSED)
    allowed = {
        "the command API publishing a command": produce(login["commands"], t.commands),
        "a projection reading the events": read(
            login["search"], t.events, f"{module_settings.topic_prefix}-{SEARCH_PROJECTION}"
        ),
        "the query API reading the events": read(login["queries"], t.events, "eventcart-changes"),
    }
    assert allowed == {
        "the command API publishing a command": "delivered",
        "a projection reading the events": "read",
        "the query API reading the events": "read",
    }


def test_kafka_refuses_topics_groups_and_transactions_outside_a_role(
    module_settings: Settings, login: dict[str, Settings], one_record_each: None
) -> None:
    admin = AdminClient(kafka_config(login["pricing"]))
    created = admin.create_topics([NewTopic(f"{module_settings.topic_prefix}.mine", 1, 1)])
    with pytest.raises(Exception, match="AUTHORIZATION_FAILED"):
        next(iter(created.values())).result(timeout=30)
    # the processor's group, joined by a projection
    t = Topics.from_settings(module_settings)
    group = f"{module_settings.topic_prefix}-{PROCESSOR}"
    assert read(login["pricing"], t.events, group) == "GROUP_AUTHORIZATION_FAILED"
    # a transactional id outside the processor's prefix
    producer = Producer(kafka_config(login["processor"], **{"transactional.id": "elsewhere"}))
    with pytest.raises(Exception, match="TRANSACTIONAL_ID_AUTHORIZATION_FAILED"):
        producer.init_transactions(30)
    own = f"{group}-least-privilege"
    producer = Producer(kafka_config(login["processor"], **{"transactional.id": own}))
    producer.init_transactions(30)  # its own prefix: allowed


@pytest.fixture(scope="module")
def migrated(module_settings: Settings) -> str:
    """The module's pricing schema, migrated by its owner (the operator)."""
    with psycopg.connect(postgres_conninfo(module_settings), autocommit=True) as conn:
        migrate(conn, module_settings.pricing_schema)
    return module_settings.pricing_schema


def test_postgres_gives_the_pricing_writer_rows_and_no_ddl(
    migrated: str, login: dict[str, Settings]
) -> None:
    schema = sql.Identifier(migrated)
    with psycopg.connect(postgres_conninfo(login["pricing"]), autocommit=True) as conn:
        assert ensure_migrated(conn, migrated) == []  # checked, not migrated
        conn.execute(sql.SQL("SELECT count(*) FROM {}.product").format(schema))
        for statement in (
            "CREATE TABLE {}.stolen (sku text)",
            "DROP TABLE {}.product",
            "ALTER TABLE {}.product ADD COLUMN evil text",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(sql.SQL(statement).format(schema))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute("CREATE SCHEMA stolen")
        # a schema the operator has not migrated: refused by name, nothing half-done
        with pytest.raises(MigrationError, match="eventcart db migrate"):
            ensure_migrated(conn, f"{migrated}_unmigrated")
        assert conn.execute(
            "SELECT count(*) FROM pg_namespace WHERE nspname = %s", (f"{migrated}_unmigrated",)
        ).fetchone() == (0,)


def test_postgres_refuses_the_reader_writing_and_the_command_api_reading(
    migrated: str, login: dict[str, Settings]
) -> None:
    queries = login["queries"]
    reader = postgres_conninfo(
        queries,
        user=f"{queries.postgres_user}_reader",
        password=queries.postgres_reader_password.get_secret_value(),
    )
    with psycopg.connect(reader, autocommit=True) as conn:
        conn.execute(sql.SQL("SELECT count(*) FROM {}.product").format(sql.Identifier(migrated)))
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            conn.execute(sql.SQL("DELETE FROM {}.product").format(sql.Identifier(migrated)))
    # The command API is handed no PostgreSQL password at all.
    with pytest.raises(psycopg.OperationalError, match="password"):
        psycopg.connect(postgres_conninfo(login["commands"]), connect_timeout=10)


@pytest.mark.long
def test_elasticsearch_refuses_the_reader_writing_and_the_writer_deleting(
    secured_search: Settings,
    module_settings: Settings,
    stack_passwords: dict[str, str],
    login: dict[str, Settings],
) -> None:
    grant_search(module_settings, secured_search, stack_passwords)
    admin = es_client.connect(module_settings, request_timeout=30)
    index = ensure_index(admin, alias=module_settings.search_index)
    admin.close()
    alias = module_settings.search_index
    reader = es_client.connect(login["queries"], request_timeout=30)
    writer = es_client.connect(login["search"], request_timeout=30)
    try:
        reader.search(index=alias, size=1)
        with pytest.raises(AuthorizationException):
            reader.index(index=alias, id="LP-1", document={"sku": "LP-1"})
        writer.index(index=alias, id="LP-1", document={"sku": "LP-1"}, refresh=True)
        for refused in (
            lambda: writer.indices.delete(index=index),
            lambda: writer.indices.put_settings(index=index, settings={"number_of_replicas": 2}),
            lambda: writer.indices.delete_alias(index=index, name=alias),
            lambda: writer.index(index="elsewhere", id="LP-1", document={"sku": "LP-1"}),
        ):
            with pytest.raises(AuthorizationException):
                refused()
    finally:
        reader.close()
        writer.close()
