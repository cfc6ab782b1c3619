"""`eventcart campaign list|show|move|cancel`: the schedules of many SKUs as one.

A campaign is the ``campaign_id`` its schedules carry. Listing and showing read
the pricing read model. Moving and cancelling read which schedules the
campaign has there, then send one command per SKU (the processor decides per
product) with a progress bar and a per-SKU report. Both are safe to run again
after an interruption: ``move --to`` sets every schedule to the same new
window, so a schedule already moved is sent unchanged (accepted, no event);
``cancel`` only selects what is still planned or running.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import psycopg
import typer
from rich.console import Console
from rich.table import Table

from ops.cli.schedule import Report, Timeout, Tz, instant, run
from producers import commands as build
from read_models.pricing import schedule_queries as schedules
from read_models.pricing.campaign_rows import campaign_schedules
from read_models.pricing.queries import PricingUnavailable
from read_models.query_stores import reader_dsn
from schemas.config import preflight
from schemas.config.settings import get_settings
from schemas.local_time import LocalTimeError, zone
from schemas.money import format_amount

app = typer.Typer(
    help=(
        "Campaigns: schedules of many SKUs grouped by a campaign id "
        "(`eventcart schedule add ... --campaign ID`), listed, moved and cancelled as one."
    ),
    no_args_is_help=True,
)
console = Console(soft_wrap=True, width=160)
err = Console(stderr=True, soft_wrap=True)


def _connect() -> psycopg.Connection[Any]:
    settings = get_settings()
    preflight.check(settings, postgres_reader=True)
    try:
        return psycopg.connect(reader_dsn(settings), autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as exc:
        err.print(f"[red]error[/] pricing is unavailable: {exc}")
        raise typer.Exit(3) from None


def _local(value: datetime | None, tz: str) -> str:
    if value is None:
        return "-"
    try:
        return value.astimezone(zone(tz)).strftime("%Y-%m-%d %H:%M:%S %Z")
    except LocalTimeError as exc:
        err.print(f"[red]invalid[/] --tz: {exc}")
        raise typer.Exit(2) from None


@app.command("list")
def list_campaigns(tz: Tz = "UTC") -> None:
    """Every campaign with its schedules per status, first start and last end."""
    rows, after = [], None
    with _connect() as conn:
        while True:
            try:
                page = schedules.campaigns(conn, get_settings().pricing_schema, after, limit=1000)
            except PricingUnavailable as exc:
                err.print(f"[red]error[/] {exc}")
                raise typer.Exit(3) from None
            rows += page.campaigns
            if page.next_after is None:
                break
            after = page.next_after
    table = Table(
        "campaign", "SKUs", "planned", "running", "done", "cancelled", "missed", "starts", "ends"
    )
    for c in rows:
        n = c.counts
        table.add_row(
            c.campaign_id,
            str(c.skus),
            *(str(v) for v in (n.planned, n.running, n.done, n.cancelled, n.missed)),
            _local(c.starts_at, tz),
            _local(c.ends_at, tz),
        )
    console.print(table)


@app.command("show")
def show(
    campaign_id: Annotated[str, typer.Argument(help="the campaign id")],
    tz: Tz = "UTC",
    limit: Annotated[int, typer.Option(help="schedules to list (1-10000)")] = 50,
) -> None:
    """A campaign's progress (schedules per status) and its schedules across SKUs."""
    with _connect() as conn:
        found = schedules.campaign(conn, get_settings().pricing_schema, campaign_id, limit)
    if found is None:
        err.print(f"[red]error[/] no campaign {campaign_id}")
        raise typer.Exit(1)
    n = found.counts
    console.print(
        f"campaign {found.campaign_id}: {found.total} schedules over {found.skus} SKUs, "
        f"{_local(found.starts_at, tz)} to {_local(found.ends_at, tz)}\n"
        f"planned {n.planned}, running {n.running}, done {n.done}, "
        f"cancelled {n.cancelled}, missed {n.missed}"
    )
    table = Table("sku", "schedule", "currency", "amount", "type", "starts", "ends", "status")
    for s in found.schedules:
        table.add_row(
            s.sku,
            s.schedule_id,
            s.currency,
            format_amount(s.amount),
            s.price_type,
            _local(s.starts_at, tz),
            _local(s.ends_at, tz),
            s.status,
        )
    console.print(table)
    if found.truncated:
        console.print(f"(the first {limit}; --limit shows more)")


@app.command("move")
def move(
    campaign_id: Annotated[str, typer.Argument(help="the campaign id")],
    to: Annotated[str, typer.Option("--to", help="the new start of every schedule")] = "",
    until: Annotated[
        str | None, typer.Option("--until", help="the new end of every sale (default: same length)")
    ] = None,
    tz: Tz = "UTC",
    report: Report = None,
    timeout: Timeout = 60.0,
) -> None:
    """Move every planned schedule of the campaign to a new window; running ones stay.

    Example: eventcart campaign move black-friday --to "2026-12-04 00:00"
      --until "2026-12-07 23:59" --tz Europe/Berlin
    """
    if not to:
        err.print("[red]invalid[/] --to is required: the new start")
        raise typer.Exit(2)
    starts_at = instant(to, tz, "--to")
    ends_at = instant(until, tz, "--until") if until else None
    items: list[tuple[str, dict[str, Any] | None, str]] = []
    running: list[str] = []
    with _connect() as conn:
        for s in campaign_schedules(conn, get_settings().pricing_schema, campaign_id):
            if s.status == "running":
                running.append(s.sku)
                continue
            end = None
            if s.price_type == "sale":
                assert s.ends_at is not None
                end = ends_at or starts_at + (s.ends_at - s.starts_at)
            command = build.schedule_price_change(
                s.sku,
                s.schedule_id,
                format_amount(s.amount),
                s.currency,
                starts_at,
                ends_at=end,
                campaign_id=campaign_id,
            )
            items.append((f"{s.sku}/{s.schedule_id}", command, ""))
    for sku in running:
        err.print(f"{sku}: running already, not moved (cancel it to end it now)", markup=False)
    if not items:
        console.print(f"nothing planned in campaign {campaign_id} to move")
        raise typer.Exit(1 if running else 0)
    outcome = run(items, f"moving {campaign_id}", report, timeout)
    if not outcome.all_accepted or running:
        raise typer.Exit(1)


@app.command("cancel")
def cancel(
    campaign_id: Annotated[str, typer.Argument(help="the campaign id")],
    reason: Annotated[str | None, typer.Option(help="why, kept in the events")] = None,
    report: Report = None,
    timeout: Timeout = 60.0,
) -> None:
    """Cancel every planned schedule of the campaign and end its running sales now."""
    with _connect() as conn:
        items: list[tuple[str, dict[str, Any] | None, str]] = [
            (
                f"{s.sku}/{s.schedule_id}",
                build.cancel_scheduled_price_change(s.sku, s.schedule_id, reason=reason),
                "",
            )
            for s in campaign_schedules(conn, get_settings().pricing_schema, campaign_id)
        ]
    if not items:
        console.print(f"nothing planned or running in campaign {campaign_id}")
        return
    outcome = run(items, f"cancelling {campaign_id}", report, timeout)
    if not outcome.all_accepted:
        raise typer.Exit(1)
