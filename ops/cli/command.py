"""`eventcart command ...`: send catalog commands from the shell, one at a time or in bulk.

Exit codes, so scripts can branch: 0 accepted, 1 rejected by a business rule,
2 invalid input (the field and the rule are printed), 3 no answer in time,
4 Kafka unreachable, 5 Kafka refused the connection settings (the setting is named).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import orjson
import typer
from confluent_kafka import KafkaException
from rich.console import Console

from ops.bulk import send_all
from producers import commands as build
from producers.client import CommandClient, CommandTimeoutError, DeliveryError
from producers.results import CommandResult
from schemas.config.settings import get_settings
from schemas.errors import ContractError

app = typer.Typer(
    help=(
        "Send commands to the catalog. Each waits for the processor's answer unless "
        "--no-wait. Exit code: 0 accepted, 1 rejected, 2 invalid input, 3 timeout, "
        "4 Kafka unreachable, 5 credentials or TLS settings refused."
    ),
    no_args_is_help=True,
)
console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

Sku = Annotated[str, typer.Option("--sku", help="the product's SKU (the Kafka key)")]
ExpectedVersion = Annotated[
    int | None,
    typer.Option("--expected-version", help="refuse unless the product is at this version"),
]
CommandId = Annotated[
    str | None,
    typer.Option("--command-id", help="idempotency key; resending it is answered, not redone"),
]
NoWait = Annotated[bool, typer.Option("--no-wait", help="send and return without the result")]
AsJson = Annotated[bool, typer.Option("--json", help="print the result as JSON")]
Timeout = Annotated[float, typer.Option("--timeout", help="seconds to wait for the result")]

#: Namespace of command ids derived from bulk-file lines, so re-sending a file is idempotent.
BULK_NAMESPACE = uuid.UUID("6f1b7f0e-4c1a-5d7e-9a53-0d8f6c3b2e41")


def _envelope(command_id: str | None, expected_version: int | None) -> dict[str, Any]:
    return {"command_id": command_id, "expected_version": expected_version}


def _print_result(result: CommandResult, as_json: bool) -> None:
    if as_json:
        console.print_json(result.model_dump_json(exclude_none=True))
        return
    if result.accepted:
        where = ", ".join(f"partition {p.partition} offset {p.offset}" for p in result.positions)
        console.print(
            f"[green]accepted[/] {result.sku} now at version {result.version}"
            + (f" ({where})" if where else " (no change)")
        )
    else:
        detail = f" [{result.field}: {result.rule}]" if result.field else ""
        console.print(f"[red]rejected[/] {result.sku}: {result.reason}: {result.message}{detail}")


def _send(command: dict[str, Any], no_wait: bool, as_json: bool, timeout_s: float) -> None:
    resend = (
        f"send it again with --command-id {command['command_id']} "
        "(a known command id is answered, never applied twice)"
    )
    try:
        client = CommandClient(get_settings())
        try:
            if no_wait:
                client.send_nowait(command)
                client.flush(timeout_s)
                console.print(f"sent {command['command_id']}")
                return
            result = client.send(command, timeout_s=timeout_s)
        finally:
            # Bounded: with Kafka away, a command still queued must not hold the shell.
            client.close(timeout_s=min(timeout_s, 10.0))
    except ContractError as exc:
        err.print(f"[red]invalid[/] {exc.field}: {exc.message} (rule: {exc.rule})")
        raise typer.Exit(2) from None
    except CommandTimeoutError as exc:
        err.print(f"[yellow]timeout[/] {exc}; {resend}")
        raise typer.Exit(3) from None
    except (DeliveryError, KafkaException) as exc:
        err.print(f"[red]Kafka unreachable[/] {exc}; {resend}")
        raise typer.Exit(4) from None
    _print_result(result, as_json)
    if not result.accepted:
        raise typer.Exit(1)


@app.command("register-product")
def register_product(
    sku: Sku,
    name: Annotated[str, typer.Option(help="display name")],
    description: Annotated[str | None, typer.Option(help="long description")] = None,
    brand: Annotated[str | None, typer.Option(help="brand")] = None,
    category: Annotated[
        list[str] | None, typer.Option(help="category path, outermost first (repeat)")
    ] = None,
    attribute: Annotated[
        list[str] | None, typer.Option(help="attribute as key=value (repeat)")
    ] = None,
    tag: Annotated[list[str] | None, typer.Option(help="tag (repeat)")] = None,
    expected_version: ExpectedVersion = None,
    command_id: CommandId = None,
    no_wait: NoWait = False,
    as_json: AsJson = False,
    timeout: Timeout = 30.0,
) -> None:
    """Register a new product (rejected if the SKU exists)."""
    attributes = dict(pair.split("=", 1) for pair in attribute or [] if "=" in pair)
    command = build.register_product(
        sku,
        name,
        description=description,
        brand=brand,
        category_path=category,
        attributes=attributes or None,
        tags=tag,
        **_envelope(command_id, expected_version),
    )
    _send(command, no_wait, as_json, timeout)


@app.command("update-details")
def update_details(
    sku: Sku,
    name: Annotated[str | None, typer.Option(help="new display name")] = None,
    description: Annotated[str | None, typer.Option(help="new description")] = None,
    brand: Annotated[str | None, typer.Option(help="new brand")] = None,
    category: Annotated[list[str] | None, typer.Option(help="new category path (repeat)")] = None,
    tag: Annotated[list[str] | None, typer.Option(help="new tags (repeat)")] = None,
    expected_version: ExpectedVersion = None,
    command_id: CommandId = None,
    no_wait: NoWait = False,
    as_json: AsJson = False,
    timeout: Timeout = 30.0,
) -> None:
    """Change a product's details (only the fields given)."""
    command = build.update_product_details(
        sku,
        name=name,
        description=description,
        brand=brand,
        category_path=category,
        tags=tag,
        **_envelope(command_id, expected_version),
    )
    _send(command, no_wait, as_json, timeout)


@app.command("change-price")
def change_price(
    sku: Sku,
    amount: Annotated[str, typer.Option(help="decimal amount, e.g. 19.99 (never a float)")],
    currency: Annotated[str, typer.Option(help="ISO 4217 code, e.g. EUR")],
    sale: Annotated[bool, typer.Option("--sale", help="a sale price, not the regular one")] = False,
    expected_version: ExpectedVersion = None,
    command_id: CommandId = None,
    no_wait: NoWait = False,
    as_json: AsJson = False,
    timeout: Timeout = 30.0,
) -> None:
    """Set the product's price in one currency."""
    command = build.change_price(
        sku,
        amount,
        currency,
        price_type="sale" if sale else "regular",
        **_envelope(command_id, expected_version),
    )
    _send(command, no_wait, as_json, timeout)


@app.command("adjust-stock")
def adjust_stock(
    sku: Sku,
    delta: Annotated[int, typer.Option(help="units to add (negative to remove)")],
    reason: Annotated[str | None, typer.Option(help="why, for the audit trail")] = None,
    expected_version: ExpectedVersion = None,
    command_id: CommandId = None,
    no_wait: NoWait = False,
    as_json: AsJson = False,
    timeout: Timeout = 30.0,
) -> None:
    """Add or remove stock (rejected if it would go below zero)."""
    command = build.adjust_stock(
        sku, delta, reason=reason, **_envelope(command_id, expected_version)
    )
    _send(command, no_wait, as_json, timeout)


@app.command("set-stock")
def set_stock(
    sku: Sku,
    quantity: Annotated[int, typer.Option(help="the stock counted")],
    counted_at: Annotated[
        str,
        typer.Option(
            help="when it was counted, RFC 3339 with an offset; adjustments accepted after "
            "it are added to the count"
        ),
    ],
    reason: Annotated[str | None, typer.Option(help="why, for the audit trail")] = None,
    expected_version: ExpectedVersion = None,
    command_id: CommandId = None,
    no_wait: NoWait = False,
    as_json: AsJson = False,
    timeout: Timeout = 30.0,
) -> None:
    """Set the stock from a count: the count plus every adjustment accepted after
    --counted-at (refused when the count is older than the adjustments the product
    remembers, or in the future)."""
    command = build.set_stock(
        sku, quantity, counted_at, reason=reason, **_envelope(command_id, expected_version)
    )
    _send(command, no_wait, as_json, timeout)


@app.command("discontinue")
def discontinue(
    sku: Sku,
    reason: Annotated[str | None, typer.Option(help="why")] = None,
    expected_version: ExpectedVersion = None,
    command_id: CommandId = None,
    no_wait: NoWait = False,
    as_json: AsJson = False,
    timeout: Timeout = 30.0,
) -> None:
    """Discontinue a product (it leaves search; its prices close)."""
    command = build.discontinue_product(
        sku, reason=reason, **_envelope(command_id, expected_version)
    )
    _send(command, no_wait, as_json, timeout)


def read_commands(path: Path) -> Iterator[tuple[int, dict[str, Any] | None, str]]:
    """(line number, command or None, problem) for each non-blank line of a JSONL file.

    A line may be a full command or just ``{"type", "sku", "data"}`` (plus any
    envelope fields): the rest is filled in. A missing command_id is derived
    from the line itself, so sending the same file twice changes nothing.
    """
    with path.open("rb") as fh:
        for number, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                raw = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                yield number, None, f"not JSON: {exc}"
                continue
            if not isinstance(raw, dict) or not {"type", "sku", "data"} <= raw.keys():
                yield number, None, "needs at least type, sku and data"
                continue
            raw.setdefault("command_id", str(uuid.uuid5(BULK_NAMESPACE, line.strip().decode())))
            envelope = build.command(
                str(raw["type"]), str(raw["sku"]), raw["data"], command_id=raw["command_id"]
            )
            yield number, {**envelope, **raw}, ""


@app.command("send")
def send_file(
    path: Annotated[
        Path, typer.Argument(help="JSON Lines file, one command per line", exists=True)
    ],
    no_wait: NoWait = False,
    window: Annotated[int, typer.Option(help="commands in flight at most")] = 20_000,
    timeout: Timeout = 120.0,
) -> None:
    """Send every command of a JSONL file, with a progress bar and a summary.

    Invalid lines are reported with their line number and not sent; the rest
    go on. Exit code 0 when every line was accepted, 1 otherwise.
    """
    total = sum(1 for line in path.open("rb") if line.strip())
    items = (
        (f"line {number}", command, problem) for number, command, problem in read_commands(path)
    )
    with CommandClient(get_settings()) as client:
        outcome = send_all(
            client, items, total, console=console, no_wait=no_wait, window=window, timeout_s=timeout
        )
    for problem in outcome.problems:
        err.print(problem, markup=False)
    console.print(f"{total} lines: {outcome.summary()}")
    if not outcome.all_accepted:
        raise typer.Exit(1)
