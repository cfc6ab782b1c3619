"""The `eventcart` command: one entry point for operators, with a sub-command per area
(one module each in this package; what they do is in the rest of ``ops/``)."""

from __future__ import annotations

import typer

from ops.cli import (
    api,
    campaign,
    command,
    db,
    dlq,
    exporter,
    feed_import,
    query,
    replay,
    schedule,
    stack,
    status,
    topics,
    up,
    verify,
    watch,
    worker,
)
from schemas.config.api_exposure import UnsafeExposureError
from schemas.config.preflight import CredentialsRejectedError

app = typer.Typer(
    help="eventcart: CQRS for an e-commerce catalog on Kafka. Run a sub-command with --help.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.command("up")(up.up)
app.command("down")(up.down)
app.add_typer(stack.app, name="stack")
app.add_typer(topics.app, name="topics")
app.command("worker")(worker.worker)
app.add_typer(command.app, name="command")
app.add_typer(schedule.app, name="schedule")
app.add_typer(campaign.app, name="campaign")
app.add_typer(api.app, name="api")
app.command("status")(status.status)
app.command("exporter")(exporter.exporter)
app.command("replay")(replay.replay)
app.command("verify")(verify.verify)
app.command("import")(feed_import.import_feed)
app.add_typer(dlq.app, name="dlq")
app.add_typer(db.app, name="db")
app.command("search")(query.search_command)
app.command("price")(query.price_command)
app.command("watch")(watch.watch)


def main() -> None:
    """Run the CLI; a store that refuses the connection settings, or an API told to
    listen beyond loopback with the default token, ends it with one line naming the
    setting to fix and exit code 5, never a traceback or a hang."""
    try:
        app()
    except (CredentialsRejectedError, UnsafeExposureError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise SystemExit(5) from None
