"""`eventcart status`: per role and partition, position, end, lag, speed and dead letters."""

from __future__ import annotations

from typing import Annotated

import typer
from confluent_kafka import KafkaException
from rich.console import Console
from rich.table import Table

from ops import read_model_status
from ops.status import age, collect
from ops.worker_metrics import store_health
from read_models.registry import READ_MODELS
from schemas.config import preflight
from schemas.config.settings import get_settings

console = Console(width=120)


def status(
    sample: Annotated[
        float, typer.Option(help="seconds to watch the committed offsets move, for events/s")
    ] = 3.0,
    partitions: Annotated[bool, typer.Option(help="one line per partition too")] = True,
) -> None:
    """Show each consumer's committed position, the end of its topic, lag, events/s, dead letters.

    Lag is shown twice: in records, and as time ("behind"): the age of the
    oldest record the consumer has not taken yet, i.e. how stale what it
    serves may be. Read from Kafka alone, so a stopped worker is behind too.

    Exits 1 when a consumer is stalled: behind the end of its topic and not
    moving while watched (or with no worker in its group).
    """
    try:
        preflight.check(get_settings(), kafka=True)
        roles = collect(get_settings(), sample)
    except KafkaException as exc:
        console.print(f"[red]error[/] Kafka: {exc}")
        raise typer.Exit(2) from None
    table = Table(
        "consumer",
        "state",
        "workers",
        "partition",
        "committed",
        "end",
        "lag",
        "behind",
        "events/s",
        "DLQ",
    )
    for role in roles:
        state = "[red]STALLED[/]" if role.stalled else ("[green]ok[/]" if role.members else "idle")
        table.add_row(
            role.role,
            state,
            str(role.members),
            "all",
            "",
            "",
            str(role.lag),
            age(role.behind_s),
            f"{role.events_per_s:,.0f}",
            str(role.dead_letters),
        )
        if partitions:
            for p in role.partitions:
                table.add_row(
                    "",
                    "",
                    "",
                    str(p.partition),
                    "-" if p.committed is None else str(p.committed),
                    str(p.end),
                    str(p.lag),
                    age(p.behind_s),
                    f"{p.events_per_s:,.0f}",
                    "",
                )
    console.print(table)
    _store_health()
    _read_model_versions()
    if any(role.stalled for role in roles):
        raise typer.Exit(1)


def _store_health() -> None:
    """Projections on this host that are waiting for their store, and their retries."""
    settings = get_settings()
    for role in (model.role for model in READ_MODELS):
        health = store_health(settings, role)
        if health is None:
            continue
        if health.waiting_s:
            console.print(
                f"{role}: [yellow]waiting for its store[/] for {health.waiting_s:.0f} s "
                f"(batch retried with backoff; {health.retries} retries since start)"
            )
        elif health.retries:
            console.print(f"{role}: store reachable ({health.retries} retries since start)")


def _read_model_versions() -> None:
    """Which version of each read model is live, what a replay left behind, and running replays."""
    try:
        models = read_model_status.collect(get_settings())
    except Exception as exc:
        console.print(f"read models: not readable now ({type(exc).__name__})")
        return
    for model in models:
        running = ""
        if model.replay:
            done = f", {model.progress.percent:.0f}% built" if model.progress else ""
            running = f"; [yellow]replay running[/] ({model.replay}{done})"
        console.print(
            f"{model.name}: {model.live}; older versions kept: {', '.join(model.kept) or 'none'}"
            + running
        )
