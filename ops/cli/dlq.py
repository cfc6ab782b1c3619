"""`eventcart dlq ...`: inspect and re-drive dead letters of a consumer."""

from __future__ import annotations

from typing import Annotated

import orjson
import typer
from rich.console import Console
from rich.table import Table

from ops import dlq
from schemas.config import preflight
from schemas.config.settings import get_settings

app = typer.Typer(
    help="Dead letters of a consumer: command-processor, search-projection, pricing-projection "
    "(or processor, search, pricing).",
    no_args_is_help=True,
)
console = Console(width=160)


@app.callback()
def _credentials_accepted() -> None:
    """Every sub-command talks to Kafka: a refused login stops here, by name."""
    preflight.check(get_settings(), kafka=True)


Consumer = Annotated[str, typer.Argument(help="processor, search or pricing")]


def _consumer(name: str) -> str:
    try:
        return dlq.consumer_name(name)
    except ValueError as exc:
        console.print(f"[red]error[/] {exc}")
        raise typer.Exit(2) from None


@app.command("list")
def list_(
    consumer: Consumer,
    limit: Annotated[int, typer.Option(help="the most recent N")] = 50,
) -> None:
    """One line per dead letter: where it came from and why it failed."""
    letters = dlq.read(get_settings(), _consumer(consumer), limit)
    table = Table("dlq offset", "from", "key", "rule", "reason", "failed at")
    for letter in letters:
        r = letter.record
        table.add_row(
            str(letter.dlq_offset),
            f"{r['partition']}@{r['offset']}",
            str(r.get("key")),
            r["error"].get("rule", ""),
            r["error"].get("message", "")[:80],
            r["failed_at"][:19],
        )
    console.print(table)
    console.print(f"{len(letters)} dead letter(s)")


@app.command()
def show(consumer: Consumer, offset: Annotated[int, typer.Argument(help="dlq offset")]) -> None:
    """The whole dead-letter record, original value included."""
    for letter in dlq.read(get_settings(), _consumer(consumer)):
        if letter.dlq_offset == offset:
            console.print_json(orjson.dumps(letter.record).decode())
            return
    console.print(f"[red]no dead letter at offset {offset}[/]")
    raise typer.Exit(1)


@app.command()
def replay(
    consumer: Consumer,
    offset: Annotated[
        list[int] | None, typer.Option("--offset", help="only these dlq offsets (repeat)")
    ] = None,
) -> None:
    """Re-drive dead letters through the consumer's own code, once the cause is fixed.

    Projections: the event is decoded and applied by the same sink as the live
    worker (idempotent by SKU version). Commands: the original record is produced
    again to the commands topic. Exit 1 if any failed again.
    """
    name = _consumer(consumer)
    letters = [
        letter
        for letter in dlq.read(get_settings(), name)
        if offset is None or letter.dlq_offset in offset
    ]
    outcomes = dlq.redrive(get_settings(), name, letters)
    for outcome in outcomes:
        console.print(f"{outcome.dlq_offset}: {outcome.outcome} {outcome.detail}")
    console.print(f"{len(outcomes)} re-driven")
    if any(o.outcome == "failed again" for o in outcomes):
        raise typer.Exit(1)
