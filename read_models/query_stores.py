"""The clients the query API holds for its lifetime, and its read-your-writes checks.

One Elasticsearch client and the PostgreSQL pools of the read-only role (a read
replica's first, when configured: :mod:`read_models.pricing_reads`) per API
process, shared by all its requests (the web console's pages too). A request
that passes a position token waits here, bounded, until the read model it
reads has applied it (:mod:`read_models.consistency`), or gets
:class:`NotYetConsistent`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal, TypeVar

import anyio.to_thread
from psycopg import sql

from read_models import consistency
from read_models.pricing import queries as pricing
from read_models.pricing_reads import PricingReads, reader_dsn
from read_models.search import client as es_client
from read_models.search import positions
from read_models.search import queries as search
from schemas.config.settings import Settings

__all__ = ["NotYetConsistent", "Stores", "reader_dsn"]

T = TypeVar("T")


class NotYetConsistent(Exception):  # noqa: N818 (an outcome the client handles, not a bug)
    def __init__(self, read_model: str, missing: Mapping[int, int]) -> None:
        super().__init__(read_model)
        self.read_model = read_model
        self.missing = dict(missing)


class Stores:
    """The clients the API holds for its lifetime, and the read-your-writes checks."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.alias = settings.search_index
        self.schema = settings.pricing_schema
        self.es = es_client.connect(
            settings, request_timeout=10, max_retries=0, connections_per_node=64
        )
        self.pricing_reads = PricingReads(settings)
        self._refreshed_at = 0.0
        self._refresh_lock = asyncio.Lock()

    def open(self) -> None:
        self.pricing_reads.open()

    def close(self) -> None:
        self.pricing_reads.close()
        self.es.close()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(fn, *args)

    # --- read-your-writes -------------------------------------------------
    def _pricing_applied(self) -> dict[int, int]:
        query = sql.SQL(
            'SELECT partition, "offset" FROM {}.checkpoint WHERE projection = %s'
        ).format(sql.Identifier(self.schema))
        try:
            rows = self.pricing_reads.read(lambda conn: conn.execute(query, ["pricing"]).fetchall())
        except Exception as exc:
            raise pricing.PricingUnavailable(f"reading the pricing position failed: {exc}") from exc
        return {int(p): int(o) for p, o in rows}

    def _search_applied(self) -> dict[int, int]:
        try:
            return positions.applied(self.es, self.alias)
        except Exception as exc:
            raise search.SearchUnavailable(f"reading the search position failed: {exc}") from exc

    async def consistent(
        self,
        read_model: Literal["search", "pricing"],
        token: str | None,
        wait_ms: int,
        *,
        searchable: bool = False,
    ) -> None:
        """Return once the read model has applied token; raise NotYetConsistent otherwise."""
        if not token:
            return
        wanted = consistency.parse_token(token)
        read = self._pricing_applied if read_model == "pricing" else self._search_applied

        async def applied() -> Mapping[int, int]:
            return await self.run(read)

        still = await consistency.wait_until_applied(applied, wanted, wait_ms)
        if still:
            raise NotYetConsistent(read_model, still)
        if searchable:
            await self.refresh_search()

    async def pricing(
        self, token: str | None, wait_ms: int, query: Callable[..., T], *args: Any
    ) -> T:
        """Run a pricing query on a pooled read-only connection, once `token` is applied."""
        await self.consistent("pricing", token, wait_ms)
        return await self.run(_reading(query), self.pricing_reads, self.schema, *args)

    async def refresh_search(self) -> None:
        """Make applied documents searchable now (one refresh for all waiting queries)."""
        asked = time.monotonic()
        async with self._refresh_lock:
            if self._refreshed_at >= asked:
                return  # a refresh that began after we asked has covered us
            began = time.monotonic()
            await self.run(lambda: self.es.indices.refresh(index=self.alias))
            self._refreshed_at = began


def _reading(fn: Callable[..., T]) -> Callable[..., T]:
    """Run a pricing query on a pooled read-only connection (the replica's, if any)."""

    def call(reads: PricingReads, *args: Any) -> T:
        try:
            return reads.read(lambda conn: fn(conn, *args))
        except pricing.PricingUnavailable:
            raise
        except (ValueError, TypeError):
            raise
        except Exception as exc:
            raise pricing.PricingUnavailable(f"pricing store: {exc}") from exc

    return call
