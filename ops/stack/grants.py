"""Giving each principal of the secured stack its login and its rights (``ops.stack.principals``).

PostgreSQL's roles are made with the others at the server's first start
(``ops.stack.postgres``) and granted their schema by each migration.

Run by the stack's administrator after the services are up (`eventcart stack
up --secure`, `eventcart up`) and again for every deployment prefix a test
makes: each step is an upsert (a password set again, an ACL or a role that
already exists is no error), so running it twice changes nothing.
"""

from __future__ import annotations

from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AdminClient,
    ScramCredentialInfo,
    ScramMechanism,
    UserScramCredentialAlteration,
    UserScramCredentialUpsertion,
)
from pydantic import SecretStr
from tenacity import retry, stop_after_delay, wait_exponential, wait_fixed

from ops.stack import principals
from ops.stack.elasticsearch import Elasticsearch
from ops.stack.errors import StackError
from read_models.search import client as es_client
from schemas.config.connections import kafka_config
from schemas.config.settings import Settings

__all__ = ["grant_elasticsearch", "grant_kafka"]

#: Iterations of the SCRAM hash (Kafka's minimum is 4096).
_ITERATIONS = 8192


@retry(stop=stop_after_delay(60), wait=wait_exponential(max=5), reraise=True)
def grant_kafka(settings: Settings, passwords: dict[str, str]) -> None:
    """SCRAM users for every principal, then every ACL of the deployment.

    Retried for a minute: a broker that has just started may not yet have the
    metadata quorum's answer for user changes.
    """
    admin_user = settings.kafka_sasl_username or "eventcart"
    admin = AdminClient(kafka_config(settings))
    upserts: list[UserScramCredentialAlteration] = [
        UserScramCredentialUpsertion(
            principals.kafka_user(admin_user, name),
            ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, _ITERATIONS),
            passwords[f"kafka_{name}"].encode(),
        )
        for name in principals.PRINCIPALS
    ]
    for user, future in admin.alter_user_scram_credentials(upserts).items():
        try:
            future.result(timeout=30)
        except Exception as exc:
            raise StackError("kafka", f"the SCRAM user {user} was not set: {exc}") from exc
    acls = principals.kafka_acls(settings, admin_user)
    for binding, future in admin.create_acls(acls, request_timeout=30).items():
        try:
            future.result(timeout=30)
        except Exception as exc:
            raise StackError("kafka", f"the ACL {binding} was not created: {exc}") from exc


def grant_elasticsearch(
    settings: Settings, passwords: dict[str, str], nodes: list[Elasticsearch]
) -> None:
    """The writer's and the reader's roles on this deployment's index, and their users,
    on every node's file realm; returns once the reader can log in (the realm reloads
    its files every few seconds)."""
    roles = principals.elasticsearch_roles(settings)
    admin_user = settings.elasticsearch_username or "eventcart"
    users = {
        principals.elasticsearch_user(admin_user, name): (passwords[f"elasticsearch_{name}"], role)
        for name, role in principals.ELASTICSEARCH_ROLE.items()
    }
    for node in nodes:
        node.set_roles(roles)
        for user, (password, role) in users.items():
            node.set_user(user, password, role)
    reader = principals.elasticsearch_user(admin_user, "queries")
    login = settings.model_copy(
        update={
            "elasticsearch_username": reader,
            "elasticsearch_password": SecretStr(users[reader][0]),
        }
    )
    _until_readable(login)


@retry(stop=stop_after_delay(30), wait=wait_fixed(0.5), reraise=True)
def _until_readable(settings: Settings) -> None:
    es = es_client.connect(settings, request_timeout=5)
    try:
        # privileges, not only the login: the roles file is reloaded on its own
        held = es.security.has_privileges(
            index=[{"names": [settings.search_index], "privileges": ["read"]}]
        )
        if not held.get("has_all_requested"):
            raise StackError("elasticsearch", f"{settings.elasticsearch_username} may not read yet")
    finally:
        es.close()
