"""Who may do what in the secured stack: one principal per role, and its rights.

A projection that can publish commands, or a query API that can drop the
index, turns one compromised process into a compromised catalog. So in the
secured stack (`eventcart stack up --secure`) each role logs in as its own
principal, allowed only what its code does:

==============  ===========================================  ======================  =================
principal       Kafka                                        Elasticsearch           PostgreSQL
==============  ===========================================  ======================  =================
processor       read commands; write events, results, its    none                    none
                changelog and dead letters; its groups and
                transactional ids
search          read events; write its dead letters; its     write the index (no     none
                group                                        delete, no settings)
pricing         read events; write its dead letters; its     none                    rows of the pricing
                group                                                                schema, no DDL
commands        write commands; read results                 none                    none
queries         read and describe (change stream, the        read and refresh the    read-only
                console's operations page); write nothing    index
==============  ===========================================  ======================  =================

Operators' tools (`eventcart up`, replay, verify, topics, the exporter) keep
the stack's administrator: they create topics, indices and schemas, which no
role above may. This module only declares the rights, as data a test can
read; :mod:`ops.stack.grants` applies them to the running services.
"""

from __future__ import annotations

from dataclasses import dataclass

from confluent_kafka.admin import (  # type: ignore[attr-defined]
    AclBinding,
    AclOperation,
    AclPermissionType,
    ResourcePatternType,
    ResourceType,
)

from schemas.config.settings import Settings
from schemas.topics import PRICING_PROJECTION, PROCESSOR, SEARCH_PROJECTION, Topics

__all__ = [
    "PRINCIPALS",
    "Principal",
    "elasticsearch_roles",
    "kafka_acls",
    "kafka_user",
    "principal_of_role",
]

#: The client groups that only ever assign partitions (never join, never commit):
#: librdkafka still looks up their coordinator, which asks READ on the group.
CLIENT_GROUP = "eventcart-client-unused"
EVENT_LOG_GROUP = "eventcart-event-log"
READER_GROUPS = ("eventcart-changes", "eventcart-dlq-reader", "eventcart-status", EVENT_LOG_GROUP)


@dataclass(frozen=True)
class Principal:
    """One role's login: which stores it reaches (a store it does not reach gets no
    credentials at all)."""

    name: str
    elasticsearch: bool = False
    postgres: str | None = None  # "writer" | "reader"


PRINCIPALS: dict[str, Principal] = {
    p.name: p
    for p in (
        Principal("processor"),
        Principal("search", elasticsearch=True),
        Principal("pricing", postgres="writer"),
        Principal("commands"),
        Principal("queries", elasticsearch=True, postgres="reader"),
    )
}

_ROLE_PRINCIPAL = {
    PROCESSOR: "processor",
    SEARCH_PROJECTION: "search",
    PRICING_PROJECTION: "pricing",
}


def principal_of_role(role: str) -> Principal:
    """The principal of a stream role (``command-processor`` -> ``processor``)."""
    return PRINCIPALS[_ROLE_PRINCIPAL.get(role, role)]


def kafka_user(admin_user: str, principal: str) -> str:
    return f"{admin_user}-{principal}"


def elasticsearch_user(admin_user: str, principal: str) -> str:
    return f"{admin_user}-{principal}"


def postgres_role(owner: str, principal: Principal) -> str:
    """``eventcart_pricing`` for the writer, ``eventcart_reader`` for the reader (the
    query API's read-only role, older than the secured stack)."""
    return f"{owner}_{'pricing' if principal.postgres == 'writer' else 'reader'}"


def _allow(
    user: str,
    kind: ResourceType,
    name: str,
    operations: tuple[AclOperation, ...],
    pattern: ResourcePatternType = ResourcePatternType.LITERAL,
) -> list[AclBinding]:
    return [
        AclBinding(kind, name, pattern, f"User:{user}", "*", op, AclPermissionType.ALLOW)
        for op in operations
    ]


def kafka_acls(settings: Settings, admin_user: str) -> list[AclBinding]:
    """Every ACL of every principal for the deployment of ``settings`` (its topic prefix).

    READ and WRITE each imply DESCRIBE. Producers need no IDEMPOTENT_WRITE since
    Kafka 3.0: WRITE on a topic implies it.
    """
    t, prefix = Topics.from_settings(settings), settings.topic_prefix
    topic, group, txn = ResourceType.TOPIC, ResourceType.GROUP, ResourceType.TRANSACTIONAL_ID
    read, write, describe = AclOperation.READ, AclOperation.WRITE, AclOperation.DESCRIBE
    prefixed = ResourcePatternType.PREFIXED
    user = {name: kafka_user(admin_user, name) for name in PRINCIPALS}
    processor_group = f"{prefix}-{PROCESSOR}"  # and its "-restore" group, by prefix
    return [
        *_allow(user["processor"], topic, t.commands, (read,)),
        *_allow(user["processor"], topic, t.processor_state, (read, write)),
        *_allow(user["processor"], topic, t.events, (write,)),
        *_allow(user["processor"], topic, t.results, (write,)),
        *_allow(user["processor"], topic, t.dead_letters(PROCESSOR), (write,)),
        *_allow(user["processor"], group, processor_group, (read,), prefixed),
        *_allow(user["processor"], txn, processor_group, (write,), prefixed),
        *(
            acl
            for name, role in (("search", SEARCH_PROJECTION), ("pricing", PRICING_PROJECTION))
            for acl in (
                *_allow(user[name], topic, t.events, (read,)),
                *_allow(user[name], topic, t.dead_letters(role), (write,)),
                *_allow(user[name], group, f"{prefix}-{role}", (read,)),
                # a gap in the applied offsets is repaired by reading the log directly
                *_allow(user[name], group, EVENT_LOG_GROUP, (read,)),
            )
        ),
        *_allow(user["commands"], topic, t.commands, (write,)),
        *_allow(user["commands"], topic, t.results, (read,)),
        *_allow(user["commands"], group, CLIENT_GROUP, (read,)),
        # The query API's change stream and the console's operations page (lag, dead
        # letters, read model status) read every topic of the deployment; write none.
        *_allow(user["queries"], topic, f"{prefix}.", (read,), prefixed),
        *_allow(user["queries"], topic, f"{prefix}-", (read,), prefixed),
        *_allow(user["queries"], group, f"{prefix}-", (describe,), prefixed),
        *(acl for g in READER_GROUPS for acl in _allow(user["queries"], group, g, (read,))),
    ]


def elasticsearch_roles(settings: Settings) -> dict[str, dict[str, object]]:
    """The Elasticsearch roles (security API bodies) of the principals that reach it.

    The search projection writes documents and its positions, may create a missing
    index of its own name and refresh; it may not delete an index, change its
    settings or move its alias: a rebuild (an operator's) does those. The reader may
    read, and refresh (``maintenance``): a search that waits for a position token
    refreshes the index rather than wait up to a second for it.
    """
    names = [f"{settings.search_index}*"]
    return {
        "eventcart_search_writer": {
            "cluster": ["monitor"],
            "indices": [
                {
                    "names": names,
                    "privileges": [
                        "read",
                        "write",
                        "create_index",
                        "view_index_metadata",
                        "maintenance",
                    ],
                }
            ],
        },
        "eventcart_reader": {
            "cluster": ["monitor"],
            "indices": [
                {"names": names, "privileges": ["read", "view_index_metadata", "maintenance"]}
            ],
        },
    }


#: Which Elasticsearch role each principal's user holds.
ELASTICSEARCH_ROLE = {"search": "eventcart_search_writer", "queries": "eventcart_reader"}
