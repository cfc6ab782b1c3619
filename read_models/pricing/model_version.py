"""The pricing read model's version: which build a schema holds, and for which model.

``MODEL_VERSION`` is what this code writes and reads. Raise it (with a migration)
when a change needs the history rebuilt from the topic, not just new DDL: the
live projection then refuses to write into an older schema and says to replay.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

MODEL_VERSION = 2


@dataclass(frozen=True)
class Build:
    version: int
    model_version: int


class OutdatedReadModelError(RuntimeError):
    """The schema was built for an older model than this code writes."""


def build_of(conn: psycopg.Connection[Any], schema: str) -> Build:
    row = conn.execute(
        sql.SQL("SELECT version, model_version FROM {}.read_model").format(sql.Identifier(schema))
    ).fetchone()
    return Build(int(row[0]), int(row[1])) if row else Build(1, 1)


def set_build(conn: psycopg.Connection[Any], schema: str, build: Build) -> None:
    conn.execute(
        sql.SQL(
            "UPDATE {}.read_model SET version = %s, model_version = %s, built_at = now()"
        ).format(sql.Identifier(schema)),
        [build.version, build.model_version],
    )


def check_writable(
    conn: psycopg.Connection[Any], schema: str, expected: int = MODEL_VERSION
) -> Build:
    """The schema's build, or OutdatedReadModelError saying to replay."""
    build = build_of(conn, schema)
    if build.model_version < expected:
        raise OutdatedReadModelError(
            f"the pricing read model in schema {schema!r} is model version {build.model_version}, "
            f"this code writes version {expected}: rebuild it with `eventcart replay pricing`"
        )
    return build


def adopt_if_empty(conn: psycopg.Connection[Any], schema: str) -> None:
    """Record that a schema holding no product yet is built for this code's model: there
    is nothing to rebuild, whatever model its ``read_model`` row was created with."""
    s = sql.Identifier(schema)
    conn.execute(
        sql.SQL(
            "UPDATE {}.read_model SET model_version = %s"
            " WHERE model_version < %s AND NOT EXISTS (SELECT 1 FROM {}.product)"
        ).format(s, s),
        [MODEL_VERSION, MODEL_VERSION],
    )
