"""`eventcart db ...`: the PostgreSQL schema of the pricing read model."""

from __future__ import annotations

import psycopg
import typer
from rich.console import Console

from read_models.pricing.migrate import MigrationError, migrate, status
from schemas.config import preflight
from schemas.config.connections import postgres_conninfo
from schemas.config.settings import get_settings

app = typer.Typer(
    help="PostgreSQL read model schema (pricing): migrations and their state.",
    no_args_is_help=True,
)
console = Console()

SchemaOption = typer.Option("pricing", "--schema", help="Schema to migrate (e.g. pricing_v2).")


def _connect() -> psycopg.Connection[tuple[object, ...]]:
    preflight.check(get_settings(), postgres=True)
    try:
        return psycopg.connect(
            postgres_conninfo(get_settings()), autocommit=True, connect_timeout=10
        )
    except psycopg.OperationalError as exc:
        console.print(f"[red]error[/] PostgreSQL: {exc}")
        raise typer.Exit(1) from None


@app.command("migrate")
def migrate_(schema: str = SchemaOption) -> None:
    """Apply the pending migrations (idempotent) and grant the read-only role."""
    with _connect() as conn:
        try:
            applied = migrate(conn, schema)
        except MigrationError as exc:
            console.print(f"[red]error[/] {exc}")
            raise typer.Exit(1) from None
    if not applied:
        console.print(f"schema {schema}: up to date")
    for name in applied:
        console.print(f"[green]applied[/] {schema}.{name}")


@app.command("status")
def status_(schema: str = SchemaOption) -> None:
    """List the migrations: applied (with when), pending, changed since applied, unknown."""
    with _connect() as conn:
        states = status(conn, schema)
    colours = {"applied": "green", "pending": "yellow", "changed": "red", "unknown": "dim"}
    for state in states:
        when = state.applied_at.isoformat(timespec="seconds") if state.applied_at else ""
        console.print(f"[{colours[state.state]}]{state.state:<8}[/] {state.name}  {when}")
    if any(state.state == "changed" for state in states):
        raise typer.Exit(1)
