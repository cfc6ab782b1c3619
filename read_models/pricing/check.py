"""Reading back what the pricing tables hold, for ``eventcart verify``.

Read-only, in a read-only transaction; many SKUs per statement (``= ANY``),
so checking a catalog costs a few round trips per thousand products. All
SKUs are listed through a server-side cursor, so the client never holds the
whole table.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
from psycopg import sql

from read_models.pricing.fold import SkuRows

__all__ = ["all_skus", "rows_of"]


def rows_of(conn: psycopg.Connection[Any], schema: str, skus: Sequence[str]) -> dict[str, SkuRows]:
    """What the tables hold for ``skus`` (SKUs with no product row are absent)."""
    s = sql.Identifier(schema)
    found: dict[str, SkuRows] = {}
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SET TRANSACTION READ ONLY")
        cur.execute(
            sql.SQL(
                "SELECT sku, version, status, updated_at FROM {}.product WHERE sku = ANY(%s)"
            ).format(s),
            [list(skus)],
        )
        for sku, version, status, updated_at in cur.fetchall():
            found[sku] = SkuRows(version=version, status=status, updated_at=updated_at)
        cur.execute(
            sql.SQL(
                "SELECT sku, currency, amount, price_type, valid_from, version"
                " FROM {}.current_price WHERE sku = ANY(%s)"
            ).format(s),
            [list(skus)],
        )
        for sku, currency, amount, price_type, valid_from, version in cur.fetchall():
            if sku in found:
                found[sku].current[currency.strip()] = (amount, price_type, valid_from, version)
        cur.execute(
            sql.SQL(
                "SELECT sku, version, currency, amount, price_type, valid_from, valid_to, event_id"
                " FROM {}.price_history WHERE sku = ANY(%s) ORDER BY sku, version, currency"
            ).format(s),
            [list(skus)],
        )
        for sku, *row in cur.fetchall():
            if sku in found:
                version, currency, amount, price_type, valid_from, valid_to, event_id = row
                found[sku].history.append(
                    (
                        version,
                        currency.strip(),
                        amount,
                        price_type,
                        valid_from,
                        valid_to,
                        str(event_id),
                    )
                )
        cur.execute(
            sql.SQL("SELECT sku, quantity, version FROM {}.stock WHERE sku = ANY(%s)").format(s),
            [list(skus)],
        )
        for sku, quantity, version in cur.fetchall():
            if sku in found:
                found[sku].stock = (quantity, version)
    return found


def all_skus(conn: psycopg.Connection[Any], schema: str) -> Iterator[str]:
    """Every SKU with a product row, streamed from a server-side cursor."""
    with conn.transaction(), conn.cursor(name="eventcart_verify_skus") as cur:
        cur.itersize = 10_000
        cur.execute(sql.SQL("SELECT sku FROM {}.product").format(sql.Identifier(schema)))
        for (sku,) in cur:
            yield sku
