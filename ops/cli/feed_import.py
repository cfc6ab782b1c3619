"""`eventcart import FILE`: a merchant's catalog file into eventcart, only what changed.

The work is ``producers.feeds.importer`` (the command API's upload route runs
the same); this module is the terminal around it: options, a progress bar over
the file's bytes, the report, and the refused rows' file.

Exit codes: 0 every row imported (or unchanged); 1 some rows or commands were
refused (see the refused file); 2 the file could not be read to its end (an
encoding, a header); 3 a store could not be read or Kafka did not take the
commands (run the same line again: it resumes, nothing is applied twice).
"""

from __future__ import annotations

import csv
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Literal

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from ops.catalog_view import CatalogUnavailableError, ReadModelCatalog
from producers.client import CommandClient, DeliveryError
from producers.feeds.importer import ImportOptions, ImportReport, run_import
from producers.feeds.read import RowError, parse_mapping
from schemas.config import preflight
from schemas.config.settings import get_settings
from schemas.local_time import LocalTimeError, parse_instant, zone

__all__ = ["REPORT_ROWS", "import_feed"]

console = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

#: The report's lines, in the order printed: (field of ImportReport, label).
REPORT_ROWS = (
    ("rows", "rows read"),
    ("registered", "products registered"),
    ("details", "details updated"),
    ("price", "prices changed"),
    ("stock", "stock set"),
    ("sale", "sales scheduled"),
    ("sale_cancelled", "sales cancelled"),
    ("discontinued", "discontinued"),
    ("unchanged", "unchanged"),
    ("refused", "refused"),
    ("sent", "commands sent"),
)


def _mapping(pairs: list[str]) -> dict[str, str]:
    try:
        return parse_mapping(pairs)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--map") from None


def _counted_at(text: str | None, tz: str, feed: Path) -> datetime:
    if text is None:
        return datetime.fromtimestamp(feed.stat().st_mtime, UTC)
    try:
        return parse_instant(text, tz)
    except LocalTimeError as exc:
        raise typer.BadParameter(str(exc), param_hint="--counted-at") from None


def _print(report: ImportReport, refused_file: Path | None) -> None:
    table = Table(title="dry run: what would change" if report.dry_run else "import")
    table.add_column("")
    table.add_column("count", justify="right")
    for name, label in REPORT_ROWS:
        table.add_row(label, f"{getattr(report, name):,}")
    console.print(table)
    for warning in report.warnings:
        err.print(f"warning: {warning}")
    if report.file_error:
        err.print(f"[red]the file was not read to its end:[/red] {report.file_error}")
    if report.refused and refused_file is not None:
        console.print(f"refused rows: {refused_file}")
    if report.position:
        console.print(f"read-your-writes token: {report.position}")


def import_feed(
    feed: Annotated[
        Path,
        typer.Argument(
            help="the feed: TSV/CSV (Merchant Center or plain) or JSON Lines",
            exists=True,
            dir_okay=False,
            show_default=False,
        ),
    ],
    format: Annotated[
        Literal["tsv", "csv", "jsonl"] | None,
        typer.Option(
            "--format", help="the file's format; detected from its first line if not given"
        ),
    ] = None,
    maps: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="a column of another name: COLUMN=FIELD, e.g. --map title=name (repeatable)",
        ),
    ] = None,
    tz: Annotated[
        str,
        typer.Option(
            "--tz", help="IANA zone of times without an offset (sale windows, --counted-at)"
        ),
    ] = "UTC",
    counted_at: Annotated[
        str | None,
        typer.Option(
            "--counted-at",
            help=(
                "when the feed's stock was counted (default: the file's modification time). "
                "Stock deliveries accepted after it are added to the feed's figure"
            ),
            show_default=False,
        ),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="count what would change, per kind; send nothing")
    ] = False,
    discontinue_missing: Annotated[
        bool,
        typer.Option(
            "--discontinue-missing",
            help="discontinue every active product the feed does not list (skipped if the file is not read to its end)",
        ),
    ] = False,
    refused: Annotated[
        Path | None,
        typer.Option(
            "--refused",
            help="where refused rows go, as CSV (default: FEED.refused.csv)",
            show_default=False,
        ),
    ] = None,
    wait: Annotated[
        float,
        typer.Option(
            "--wait",
            help="seconds to wait, at the end, until both read models show the import (0: do not wait)",
        ),
    ] = 0.0,
    timeout: Annotated[
        float, typer.Option("--timeout", help="seconds to wait for each answer")
    ] = 120.0,
) -> None:
    """Import a catalog file: each row is compared with the product as the read models
    show it, and only the commands for what changed are sent (register, details,
    regular price, stock, sale). Running the same file again sends nothing; after a
    crash it finishes the job without applying anything twice.

    Merchant Center columns (id, title, description, brand, product_type, price
    "29.99 EUR", sale_price, sale_price_effective_date, quantity, availability, ...)
    and eventcart's (sku, name, category_path, price + currency, stock, ...) are both
    understood; other columns become attributes.
    """
    settings = get_settings()
    if tz is not None:
        try:
            zone(tz)
        except LocalTimeError as exc:
            raise typer.BadParameter(str(exc), param_hint="--tz") from None
    options = ImportOptions(
        counted_at=_counted_at(counted_at, tz or "UTC", feed),
        format=format,
        mapping=_mapping(maps or []),
        tz=tz,
        dry_run=dry_run,
        discontinue_missing=discontinue_missing,
        timeout_s=timeout,
        import_id=f"import-{uuid.uuid4()}",
    )
    refused_path = refused or feed.with_name(feed.name + ".refused.csv")
    preflight.check(settings, kafka=not dry_run, elasticsearch=True, postgres_reader=True)
    code = 0
    with refused_path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(["line", "column", "field", "rule", "message"])

        def on_refused(error: RowError) -> None:
            writer.writerow(
                [error.line, error.column or "", error.field or "", error.rule, error.message]
            )

        try:
            with ReadModelCatalog(settings) as catalog:
                client = None if dry_run else CommandClient(settings)
                try:
                    report = _run(feed, catalog, client, options, on_refused)
                finally:
                    if client is not None:
                        client.close()
                _print(report, refused_path)
                if wait and report.position:
                    still = catalog.wait_shown(report.position, wait)
                    if still:
                        err.print(f"[yellow]not yet shown after {wait} s:[/yellow] {still}")
                    else:
                        console.print("both read models show the import")
        except (CatalogUnavailableError, DeliveryError) as exc:
            err.print(
                f"[red]error:[/red] {exc}\nrun the same command again: it resumes where it stopped"
            )
            code = 3
    if code == 0:
        code = 2 if report.file_error else 1 if report.refused else 0
    if not report.refused:
        refused_path.unlink(missing_ok=True)
    raise typer.Exit(code)


def _run(
    feed: Path,
    catalog: ReadModelCatalog,
    client: CommandClient | None,
    options: ImportOptions,
    on_refused: Callable[[RowError], None],
) -> ImportReport:
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TextColumn(
            "{task.fields[rows]:>10,} rows {task.fields[answered]:>10,}/{task.fields[sent]:,} answered"
        ),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=err, transient=False) as progress:
        task = progress.add_task(
            "dry run" if options.dry_run else "importing",
            total=feed.stat().st_size,
            rows=0,
            sent=0,
            answered=0,
        )

        def on_progress(report: ImportReport) -> None:
            progress.update(
                task,
                completed=report.bytes_read,
                rows=report.rows,
                sent=report.sent,
                answered=report.answered,
            )

        return run_import(
            feed, catalog, client, options, on_refused=on_refused, on_progress=on_progress
        )
