"""Pricing migrations against the real PostgreSQL: once each, checksummed, locked, granted."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from psycopg import sql
from typer.testing import CliRunner

from ops.cli import db
from read_models.pricing.migrate import MigrationError, migrate, migrations, status
from schemas.config.settings import Settings

pytestmark = pytest.mark.services

TABLES = {
    "product",
    "current_price",
    "price_history",
    "stock",
    "scheduled_price",
    "checkpoint",
    "read_model",
    "schema_migrations",
}


@pytest.fixture
def schema(pg: psycopg.Connection[Any], unique: str) -> Iterator[str]:
    name = f"pricing_t{unique}"
    yield name
    pg.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name)))


def tables(pg: psycopg.Connection[Any], schema: str) -> set[str]:
    rows = pg.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (schema,)
    ).fetchall()
    return {str(r[0]) for r in rows}


def reader_dsn(settings: Settings) -> str:
    return psycopg.conninfo.make_conninfo(
        settings.postgres_dsn.get_secret_value(),
        user=f"{settings.postgres_user}_reader",
        password=settings.postgres_reader_password.get_secret_value(),
    )


def test_migrate_is_idempotent_and_records_checksums(
    pg: psycopg.Connection[Any], schema: str
) -> None:
    files = migrations()
    assert next(m.name for m in files) == "0001_pricing"
    assert migrate(pg, schema) == [m.name for m in files]
    assert migrate(pg, schema) == []
    assert tables(pg, schema) == TABLES

    recorded = pg.execute(
        sql.SQL("SELECT name, checksum, applied_at FROM {}.schema_migrations ORDER BY name").format(
            sql.Identifier(schema)
        )
    ).fetchall()
    assert [(name, checksum) for name, checksum, _ in recorded] == [
        (m.name, hashlib.sha256(m.sql).hexdigest()) for m in files
    ]
    assert all(applied_at is not None for _, _, applied_at in recorded)
    assert [s.state for s in status(pg, schema)] == ["applied"] * len(files)


def test_the_same_files_build_any_schema(pg: psycopg.Connection[Any], schema: str) -> None:
    other = f"{schema}_v2"
    try:
        migrate(pg, schema)
        migrate(pg, other)
        assert tables(pg, schema) == tables(pg, other) == TABLES
        # Nothing leaked into the connection's own search path.
        assert pg.execute("SHOW search_path").fetchone() == ('"$user", public',)
    finally:
        pg.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(other)))


def test_a_changed_applied_file_is_an_error(pg: psycopg.Connection[Any], schema: str) -> None:
    migrate(pg, schema)
    pg.execute(
        sql.SQL("UPDATE {}.schema_migrations SET checksum = 'edited'").format(
            sql.Identifier(schema)
        )
    )
    with pytest.raises(MigrationError, match="changed after it was applied"):
        migrate(pg, schema)
    assert next(s.state for s in status(pg, schema)) == "changed"


def test_migrate_refuses_a_connection_inside_a_transaction(settings: Settings, schema: str) -> None:
    with psycopg.connect(settings.postgres_dsn.get_secret_value()) as conn:
        conn.execute("SELECT 1")
        with pytest.raises(MigrationError, match="outside any transaction"):
            migrate(conn, schema)


def test_two_migrators_do_not_race(
    settings: Settings, pg: psycopg.Connection[Any], schema: str
) -> None:
    results: list[list[str]] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def run() -> None:
        try:
            with psycopg.connect(settings.postgres_dsn.get_secret_value(), autocommit=True) as c:
                barrier.wait()
                results.append(migrate(c, schema))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    # Each file is applied once, by whichever migrator holds the lock for it.
    assert sorted(name for r in results for name in r) == sorted(m.name for m in migrations())
    assert tables(pg, schema) == TABLES


def test_reader_can_select_but_not_write(
    settings: Settings, pg: psycopg.Connection[Any], schema: str
) -> None:
    migrate(pg, schema)
    s = sql.Identifier(schema)
    pg.execute(
        sql.SQL(
            "INSERT INTO {}.product (sku, version, status) VALUES ('SKU-1', 1, 'active')"
        ).format(s)
    )
    # A table a later migration adds is readable too (default privileges).
    pg.execute(sql.SQL("CREATE TABLE {}.later (x int)").format(s))

    with psycopg.connect(reader_dsn(settings), autocommit=True) as reader:
        assert reader.execute(sql.SQL("SELECT sku FROM {}.product").format(s)).fetchall() == [
            ("SKU-1",)
        ]
        assert reader.execute(sql.SQL("SELECT count(*) FROM {}.later").format(s)).fetchone() == (0,)
        for statement in (
            "INSERT INTO {}.product (sku, version, status) VALUES ('SKU-2', 1, 'active')",
            "UPDATE {}.current_price SET amount = 0",
            "CREATE TABLE {}.mine (x int)",
        ):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                reader.execute(sql.SQL(statement).format(s))


def test_db_cli_migrate_and_status(schema: str) -> None:
    runner = CliRunner()
    first = runner.invoke(db.app, ["migrate", "--schema", schema])
    assert first.exit_code == 0, first.output
    assert "applied" in first.output and "0001_pricing" in first.output
    second = runner.invoke(db.app, ["migrate", "--schema", schema])
    assert second.exit_code == 0 and "up to date" in second.output
    shown = runner.invoke(db.app, ["status", "--schema", schema])
    assert shown.exit_code == 0 and "applied" in shown.output and "0001_pricing" in shown.output
