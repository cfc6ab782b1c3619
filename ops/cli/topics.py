"""`eventcart topics ...`: create and list eventcart's Kafka topics."""

from __future__ import annotations

import typer
from confluent_kafka import KafkaException
from rich.console import Console

from ops import topics
from schemas.config import preflight
from schemas.config.settings import get_settings
from schemas.topics import FOREVER
from schemas.topics import specs as topic_specs

app = typer.Typer(
    help="Kafka topics of eventcart (names, partitions, retention).", no_args_is_help=True
)
console = Console()


@app.callback()
def _credentials_accepted() -> None:
    """Every sub-command talks to Kafka: a refused login stops here, by name."""
    preflight.check(get_settings(), kafka=True)


@app.command()
def create() -> None:
    """Create every topic that does not exist yet (idempotent: existing ones are left alone).

    Partitions come from EVENTCART_PARTITIONS. Replication follows the cluster:
    3 replicas with min.insync.replicas 2 when it has three brokers or more, 1
    on a single broker (EVENTCART_REPLICATION_FACTOR and
    EVENTCART_MIN_INSYNC_REPLICAS override it). The product events topic is
    kept forever.
    """
    try:
        outcomes = topics.create(get_settings())
    except KafkaException as exc:
        console.print(f"[red]error[/] Kafka: {exc}")
        raise typer.Exit(1) from None
    for outcome in outcomes:
        colour = {"created": "green", "exists": "dim", "mismatch": "yellow"}[outcome.state]
        console.print(f"[{colour}]{outcome.state:<8}[/] {outcome.name}  {outcome.detail}")
    if any(outcome.state == "mismatch" for outcome in outcomes):
        raise typer.Exit(1)


@app.command("list")
def list_() -> None:
    """Show each topic's name, partitions, retention and purpose."""
    for spec in topic_specs(get_settings(), get_settings().kafka_brokers):
        retention = spec.config.get("retention.ms")
        if spec.config.get("cleanup.policy") == "compact":
            kept = "latest"  # a compacted topic keeps each key's last record
        elif retention is None:
            kept = "default"  # the broker's log.retention
        elif retention == FOREVER:
            kept = "forever"
        else:
            kept = f"{int(retention) // 86_400_000} d"
        console.print(
            f"{spec.name:<40} {spec.partitions:>3} partitions  kept {kept:<8} {spec.purpose}"
        )
