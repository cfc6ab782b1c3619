"""Filling a fresh pricing schema fast: unlogged tables, secondary indexes and the
overlap constraint built once after the load.

A rebuild writes into a schema nobody reads yet. Until the switch, its tables
need no write-ahead log (a crash only costs the rebuild, which resumes or
starts again) and no index but the primary keys its merges use; the other
indexes and the exclusion constraint cost more row by row than built once
at the end. The definitions of what is dropped are taken from the catalog
(the migrations stay the one place they are written) and kept in the schema
itself until :func:`finish` recreates them, so a rebuild interrupted in
between still ends with every index.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

__all__ = ["finish", "start"]

TABLES = ("product", "current_price", "price_history", "stock", "scheduled_price")


def start(conn: psycopg.Connection[Any], schema: str) -> None:
    """Make ``schema``'s tables unlogged and set its deferrable indexes aside (idempotent)."""
    s = sql.Identifier(schema)
    with conn.transaction():
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {}.bulk_load_deferred"
                " (name text PRIMARY KEY, kind text NOT NULL, definition text NOT NULL)"
            ).format(s)
        )
        for table in TABLES:
            t = sql.Identifier(table)
            conn.execute(sql.SQL("ALTER TABLE {}.{} SET UNLOGGED").format(s, t))
            deferred = conn.execute(
                "SELECT c.conname, 'constraint', pg_get_constraintdef(c.oid) FROM pg_constraint c"
                " WHERE c.conrelid = %s::regclass AND c.contype = 'x'"
                " UNION ALL"
                " SELECT i.indexrelid::regclass::text, 'index', pg_get_indexdef(i.indexrelid)"
                " FROM pg_index i WHERE i.indrelid = %s::regclass AND NOT i.indisprimary"
                " AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
                [f"{schema}.{table}", f"{schema}.{table}"],
            ).fetchall()
            for name, kind, definition in deferred:
                conn.execute(
                    sql.SQL(
                        "INSERT INTO {}.bulk_load_deferred VALUES (%s, %s, %s)"
                        " ON CONFLICT (name) DO NOTHING"
                    ).format(s),
                    [f"{table}:{name}", kind, definition],
                )
                if kind == "constraint":
                    conn.execute(
                        sql.SQL("ALTER TABLE {}.{} DROP CONSTRAINT {}").format(
                            s, t, sql.Identifier(name)
                        )
                    )
                else:
                    conn.execute(sql.SQL("DROP INDEX {}").format(sql.SQL(name)))


def finish(conn: psycopg.Connection[Any], schema: str) -> None:
    """Recreate what :func:`start` set aside and make the tables logged again."""
    s = sql.Identifier(schema)
    with conn.transaction():
        exists = conn.execute(
            "SELECT to_regclass(%s) IS NOT NULL", [f"{schema}.bulk_load_deferred"]
        ).fetchone()
        if not exists or not exists[0]:
            return
        conn.execute(sql.SQL("SET LOCAL search_path TO {}, public").format(s))
        for name, kind, definition in conn.execute(
            sql.SQL("SELECT name, kind, definition FROM {}.bulk_load_deferred").format(s)
        ).fetchall():
            table, _, constraint = name.partition(":")
            if kind == "constraint":
                conn.execute(
                    sql.SQL("ALTER TABLE {}.{} ADD CONSTRAINT {} {}").format(
                        s, sql.Identifier(table), sql.Identifier(constraint), sql.SQL(definition)
                    )
                )
            else:
                conn.execute(sql.SQL(definition))
        for table in TABLES:
            conn.execute(sql.SQL("ALTER TABLE {}.{} SET LOGGED").format(s, sql.Identifier(table)))
        conn.execute(sql.SQL("DROP TABLE {}.bulk_load_deferred").format(s))
