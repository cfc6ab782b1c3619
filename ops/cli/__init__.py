"""The `eventcart` command: one entry point for operators, with a sub-command per area."""

from __future__ import annotations

import typer

from ops import (
    api_cli,
    command_cli,
    db_cli,
    dlq_cli,
    query_cli,
    replay_cli,
    stack_cli,
    status_cli,
    topics_cli,
    up_cli,
    verify_cli,
    worker_cli,
)
from schemas.api_exposure import UnsafeExposureError
from schemas.preflight import CredentialsRejectedError

app = typer.Typer(
    help="eventcart: CQRS for an e-commerce catalog on Kafka. Run a sub-command with --help.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.command("up")(up_cli.up)
app.command("down")(up_cli.down)
app.add_typer(stack_cli.app, name="stack")
app.add_typer(topics_cli.app, name="topics")
app.command("worker")(worker_cli.worker)
app.add_typer(command_cli.app, name="command")
app.add_typer(api_cli.app, name="api")
app.command("status")(status_cli.status)
app.command("replay")(replay_cli.replay)
app.command("verify")(verify_cli.verify)
app.add_typer(dlq_cli.app, name="dlq")
app.add_typer(db_cli.app, name="db")
app.command("search")(query_cli.search_command)
app.command("price")(query_cli.price_command)


def main() -> None:
    """Run the CLI; a store that refuses the connection settings, or an API told to
    listen beyond loopback with the default token, ends it with one line naming the
    setting to fix and exit code 5, never a traceback or a hang."""
    try:
        app()
    except (CredentialsRejectedError, UnsafeExposureError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(5) from None


if __name__ == "__main__":
    main()
