"""`eventcart verify`: compare the read models with the events topic, and repair the drift."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from ops import verify as checks
from schemas.config import preflight
from schemas.config.settings import get_settings
from streams import event_log

console = Console(soft_wrap=True)


def verify(
    model: Annotated[str, typer.Argument(help="search, pricing or all")] = "all",
    repair: Annotated[
        bool,
        typer.Option(
            "--repair",
            help="rewrite the drifted products from their history (through the read models' "
            "sinks), then check them again",
        ),
    ] = False,
    report: Annotated[
        Path | None, typer.Option("--report", help="write the whole result as JSON to this file")
    ] = None,
    show: Annotated[int, typer.Option(help="drifts listed in the table (all go to --report)")] = 50,
) -> None:
    """Check that Elasticsearch and PostgreSQL hold exactly what the events topic says.

    Every product's history is folded with the projection code the live workers
    run and compared with the read models (missing, stale version, different
    field, or a product no event names). Read-only unless --repair; it does not
    disturb the live projections. Exits 1 when drift remains, 0 when none.
    """
    settings = get_settings()
    preflight.check(settings, kafka=True, elasticsearch=True, postgres=True)
    models = checks.MODELS if model == "all" else (model,)
    if any(m not in checks.MODELS for m in models):
        console.print(f"[red]error[/] unknown read model {model!r}: search, pricing or all")
        raise typer.Exit(2)
    ends = event_log.end_offsets(settings)
    bars = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=console,
    )
    tasks = {
        p: bars.add_task(f"partition {p}", total=high - low) for p, (low, high) in ends.items()
    }
    with bars:
        result = checks.verify(
            settings,
            models,
            repair=repair,
            progress=lambda p, read: bars.update(tasks[p], completed=read) if p in tasks else None,
        )
    if report is not None:
        report.write_text(json.dumps(result.as_json(), indent=2, default=str))
    console.print(
        f"{result.skus:,} products checked in {', '.join(result.models)} "
        f"({result.events:,} events, {result.seconds:.1f} s, "
        f"{result.skus / max(result.seconds, 1e-9):,.0f} products/s); "
        f"{result.ahead} already ahead of the log's end when read"
    )
    if result.repaired:
        console.print(
            "repaired: " + ", ".join(f"{n} in {m}" for m, n in sorted(result.repaired.items()))
        )
    if not result.drifts:
        console.print("[green]no drift[/]")
        return
    table = Table("read model", "sku", "drift", "detail")
    for drift in result.drifts[:show]:
        table.add_row(drift.model, drift.sku, drift.kind, drift.detail)
    console.print(table)
    more = len(result.drifts) - show
    console.print(
        f"[red]{len(result.drifts)} drift(s)[/]" + (f" ({more} not shown)" if more > 0 else "")
    )
    raise typer.Exit(1)
