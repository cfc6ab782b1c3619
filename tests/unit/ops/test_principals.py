"""One principal per role: the rights declared for each, and the credentials each is handed.

What the services do with these declarations is tested against the secured
stack itself (``tests/integration/ops/test_secured_stack.py``); here, that the
declarations say least privilege: no role may write where its code does not,
none may create or delete, and a role's environment carries its own
credentials and nobody else's.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from confluent_kafka.admin import AclOperation, ResourcePatternType, ResourceType
from psycopg.conninfo import conninfo_to_dict
from pydantic import SecretStr

from ops import system
from ops.cli import worker as worker_cli
from ops.stack import principals, secured
from ops.stack.elasticsearch import Elasticsearch
from schemas.config.settings import Settings, get_settings
from schemas.topics import PROCESSOR, Topics


def settings(home: Path) -> Settings:
    return Settings(
        home=home,
        stack_secure=True,
        topic_prefix="shop",
        search_index="shop-products",
        kafka_bootstrap_servers="127.0.0.1:39092",
        elasticsearch_url="http://127.0.0.1:39200",
        postgres_dsn=SecretStr("postgresql://eventcart:eventcart@127.0.0.1:35432/eventcart"),
    )


def rights(s: Settings) -> dict[str, set[tuple[str, str, str, str]]]:
    """principal -> {(resource type, pattern type, name, operation)}"""
    found: dict[str, set[tuple[str, str, str, str]]] = {}
    for acl in principals.kafka_acls(s, "eventcart"):
        who = acl.principal.removeprefix("User:eventcart-")
        found.setdefault(who, set()).add(
            (acl.restype.name, acl.resource_pattern_type.name, acl.name, acl.operation.name)
        )
    return found


def test_every_principal_has_rights_and_only_the_processor_and_commands_write_the_log(
    tmp_path: Path,
) -> None:
    s = settings(tmp_path)
    t = Topics.from_settings(s)
    found = rights(s)
    assert set(found) == set(principals.PRINCIPALS)
    writers = {
        topic: {who for who, held in found.items() if ("TOPIC", "LITERAL", topic, "WRITE") in held}
        for topic in (t.commands, t.events, t.results)
    }
    assert writers == {t.commands: {"commands"}, t.events: {"processor"}, t.results: {"processor"}}
    assert all(op != "WRITE" for (_, _, _, op) in found["queries"])  # read-only
    assert ("TOPIC", "LITERAL", t.events, "READ") not in found["commands"]


def test_no_principal_may_create_delete_or_alter(tmp_path: Path) -> None:
    forbidden = {AclOperation.CREATE, AclOperation.DELETE, AclOperation.ALTER, AclOperation.ALL}
    acls = principals.kafka_acls(settings(tmp_path), "eventcart")
    assert not [acl for acl in acls if acl.operation in forbidden]
    assert not [acl for acl in acls if acl.restype == ResourceType.BROKER]  # the cluster


def test_the_processors_transactional_ids_and_groups_are_its_own(tmp_path: Path) -> None:
    s = settings(tmp_path)
    held = rights(s)["processor"]
    assert ("TRANSACTIONAL_ID", "PREFIXED", f"shop-{PROCESSOR}", "WRITE") in held
    assert ("GROUP", "PREFIXED", f"shop-{PROCESSOR}", "READ") in held
    others = [
        acl for acl in principals.kafka_acls(s, "eventcart") if "processor" not in acl.principal
    ]
    assert not [acl for acl in others if acl.restype == ResourceType.TRANSACTIONAL_ID]
    prefixed = [acl for acl in others if acl.resource_pattern_type == ResourcePatternType.PREFIXED]
    assert {acl.principal for acl in prefixed} == {"User:eventcart-queries"}


def test_elasticsearch_roles_never_delete_or_manage(tmp_path: Path) -> None:
    roles = principals.elasticsearch_roles(settings(tmp_path))
    for body in roles.values():
        for grant in body["indices"]:  # type: ignore[attr-defined]
            assert grant["names"] == ["shop-products*"]
            assert not {"all", "manage", "delete_index", "delete"} & set(grant["privileges"])
    reader = roles[principals.ELASTICSEARCH_ROLE["queries"]]
    assert reader["indices"][0]["privileges"] == [
        "read",
        "view_index_metadata",
        "maintenance",  # refresh, for a search waiting on a position token
    ]  # type: ignore[index]


def test_a_role_is_handed_its_own_credentials_and_no_one_elses(tmp_path: Path) -> None:
    s = secured.stack_settings(settings(tmp_path))
    made = secured.passwords(settings(tmp_path))
    envs = {name: secured.role_environment(s, name, made) for name in principals.PRINCIPALS}
    for name, env in envs.items():
        assert env["EVENTCART_KAFKA_SASL_USERNAME"] == f"eventcart-{name}"
        assert env["EVENTCART_KAFKA_SASL_PASSWORD"] == made[f"kafka_{name}"]
        others = {v for k, v in made.items() if not k.endswith(f"_{name}")}
        leaked = [k for k, v in env.items() if v in others or made["postgres"] in v]
        assert leaked == [] or (
            name == "queries" and leaked == ["EVENTCART_POSTGRES_READER_PASSWORD"]
        ), (name, leaked)
    assert "EVENTCART_ELASTICSEARCH_PASSWORD" not in envs["processor"]
    assert envs["search"]["EVENTCART_ELASTICSEARCH_USERNAME"] == "eventcart-search"
    pricing = conninfo_to_dict(envs["pricing"]["EVENTCART_POSTGRES_DSN"])
    assert (pricing["user"], pricing["password"]) == ("eventcart_pricing", made["postgres_pricing"])
    assert pricing["sslmode"] == "verify-full"
    commands = conninfo_to_dict(envs["commands"]["EVENTCART_POSTGRES_DSN"])
    assert "password" not in commands


def test_a_home_made_before_the_principals_gets_their_passwords(tmp_path: Path) -> None:
    old = {"kafka": "k", "elasticsearch": "e", "postgres": "p"}
    secured.credentials_file(settings(tmp_path)).write_text(__import__("json").dumps(old))
    made = secured.passwords(settings(tmp_path))
    assert {k: made[k] for k in old} == old
    assert "kafka_processor" in made and "postgres_pricing" in made
    assert secured.passwords(settings(tmp_path)) == made  # kept, not made again


def test_eventcart_up_hands_each_process_its_principal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = settings(tmp_path)
    made = secured.passwords(s)
    # an operator's shell that sourced secure.env: the administrator's password is there
    monkeypatch.setenv("EVENTCART_KAFKA_SASL_PASSWORD", made["kafka"])
    apps = {app.name: app for app in system.app_processes(s)}
    assert apps["command-api"].args == ["api", "commands", "--no-imports"]
    commands = apps["command-api"].environment(s)
    assert commands["EVENTCART_KAFKA_SASL_USERNAME"] == "eventcart-commands"
    assert commands["EVENTCART_KAFKA_SASL_PASSWORD"] == made["kafka_commands"]
    queries = apps["query-api"].environment(s)
    assert queries["EVENTCART_POSTGRES_READER_PASSWORD"] == made["postgres_reader"]
    # the worker's supervisor hands each role its own (ops.cli.worker)
    assert apps["worker"].environment(s)["EVENTCART_KAFKA_SASL_PASSWORD"] == made["kafka"]
    plain = settings(tmp_path / "plain").model_copy(update={"stack_secure": False})
    assert system.app_processes(plain)[1].args == ["api", "commands", "--imports"]


def test_each_principal_gets_an_env_file_of_its_own(tmp_path: Path) -> None:
    folder = secured.write_principal_env_files(settings(tmp_path))
    made = secured.passwords(settings(tmp_path))
    files = {path.stem: path for path in folder.glob("*.env")}
    assert set(files) == set(principals.PRINCIPALS)
    search = files["search"].read_text()
    assert made["elasticsearch_search"] in search and made["kafka_search"] in search
    assert made["kafka"] not in search and made["postgres"] not in search
    assert oct(files["search"].stat().st_mode & 0o777) == "0o600"


def test_the_file_realm_roles_add_up_across_deployments(tmp_path: Path) -> None:
    """Two deployments on one stack: the second grant keeps the first one's index; the
    file is block YAML, one role per top-level key, as the realm splits it."""
    node = Elasticsearch(settings(tmp_path))
    node.config_dir.mkdir(parents=True)
    node.set_roles(principals.elasticsearch_roles(settings(tmp_path)))
    other = settings(tmp_path).model_copy(update={"search_index": "outlet-products"})
    node.set_roles(principals.elasticsearch_roles(other))
    text = (node.config_dir / "roles.yml").read_text()
    roles = yaml.safe_load(text)
    assert roles["eventcart_reader"]["indices"][0]["names"] == [
        "outlet-products*",
        "shop-products*",
    ]
    assert set(roles) == set(principals.ELASTICSEARCH_ROLE.values())
    assert [line for line in text.splitlines() if line and not line[0].isspace()][1:] == [
        "eventcart_search_writer:",
        "eventcart_reader:",
    ]


def test_the_workers_supervisor_gives_each_role_its_own_login(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = settings(tmp_path)
    made = secured.passwords(s)
    for key, value in {
        "EVENTCART_HOME": str(tmp_path),
        "EVENTCART_STACK_SECURE": "1",
        "EVENTCART_TOPIC_PREFIX": "shop",
    }.items():
        monkeypatch.setenv(key, value)
    get_settings.cache_clear()
    try:
        env = worker_cli._role_environment("pricing-projection")
    finally:
        get_settings.cache_clear()
    assert env is not None
    assert env["EVENTCART_KAFKA_SASL_USERNAME"] == "eventcart-pricing"
    assert made["postgres_pricing"] in env["EVENTCART_POSTGRES_DSN"]
    assert "EVENTCART_ELASTICSEARCH_PASSWORD" not in env
