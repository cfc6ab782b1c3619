"""Ordered SQL migrations of the pricing read model, applied once each.

The files in ``migrations/`` (``NNNN_name.sql``) are schema-agnostic: every name
in them is unqualified and :func:`migrate` runs each with
``SET LOCAL search_path TO <schema>``, so the same files build ``pricing`` and,
for a rebuild, ``pricing_v2``. Applied files are recorded in
``<schema>.schema_migrations`` with a SHA-256 checksum; editing an applied file
is an error (write a new migration instead). Each file runs in its own
transaction under a ``pg_advisory_xact_lock`` keyed by the schema, so two
migrators (two workers starting at once) never race.
"""

from __future__ import annotations

import hashlib
import logging
import re
import zlib
from dataclasses import dataclass
from datetime import datetime
from importlib import resources
from typing import Any

import psycopg
from psycopg import sql
from psycopg.pq import TransactionStatus

from read_models.pricing import model_version as model

__all__ = [
    "Migration",
    "MigrationError",
    "MigrationState",
    "ensure_migrated",
    "migrate",
    "migrations",
    "reader_role",
    "status",
    "writer_role",
]

log = logging.getLogger(__name__)

_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class MigrationError(Exception):
    """The migrations on disk and those recorded in the database disagree."""


@dataclass(frozen=True)
class Migration:
    name: str  # the file name without ".sql", e.g. "0001_pricing"
    sql: bytes
    checksum: str  # sha256 hex of the file's bytes


@dataclass(frozen=True)
class MigrationState:
    name: str
    checksum: str | None  # on disk (None: recorded but no longer on disk)
    applied_checksum: str | None  # recorded (None: pending)
    applied_at: datetime | None

    @property
    def state(self) -> str:
        if self.applied_checksum is None:
            return "pending"
        if self.checksum is None:
            return "unknown"  # applied by a newer (or other) version of the code
        if self.checksum != self.applied_checksum:
            return "changed"
        return "applied"


def migrations() -> list[Migration]:
    """The migration files shipped with the package, in order."""
    folder = resources.files("read_models.pricing").joinpath("migrations")
    found: list[Migration] = []
    for entry in folder.iterdir():
        if not entry.name.endswith(".sql"):
            continue
        if not _NAME.match(entry.name):
            raise MigrationError(f"migration file name must be NNNN_name.sql: {entry.name}")
        body = entry.read_bytes()
        found.append(
            Migration(entry.name.removesuffix(".sql"), body, hashlib.sha256(body).hexdigest())
        )
    found.sort(key=lambda m: m.name)
    numbers = [m.name[:4] for m in found]
    if len(set(numbers)) != len(numbers):
        raise MigrationError(f"two migrations share a number: {numbers}")
    return found


def reader_role(conn: psycopg.Connection[Any]) -> str:
    """The read-only role: the connected user's name + ``_reader`` (``eventcart_reader``)."""
    return f"{conn.info.user}_reader"


def writer_role(conn: psycopg.Connection[Any]) -> str:
    """The pricing projection's role: the owner's name + ``_pricing``: rows, no DDL."""
    return f"{conn.info.user}_pricing"


def _lock_key(schema: str) -> int:
    # One bigint key per schema; the writers use the two-int4 form (a separate key space).
    return zlib.crc32(f"eventcart.migrate:{schema}".encode())


def _require_idle(conn: psycopg.Connection[Any]) -> None:
    if conn.info.transaction_status != TransactionStatus.IDLE:
        raise MigrationError("migrate needs a connection outside any transaction")


def _bootstrap(conn: psycopg.Connection[Any], schema: str) -> None:
    ident = sql.Identifier(schema)
    conn.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(schema),))
    conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(ident))
    conn.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {}.schema_migrations ("
            " name text PRIMARY KEY, checksum text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        ).format(ident)
    )


def _recorded(conn: psycopg.Connection[Any], schema: str) -> dict[str, tuple[str, datetime]]:
    rows = conn.execute(
        sql.SQL("SELECT name, checksum, applied_at FROM {}.schema_migrations").format(
            sql.Identifier(schema)
        )
    ).fetchall()
    return {str(name): (str(checksum), applied_at) for name, checksum, applied_at in rows}


def migrate(
    conn: psycopg.Connection[Any], schema: str = "pricing", *, reader: str | None = None
) -> list[str]:
    """Apply the pending migrations to ``schema`` (created if missing); return their names.

    Raises :class:`MigrationError` when an applied file's checksum changed. After
    migrating, grants the read-only role (``reader``, default :func:`reader_role`)
    USAGE on the schema, SELECT on its tables and, by default privileges, on the
    tables created later, and the writer (:func:`writer_role`) the same with rows'
    changes; a missing role is logged and skipped.
    """
    _require_idle(conn)
    files = migrations()
    with conn.transaction():
        _bootstrap(conn, schema)
        recorded = _recorded(conn, schema)
    _check_checksums(files, recorded)

    applied: list[str] = []
    for migration in files:
        if migration.name in recorded:
            continue
        with conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(schema),))
            # Another migrator may have applied it while we waited for the lock.
            again = _recorded(conn, schema).get(migration.name)
            if again is not None:
                _check_checksums([migration], {migration.name: again})
                continue
            conn.execute(sql.SQL("SET LOCAL search_path TO {}").format(sql.Identifier(schema)))
            conn.execute(migration.sql)
            conn.execute(
                sql.SQL("INSERT INTO {}.schema_migrations (name, checksum) VALUES (%s, %s)").format(
                    sql.Identifier(schema)
                ),
                (migration.name, migration.checksum),
            )
        log.info("applied migration %s to schema %s", migration.name, schema)
        applied.append(migration.name)

    with conn.transaction():
        # Under the lock too: concurrent GRANTs on one object can fail ("tuple concurrently updated").
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (_lock_key(schema),))
        _grant_roles(conn, schema, reader or reader_role(conn))
        model.adopt_if_empty(conn, schema)
    return applied


def ensure_migrated(conn: psycopg.Connection[Any], schema: str) -> list[str]:
    """Migrate ``schema`` if this login may change the database (its owner); otherwise
    (the pricing writer of a least-privilege deployment) only make sure nothing is
    pending, and say who must migrate when something is: a login without DDL rights
    must never be the one that finds out by failing halfway through a migration."""
    row = conn.execute("SELECT has_database_privilege(current_database(), 'CREATE')").fetchone()
    if row is not None and row[0]:
        return migrate(conn, schema)
    pending = [state.name for state in status(conn, schema) if state.applied_checksum is None]
    if pending:
        raise MigrationError(
            f"schema {schema} lacks migrations {', '.join(pending)} and {conn.info.user} may "
            "not change it: run `eventcart db migrate` (or `eventcart up`) as its owner"
        )
    return []


def _check_checksums(files: list[Migration], recorded: dict[str, tuple[str, datetime]]) -> None:
    for migration in files:
        seen = recorded.get(migration.name)
        if seen is not None and seen[0] != migration.checksum:
            raise MigrationError(
                f"migration {migration.name} was changed after it was applied "
                f"(recorded checksum {seen[0][:12]}, file {migration.checksum[:12]}): "
                "write a new migration instead of editing an applied one"
            )


def _grant_roles(conn: psycopg.Connection[Any], schema: str, reader: str) -> None:
    """The reader may read; the pricing writer (``<owner>_pricing``) may change rows but
    not the schema. Both by default privileges on what later migrations create too."""
    params = {"schema": sql.Identifier(schema)}
    rights = {
        reader: ("SELECT", None),
        writer_role(conn): ("SELECT, INSERT, UPDATE, DELETE", "USAGE, SELECT, UPDATE"),
    }
    for role, (tables, sequences) in rights.items():
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone()
        if exists is None:
            log.warning("role %s does not exist: schema %s is not granted to it", role, schema)
            continue
        grant = {**params, "role": sql.Identifier(role), "tables": sql.SQL(tables)}
        for statement in (
            "GRANT USAGE ON SCHEMA {schema} TO {role}",
            "GRANT {tables} ON ALL TABLES IN SCHEMA {schema} TO {role}",
            "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT {tables} ON TABLES TO {role}",
        ):
            conn.execute(sql.SQL(statement).format(**grant))
        if sequences is not None:
            grant["sequences"] = sql.SQL(sequences)
            for statement in (
                "GRANT {sequences} ON ALL SEQUENCES IN SCHEMA {schema} TO {role}",
                "ALTER DEFAULT PRIVILEGES IN SCHEMA {schema} GRANT {sequences} ON SEQUENCES TO {role}",
            ):
                conn.execute(sql.SQL(statement).format(**grant))


def status(conn: psycopg.Connection[Any], schema: str = "pricing") -> list[MigrationState]:
    """Every migration on disk or recorded in ``schema``, in name order (read only)."""
    _require_idle(conn)
    files = {m.name: m for m in migrations()}
    with conn.transaction():
        exists = conn.execute(
            "SELECT to_regclass(%s) IS NOT NULL",
            (sql.Identifier(schema, "schema_migrations").as_string(conn),),
        ).fetchone()
        recorded = _recorded(conn, schema) if exists and exists[0] else {}
    states = []
    for name in sorted(files.keys() | recorded.keys()):
        on_disk = files.get(name)
        seen = recorded.get(name)
        states.append(
            MigrationState(
                name=name,
                checksum=on_disk.checksum if on_disk else None,
                applied_checksum=seen[0] if seen else None,
                applied_at=seen[1] if seen else None,
            )
        )
    return states
