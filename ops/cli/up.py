"""`eventcart up` / `eventcart down`: the whole system, and the demo catalog, in one command."""

from __future__ import annotations

import time
from typing import Annotated

import psycopg
import typer
from elasticsearch import Elasticsearch
from psycopg import sql
from rich.console import Console

from ops import system
from ops.bulk import send_all
from ops.cli import replay
from ops.cli.stack import fail
from ops.demo import demo_commands, sku_of
from ops.replay_lock import replay_lock
from ops.stack import manager
from ops.stack.errors import StackError
from producers.client import CommandClient
from read_models.registry import READ_MODELS
from read_models.search import client as es_client
from schemas.config import preflight
from schemas.config.connections import postgres_conninfo
from schemas.config.settings import Settings, get_settings

console = Console(soft_wrap=True)


def up(
    products: Annotated[int, typer.Option(help="demo catalog size (0: no demo)")] = 10_000,
) -> None:
    """Run everything: stack, topics, migrations, worker, both APIs, and the demo catalog.

    Idempotent: a second run finds it all running and the catalog loaded, and
    only prints the tour. `eventcart down` stops it all.
    """
    settings = get_settings()
    try:
        manager.up(settings, say=console.print)
        preflight.check(settings, kafka=True, elasticsearch=True, postgres=True)
        system.prepare(settings, console.print)
        rebuild_outdated(settings)
        system.start(settings, console.print)
        system.wait_for_worker(settings)
    except StackError as exc:
        raise fail(exc) from None
    if products:
        with es_client.connect(settings, request_timeout=30) as es:
            load_demo(settings, es, products)
    tour(settings)


def rebuild_outdated(settings: Settings) -> None:
    """Rebuild a read model built for an older model than this code writes (after an
    upgrade), before the workers start: the live projection would refuse it."""
    for model in READ_MODELS:
        why = model.outdated(settings)
        if why is None:
            continue
        console.print(f"{why.split(':')[0]}: rebuilding it from the events topic")
        with replay_lock(settings, model.name) as lock:
            replay.rebuild_one(settings, model, lock)


def load_demo(settings: Settings, es: Elasticsearch, products: int) -> None:
    last = sku_of(products - 1)
    if es.options(ignore_status=404).get(index=settings.search_index, id=last).get("found"):
        console.print(f"demo catalog: already loaded ({products:,} products)")
        return
    commands = list(demo_commands(products))
    console.print(
        f"demo catalog: {products:,} products, {len(commands):,} commands through the command path"
    )
    with CommandClient(settings) as client:
        outcome = send_all(
            client,
            ((c["sku"], c, "") for c in commands),
            len(commands),
            console=console,
            description="loading",
        )
    console.print(f"sent: {outcome.summary()}")
    console.print("waiting for the read models to catch up ...")
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        doc = es.options(ignore_status=404).get(index=settings.search_index, id=last)
        with psycopg.connect(postgres_conninfo(settings)) as conn:
            row = conn.execute(
                sql.SQL("SELECT count(*) FROM {}.product WHERE sku LIKE 'DEMO-%%'").format(
                    sql.Identifier(settings.pricing_schema)
                )
            ).fetchone()
        if doc.get("found") and row and row[0] >= products:
            break
        time.sleep(1)
    es.indices.refresh(index=settings.search_index)


def tour(settings: Settings) -> None:
    q, c = settings.query_api_port, settings.command_api_port
    token = settings.api_token.get_secret_value()
    sale = _a_sku_on_sale(settings) or sku_of(1)
    form = (
        "with the change-price form"
        if settings.console_command_token is not None
        else "read-only; EVENTCART_CONSOLE_COMMAND_TOKEN=<command API token> adds a change-price form"
    )
    console.print(
        f"""
[bold]eventcart is up.[/]
  web console  http://127.0.0.1:{q}/   ({form})
               http://127.0.0.1:{q}/catalog/{sale}   http://127.0.0.1:{q}/operations
  query API    http://127.0.0.1:{q}/docs
  command API  http://127.0.0.1:{c}/docs   (Authorization: Bearer {token})
  metrics      http://127.0.0.1:{settings.metrics_port}/metrics (+1 search, +2 pricing)

Try (with `source .venv/bin/activate` for the CLI):
  curl -s 'http://127.0.0.1:{q}/search?q=red%20runing%20shoe&size=3'
  curl -s 'http://127.0.0.1:{q}/search?category=Home/Kitchen&sort=price_asc&max_price=50&size=3'
  curl -s 'http://127.0.0.1:{q}/suggest?prefix=nord'
  curl -s 'http://127.0.0.1:{q}/prices/{sale}'
  curl -s 'http://127.0.0.1:{q}/prices/{sale}/history'
  curl -s 'http://127.0.0.1:{q}/prices/{sale}/lowest-30-days?currency=EUR'
  eventcart search "red running shoe" --max-price 150
  eventcart price {sale} --history
  eventcart price {sale} --lowest-30-days
  curl -s -X POST 'http://127.0.0.1:{c}/commands/change-price' -H 'Authorization: Bearer {token}' \\
       -H 'Content-Type: application/json' -d '{{"sku": "{sale}", "data": {{"amount": "9.99", "currency": "EUR", "price_type": "sale"}}}}'
  eventcart schedule add {sale} --amount 7.99 --id tour-sale \\
       --from "$(date -u -d '+1 min' '+%Y-%m-%d %H:%M:%S')" --until "$(date -u -d '+2 min' '+%Y-%m-%d %H:%M:%S')"
  eventcart schedule list {sale}     # then watch `eventcart price {sale}` start and end the sale
  eventcart import producers/examples/feeds/catalog.tsv --wait 30   # a catalog feed; again: 0 sent
  eventcart watch --sku {sale}      # its changes as they happen (curl -N 'http://127.0.0.1:{q}/changes?sku={sale}')
  eventcart status
Stop everything with `eventcart down`."""
    )


def _a_sku_on_sale(settings: Settings) -> str | None:
    try:
        with psycopg.connect(postgres_conninfo(settings), connect_timeout=5) as conn:
            row = conn.execute(
                sql.SQL(
                    "SELECT sku FROM {}.current_price "
                    "WHERE price_type = 'sale' AND currency = 'EUR' ORDER BY sku LIMIT 1"
                ).format(sql.Identifier(settings.pricing_schema))
            ).fetchone()
    except psycopg.Error:
        return None
    return str(row[0]) if row else None


def down() -> None:
    """Stop the worker, the APIs and the stack (data is kept; `stack reset` wipes it)."""
    settings = get_settings()
    stopped = system.stop(settings) + manager.down(settings)
    console.print(f"stopped {', '.join(stopped)}" if stopped else "nothing was running")
