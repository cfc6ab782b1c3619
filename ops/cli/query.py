"""`eventcart search` and `eventcart price`: the read models from the shell, as tables.

They call the same query functions as the query API, straight on the stores
(PostgreSQL through the read-only role), so they work without the API running.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Annotated, Literal

import psycopg
import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from read_models.pricing import queries as pricing
from read_models.pricing.models import PricePoint, ProductPrices
from read_models.query_stores import reader_dsn
from read_models.search import client as es_client
from read_models.search import queries as search
from read_models.search.models import SearchRequest
from schemas.config import preflight
from schemas.config.settings import get_settings
from schemas.money import format_amount

console = Console(width=140)


def _fail(message: str, code: int = 2) -> typer.Exit:
    console.print(f"[red]error[/] {message}")
    return typer.Exit(code)


def search_command(
    text: Annotated[str | None, typer.Argument(help="free text, e.g. 'red running shoes'")] = None,
    brand: Annotated[
        list[str] | None, typer.Option(help="brand (repeat for any of several)")
    ] = None,
    category: Annotated[
        str | None, typer.Option(help="category path prefix, e.g. Shoes/Running")
    ] = None,
    currency: Annotated[str, typer.Option(help="ISO 4217 code for prices")] = "EUR",
    min_price: Annotated[Decimal | None, typer.Option(help="lowest price")] = None,
    max_price: Annotated[Decimal | None, typer.Option(help="highest price")] = None,
    in_stock: Annotated[
        bool | None, typer.Option("--in-stock/--out-of-stock", help="stock filter")
    ] = None,
    sort: Annotated[
        str, typer.Option(help="relevance, price_asc, price_desc or newest")
    ] = "relevance",
    size: Annotated[int, typer.Option(help="hits to show (1-100)")] = 10,
    facets: Annotated[bool, typer.Option(help="show facet counts")] = True,
) -> None:
    """Search the catalog: relevance with typo tolerance, filters, facets."""
    settings = get_settings()
    preflight.check(settings, elasticsearch=True)
    try:
        req = SearchRequest.model_validate(
            {
                "q": text,
                "brand": brand or [],
                "category": category,
                "currency": currency,
                "min_price": min_price,
                "max_price": max_price,
                "in_stock": in_stock,
                "sort": sort,
                "size": size,
                "facets": facets,
                "highlight": False,
            }
        )
    except ValidationError as exc:
        raise _fail(
            "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        ) from None
    es = es_client.connect(settings, request_timeout=10, max_retries=0)
    try:
        result = search.search(es, settings.search_index, req)
    except search.SearchUnavailable as exc:
        raise _fail(f"search is unavailable: {exc}", 3) from None
    finally:
        es.close()
    table = Table(
        "sku",
        "name",
        "brand",
        f"price {currency}",
        "stock",
        "score",
        title=f"{result.total} products",
    )
    for hit in result.hits:
        price = (
            f"{hit.price.amount}{' (sale)' if hit.price.price_type == 'sale' else ''}"
            if hit.price
            else "-"
        )
        table.add_row(
            hit.sku, hit.name, hit.brand or "", price, str(hit.stock), f"{hit.score or 0:.2f}"
        )
    console.print(table)
    if result.facets:
        brands = ", ".join(f"{b.key} ({b.count})" for b in result.facets.brands)
        ranges = ", ".join(f"{r.key} ({r.count})" for r in result.facets.price_ranges if r.count)
        console.print(f"brands: {brands}\nprices: {ranges}")


def price_command(
    sku: Annotated[str, typer.Argument(help="the product's SKU")],
    at: Annotated[datetime | None, typer.Option(help="price as of this instant (RFC 3339)")] = None,
    history: Annotated[bool, typer.Option("--history", help="every price as intervals")] = False,
    currency: Annotated[str | None, typer.Option(help="only this currency")] = None,
    lowest_30_days: Annotated[
        bool,
        typer.Option(
            "--lowest-30-days",
            help="EU Omnibus: lowest price of the 30 days before the current one",
        ),
    ] = False,
) -> None:
    """Show a product's prices: current, as of an instant, history, 30-day lowest."""
    settings = get_settings()
    preflight.check(settings, postgres_reader=True)
    schema = settings.pricing_schema
    mode: Literal["current", "at", "history", "omnibus"] = (
        "at" if at else "history" if history else "omnibus" if lowest_30_days else "current"
    )
    try:
        with psycopg.connect(reader_dsn(settings), autocommit=True, connect_timeout=5) as conn:
            if mode == "current":
                found = pricing.current_prices(conn, schema, sku)
                if found is None:
                    raise _fail(f"no product {sku}", 1)
                table = Table(
                    "currency",
                    "amount",
                    "type",
                    "since",
                    title=f"{sku} ({found.status}, stock {found.stock})",
                )
                for cur, p in sorted(found.prices.items()):
                    if currency in (None, cur):
                        table.add_row(
                            cur, format_amount(p.amount), p.price_type, p.valid_from.isoformat()
                        )
            elif mode == "at":
                assert at is not None
                points = pricing.price_as_of(conn, schema, sku, at, currency)
                table = _intervals(f"{sku} as of {at.isoformat()}", points)
            elif mode == "history":
                table = _intervals(
                    f"{sku} price history", pricing.price_history(conn, schema, sku, currency)
                )
            else:
                currencies = (
                    [currency]
                    if currency
                    else sorted((pricing.current_prices(conn, schema, sku) or _none(sku)).prices)
                )
                table = Table(
                    "currency",
                    "current",
                    "lowest in the 30 days before",
                    "reduction?",
                    title=f"{sku} (EU Omnibus)",
                )
                for cur in currencies:
                    omnibus = pricing.lowest_price_30_days(conn, schema, sku, cur)
                    if omnibus is not None:
                        table.add_row(
                            cur,
                            format_amount(omnibus.amount),
                            format_amount(omnibus.lowest_30_days)
                            if omnibus.lowest_30_days is not None
                            else "-",
                            "yes" if omnibus.is_reduction else "no",
                        )
    except pricing.PricingUnavailable as exc:
        raise _fail(f"pricing is unavailable: {exc}", 3) from None
    except psycopg.OperationalError as exc:
        raise _fail(f"pricing is unavailable: {exc}", 3) from None
    console.print(table)


def _none(sku: str) -> ProductPrices:
    raise _fail(f"no product {sku}", 1)


def _intervals(title: str, points: Sequence[PricePoint]) -> Table:
    """Prices with their validity intervals, one row each."""
    table = Table("currency", "amount", "type", "valid from", "valid to", title=title)
    for point in points:
        table.add_row(
            point.currency,
            format_amount(point.amount),
            point.price_type,
            point.valid_from.isoformat(),
            point.valid_to.isoformat() if point.valid_to else "now",
        )
    return table
