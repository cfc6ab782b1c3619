"""`eventcart schedule ...`: plan price changes and sales ahead, for one SKU or thousands.

Every SKU gets its own command (the processor decides per product). Running
the same line again, after a crash or a timeout half-way, is safe and finishes
the job: a schedule sent again unchanged is accepted with no event, so only the
SKUs that were missed change. ``--report`` writes every SKU's outcome.
"""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import psycopg
import typer
from rich.console import Console
from rich.table import Table

from ops.bulk import BulkOutcome, send_all
from producers import commands as build
from producers.client import CommandClient
from read_models.pricing.queries import PricingUnavailable
from read_models.pricing.schedule_models import PlannedStep
from read_models.pricing.schedule_queries import schedules_of
from read_models.query_stores import reader_dsn
from schemas.config import preflight
from schemas.config.settings import get_settings
from schemas.local_time import LocalTimeError, parse_instant, zone
from schemas.money import format_amount

app = typer.Typer(
    help=(
        "Plan price changes ahead: a regular price from an instant on, or a sale between "
        "two instants (then the regular price of that moment comes back). The processor "
        "applies each exactly once, on time, across crashes. Times are typed as "
        "'2026-11-27 00:00' in --tz (an IANA zone) or RFC 3339 with an offset."
    ),
    no_args_is_help=True,
)
console = Console(soft_wrap=True, width=160)
err = Console(stderr=True, soft_wrap=True)

Skus = Annotated[list[str] | None, typer.Argument(help="SKUs (or --skus-file)", show_default=False)]
SkusFile = Annotated[
    Path | None,
    typer.Option(
        "--skus-file",
        help="one SKU per line, optionally 'SKU,amount' for an amount per SKU",
        exists=True,
        dir_okay=False,
    ),
]
Tz = Annotated[str, typer.Option("--tz", help="IANA zone of the times typed, e.g. Europe/Berlin")]
Report = Annotated[
    Path | None, typer.Option("--report", help="write every SKU's outcome to this CSV file")
]
Timeout = Annotated[float, typer.Option("--timeout", help="seconds to wait for each answer")]


def instant(text: str, tz: str, option: str) -> datetime:
    try:
        return parse_instant(text, tz)
    except LocalTimeError as exc:
        err.print(f"[red]invalid[/] {option}: {exc}")
        raise typer.Exit(2) from None


def targets(skus: list[str] | None, skus_file: Path | None) -> list[tuple[str, str | None]]:
    """(sku, amount or None) from the arguments and the file, in order, without repeats."""
    found: dict[str, str | None] = {sku: None for sku in skus or []}
    if skus_file is not None:
        with skus_file.open(newline="") as fh:
            for row in csv.reader(fh):
                if row and row[0].strip() and not row[0].startswith("#"):
                    found[row[0].strip()] = row[1].strip() if len(row) > 1 else None
    if not found:
        err.print("[red]invalid[/] name at least one SKU, or --skus-file")
        raise typer.Exit(2)
    return list(found.items())


def run(
    items: list[tuple[str, dict[str, Any] | None, str]],
    description: str,
    report: Path | None,
    timeout: float,
) -> BulkOutcome:
    """Send one command per SKU with a progress bar; print (and write) every outcome."""
    rows: list[tuple[str, str, str]] = []
    with CommandClient(get_settings()) as client:
        outcome = send_all(
            client,
            iter(items),
            len(items),
            console=console,
            description=description,
            timeout_s=timeout,
            each=lambda sku, what, message: rows.append((sku, what, message)),
        )
    if report is not None:
        with report.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(["sku", "outcome", "message"])
            writer.writerows(sorted(rows))
    for problem in outcome.problems:
        err.print(problem, markup=False)
    console.print(f"{len(items)} SKUs: {outcome.summary()}")
    return outcome


@app.command("add")
def add(
    skus: Skus = None,
    skus_file: SkusFile = None,
    currency: Annotated[str, typer.Option(help="ISO 4217 code, e.g. EUR")] = "EUR",
    amount: Annotated[
        str | None, typer.Option(help="decimal amount (or per SKU in --skus-file)")
    ] = None,
    start: Annotated[str, typer.Option("--from", help="when it takes effect")] = "",
    until: Annotated[
        str | None, typer.Option("--until", help="makes it a sale that ends then")
    ] = None,
    tz: Tz = "UTC",
    schedule_id: Annotated[
        str | None,
        typer.Option("--id", help="its name per SKU; the same name again replaces it"),
    ] = None,
    campaign: Annotated[
        str | None, typer.Option(help="campaign id grouping these schedules")
    ] = None,
    report: Report = None,
    timeout: Timeout = 60.0,
) -> None:
    """Schedule a price change (or, with --until, a sale) for one or many SKUs.

    Example: a weekend sale on two SKUs, Berlin time:

      eventcart schedule add SKU-1 SKU-2 --amount 39.90 --currency EUR
        --from "2026-11-27 00:00" --until "2026-11-30 23:59" --tz Europe/Berlin
        --campaign black-friday
    """
    if not start:
        err.print("[red]invalid[/] --from is required: when the price takes effect")
        raise typer.Exit(2)
    starts_at = instant(start, tz, "--from")
    ends_at = instant(until, tz, "--until") if until else None
    name = schedule_id or campaign or f"{'sale' if ends_at else 'price'}-{starts_at:%Y%m%dT%H%M%SZ}"
    items: list[tuple[str, dict[str, Any] | None, str]] = []
    for sku, own_amount in targets(skus, skus_file):
        value = own_amount or amount
        if value is None:
            items.append((sku, None, "no amount: give --amount or one per SKU in the file"))
            continue
        command = build.schedule_price_change(
            sku, name, value, currency, starts_at, ends_at=ends_at, campaign_id=campaign
        )
        items.append((sku, command, ""))
    outcome = run(items, f"scheduling {name}", report, timeout)
    if not outcome.all_accepted:
        raise typer.Exit(1)


@app.command("cancel")
def cancel(
    skus: Skus = None,
    skus_file: SkusFile = None,
    schedule_id: Annotated[str, typer.Option("--id", help="the schedule's name")] = "",
    reason: Annotated[str | None, typer.Option(help="why, kept in the event")] = None,
    report: Report = None,
    timeout: Timeout = 60.0,
) -> None:
    """Cancel a schedule before it takes effect, or end a running sale now.

    Run again, the SKUs already done answer schedule_not_found (cancelled) or
    schedule_already_effective (it had taken effect)."""
    if not schedule_id:
        err.print("[red]invalid[/] --id is required: the schedule to cancel")
        raise typer.Exit(2)
    items: list[tuple[str, dict[str, Any] | None, str]] = [
        (
            sku,
            build.cancel_scheduled_price_change(sku, schedule_id, reason=reason),
            "",
        )
        for sku, _ in targets(skus, skus_file)
    ]
    outcome = run(items, f"cancelling {schedule_id}", report, timeout)
    if not outcome.all_accepted:
        raise typer.Exit(1)


@app.command("list")
def list_schedules(
    sku: Annotated[str, typer.Argument(help="the product's SKU")],
    include_finished: Annotated[
        bool, typer.Option("--all", help="also those done, cancelled or missed")
    ] = False,
    tz: Tz = "UTC",
) -> None:
    """A product's schedules: each step to come, the price after it, and for a sale
    the EU Omnibus reference it will be compared with when it starts."""
    settings = get_settings()
    preflight.check(settings, postgres_reader=True)
    try:
        with psycopg.connect(reader_dsn(settings), autocommit=True, connect_timeout=5) as conn:
            found = schedules_of(conn, settings.pricing_schema, sku, include_finished)
    except (psycopg.OperationalError, PricingUnavailable) as exc:
        err.print(f"[red]error[/] pricing is unavailable: {exc}")
        raise typer.Exit(3) from None
    if found is None:
        err.print(f"[red]error[/] no product {sku}")
        raise typer.Exit(1)
    where = zone(tz)
    table = Table("schedule", "currency", "step", "planned for", "price after", "status", "omnibus")
    for change in found.schedules:
        omnibus = "-"
        if change.omnibus is not None:
            lowest = change.omnibus.lowest_30_days
            omnibus = (
                f"lowest 30 d {format_amount(lowest) if lowest is not None else '-'}; "
                f"{'a reduction' if change.omnibus.is_reduction else 'no reduction'}"
            )
        steps: list[PlannedStep | None] = list(change.steps) or [None]
        for step in steps:
            when = step.planned_at if step else change.starts_at
            after = (
                f"{format_amount(step.price.amount)} {step.price.price_type}"
                if step and step.price
                else (step.outcome if step else "-")
            )
            table.add_row(
                change.schedule_id,
                change.currency,
                step.step if step else "-",
                when.astimezone(where).strftime("%Y-%m-%d %H:%M:%S %Z"),
                after,
                change.status,
                omnibus if (step is None or step.step == "start") else "",
            )
    console.print(table)
