"""The catalog as the read models show it, for imports (``producers.feeds.view``).

Details, status and stock come from the search index (one ``mget`` per batch
on the live alias), regular prices, versions and the feed's own sales from the
pricing tables (three indexed ``= ANY`` queries per batch), so a batch of a
thousand rows costs four round trips whatever the catalog's size. The read
models may lag the log a little: see ``producers.feeds.view`` for why that is
harmless to an import.

Both stores are read as the query API reads them: the live alias, and the
pricing schema as the read-only role.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import psycopg
from psycopg import sql

from ops.feed_ledger import FeedLedger
from producers.feeds.ledger import LedgerEntry
from producers.feeds.view import FEED_SCHEDULE_PREFIX, Listed, ListedSale
from read_models.consistency import missing
from read_models.pricing.rebuild import checkpoint
from read_models.query_stores import reader_dsn
from read_models.search import client as es_client
from read_models.search import positions
from schemas.config.settings import Settings
from schemas.money import format_amount
from schemas.position_token import parse_token

__all__ = ["CatalogUnavailableError", "ReadModelCatalog"]

_SOURCE = (
    *("status", "version", "name", "description", "brand"),
    *("category_path", "attributes", "tags", "stock", "updated_at"),
)


_QUERIES = (
    "SELECT sku, version, status FROM {schema}.product WHERE sku = ANY(%s)",
    # the regular price: what customers pay outside a sale
    "SELECT sku, currency, COALESCE(regular_amount,"
    " CASE WHEN price_type = 'regular' THEN amount END)"
    " FROM {schema}.current_price WHERE sku = ANY(%s)",
    "SELECT sku, schedule_id, currency, status FROM {schema}.scheduled_price"
    f" WHERE sku = ANY(%s) AND schedule_id LIKE '{FEED_SCHEDULE_PREFIX}%%'",
)


class CatalogUnavailableError(RuntimeError):
    """A read model cannot be read: the import stops (run it again to resume)."""


class ReadModelCatalog:
    """A :class:`producers.feeds.view.CatalogView` over Elasticsearch and PostgreSQL."""

    def __init__(self, settings: Settings) -> None:
        self.alias = settings.search_index
        self.schema = settings.pricing_schema
        self._schema = sql.Identifier(self.schema)
        self._search = ThreadPoolExecutor(1, thread_name_prefix="eventcart-catalog-search")
        self.es = es_client.connect(
            settings, request_timeout=60, max_retries=5, retry_on_timeout=True
        )
        try:
            self.pg = psycopg.connect(reader_dsn(settings), autocommit=True)
        except psycopg.Error as exc:
            self.es.close()
            raise CatalogUnavailableError(f"PostgreSQL cannot be read: {exc}") from exc
        self.ledger = FeedLedger(settings)

    def close(self) -> None:
        self.ledger.close()
        self._search.shutdown()
        self.pg.close()
        self.es.close()

    def __enter__(self) -> ReadModelCatalog:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # the import ledger (producers.feeds.ledger.Ledger), kept by ops.feed_ledger
    def imported(self, skus: Sequence[str]) -> Mapping[str, int]:
        return self.ledger.imported(skus)

    def record(self, entries: Sequence[LedgerEntry]) -> None:
        self.ledger.record(entries)

    def _documents(self, skus: Sequence[str]) -> dict[str, Mapping[str, Any]]:
        try:
            found = self.es.mget(index=self.alias, ids=list(skus), source_includes=_SOURCE)
        except Exception as exc:
            raise CatalogUnavailableError(f"the search index cannot be read: {exc}") from exc
        return {doc["_id"]: doc["_source"] for doc in found["docs"] if doc.get("found")}

    def _rows(self, skus: Sequence[str]) -> list[list[tuple[Any, ...]]]:
        """The product, regular-price and feed-sale rows of ``skus``: three queries
        in one pipeline, so one round trip."""
        try:
            with self.pg.pipeline():
                cursors = [
                    self.pg.execute(sql.SQL(template).format(schema=self._schema), [list(skus)])
                    for template in _QUERIES
                ]
            return [cursor.fetchall() for cursor in cursors]
        except psycopg.Error as exc:
            raise CatalogUnavailableError(f"the pricing tables cannot be read: {exc}") from exc

    def lookup(self, skus: Sequence[str]) -> Mapping[str, Listed]:
        searched = self._search.submit(self._documents, skus)  # the two stores at once
        product_rows, price_rows, sale_rows = self._rows(skus)
        docs = searched.result()
        products = {sku: (int(version), status) for sku, version, status in product_rows}
        regular: dict[str, dict[str, str]] = {}
        for sku, currency, amount in price_rows:
            if amount is not None:
                regular.setdefault(sku, {})[currency] = format_amount(Decimal(amount))
        sales: dict[str, dict[str, ListedSale]] = {}
        for sku, schedule_id, currency, status in sale_rows:
            sales.setdefault(sku, {})[schedule_id] = ListedSale(currency, status)
        listed: dict[str, Listed] = {}
        for sku in skus:
            doc, product = docs.get(sku), products.get(sku)
            if doc is None and product is None:
                continue
            doc = doc or {}
            version, status = product or (0, "active")
            searched_version = int(doc.get("version") or 0)
            listed[sku] = Listed(
                sku=sku,
                version=max(version, searched_version),
                updated_at=doc.get("updated_at") or "",
                consistent=product is not None and version == searched_version,
                discontinued="discontinued" in (status, doc.get("status")),
                name=doc.get("name") or "",
                description=doc.get("description") or "",
                brand=doc.get("brand") or "",
                category_path=tuple(doc.get("category_path") or ()),
                attributes=doc.get("attributes") or {},
                tags=tuple(doc.get("tags") or ()),
                stock=int(doc.get("stock") or 0),
                regular=regular.get(sku, {}),
                feed_sales=sales.get(sku, {}),
            )
        return listed

    def active_skus(self) -> Iterator[str]:
        """Streamed through a server-side cursor: a million SKUs never sit in a list."""
        query = sql.SQL("SELECT sku FROM {}.product WHERE status = 'active'").format(
            sql.Identifier(self.schema)
        )
        try:
            with self.pg.transaction(), self.pg.cursor(name="eventcart_active_skus") as cursor:
                cursor.itersize = 10_000
                cursor.execute(query)
                for (sku,) in cursor:
                    yield str(sku)
        except psycopg.Error as exc:
            raise CatalogUnavailableError(f"the pricing tables cannot be read: {exc}") from exc

    def wait_shown(self, token: str, timeout_s: float) -> dict[str, dict[int, int]]:
        """Wait until both read models applied ``token``; what is still missing
        (read model -> partition -> offset), empty when both show it."""
        wanted = parse_token(token) if token else {}
        deadline = time.monotonic() + timeout_s
        while True:
            still = {
                "pricing": missing(checkpoint(self.pg, self.schema, "pricing"), wanted),
                "search": missing(positions.applied(self.es, self.alias, fresh=True), wanted),
            }
            still = {name: where for name, where in still.items() if where}
            if not still or time.monotonic() >= deadline:
                return still
            time.sleep(0.05)
