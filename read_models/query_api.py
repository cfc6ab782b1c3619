"""The HTTP query API: product search and pricing, with read-your-writes on request.

Its own process (``eventcart api queries``), apart from the command API, so
reads and writes scale on their own. Every endpoint takes an optional
``min_position`` (query parameter, or ``X-Min-Position`` header): the position
token of an accepted command. The answer then waits (at most ``wait_ms``) until
the read model it reads has applied that position, or is a **409
not_yet_consistent** with what is missing: never stale data.

Safety: user text reaches Elasticsearch only through ``multi_match``/``term``
queries (see ``read_models.search.queries``); every size is bounded (4xx with the
field otherwise); PostgreSQL is read through the read-only role; a store that
cannot answer gives a **503** with ``Retry-After``, never a stack trace.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import Body, FastAPI, Query, Request
from fastapi.responses import Response
from pydantic import BaseModel, Field

from read_models import query_errors
from read_models.changes.stream import ChangeStream
from read_models.changes.stream import router as changes_router
from read_models.pricing import queries as pricing
from read_models.pricing import schedule_queries
from read_models.pricing.models import OmnibusPrice, PriceInterval, ProductPrices
from read_models.pricing.schedule_models import AsOfPrice
from read_models.query_errors import INVALID, NOT_FOUND, UNAVAILABLE, not_found
from read_models.query_params import (
    READ,
    SKU_PATTERN,
    Currency,
    Instant,
    MinPosition,
    MinPositionHeader,
    Sku,
    WaitMs,
)
from read_models.query_schedules import router as schedules_router
from read_models.query_stores import Stores, reader_dsn
from read_models.search import queries as search
from read_models.search.models import SearchResult
from read_models.search_params import SearchQuery
from schemas import http_metrics, tracing
from schemas.config import preflight
from schemas.config.api_exposure import check_api_exposure
from schemas.config.settings import Settings, get_settings

__all__ = ["SKU_PATTERN", "create_app", "serve"]


class BulkPricesRequest(BaseModel):
    skus: list[Annotated[str, Field(pattern=SKU_PATTERN)]] = Field(
        min_length=1, max_length=1000, description="up to 1,000 SKUs"
    )
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # per worker process: the change stream's spans (a push in its command's trace)
        tracing.setup(settings, "eventcart-query-api")
        stores = Stores(settings)
        stores.open()
        app.state.stores = stores
        app.state.changes = ChangeStream(settings, stores.es, reader_dsn(settings))
        try:
            yield
        finally:
            app.state.changes.close()
            stores.close()
            await asyncio.to_thread(tracing.flush)

    app = FastAPI(
        title="eventcart query API",
        version="1",
        description=__doc__,
        lifespan=lifespan,
        # FastAPI's own OpenTelemetry hooks look up providers on every request (4% of
        # a search's CPU in the API) although nothing here exports telemetry.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    query_errors.install(app)
    http_metrics.install(app, "query")

    def stores_of(request: Request) -> Stores:
        stores: Stores = request.app.state.stores
        return stores

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    # --- search ---------------------------------------------------------------
    @app.get("/search", response_model=SearchResult, tags=["search"], responses=READ)
    async def search_products(
        request: Request,
        query: Annotated[SearchQuery, Query()],
        x_min_position: MinPositionHeader = "",
    ) -> SearchResult:
        """Full-text search with typo tolerance, filters, facets, sorting and pagination."""
        req = query.request()
        min_position, wait_ms = query.min_position, query.wait_ms
        stores = stores_of(request)
        await stores.consistent("search", min_position or x_min_position, wait_ms, searchable=True)
        result = await stores.run(search.search, stores.es, stores.alias, req)
        # Serialised once: FastAPI would validate the model again before dumping it,
        # and a search's result is the API's largest answer.
        return Response(result.model_dump_json(), media_type="application/json")  # type: ignore[return-value]

    @app.get("/suggest", tags=["search"], responses={**INVALID, **UNAVAILABLE})
    async def suggest(
        request: Request,
        prefix: Annotated[str, Query(min_length=1, max_length=50)],
        size: Annotated[int, Query(ge=1, le=50)] = 10,
    ) -> dict[str, list[str]]:
        """Autocomplete: product names and brands starting with prefix."""
        stores = stores_of(request)
        return {
            "suggestions": await stores.run(search.suggest, stores.es, stores.alias, prefix, size)
        }

    @app.get("/products/{sku}", tags=["search"], responses={**READ, **NOT_FOUND})
    async def product(
        request: Request,
        sku: Sku,
        min_position: MinPosition = None,
        wait_ms: WaitMs = 2000,
        x_min_position: MinPositionHeader = "",
    ) -> dict[str, Any]:
        """The product's search document (realtime: no refresh needed). 404 if unknown."""
        stores = stores_of(request)
        await stores.consistent("search", min_position or x_min_position, wait_ms)
        doc = await stores.run(search.get_product, stores.es, stores.alias, sku)
        if doc is None:
            return not_found(sku)  # type: ignore[return-value]
        return doc

    # --- pricing --------------------------------------------------------------
    @app.get(
        "/prices/{sku}",
        response_model=ProductPrices,
        tags=["pricing"],
        responses={**READ, **NOT_FOUND},
    )
    async def prices(
        request: Request,
        sku: Sku,
        min_position: MinPosition = None,
        wait_ms: WaitMs = 2000,
        x_min_position: MinPositionHeader = "",
    ) -> Any:
        """Current price in every currency, with status and stock."""
        found = await stores_of(request).pricing(
            min_position or x_min_position, wait_ms, pricing.current_prices, sku
        )
        return found if found is not None else not_found(sku)

    @app.get(
        "/prices/{sku}/as-of", response_model=list[AsOfPrice], tags=["pricing"], responses=READ
    )
    async def as_of(
        request: Request,
        sku: Sku,
        at: Annotated[Instant, Query(description="instant, RFC 3339 with offset")],
        currency: Currency = None,
        min_position: MinPosition = None,
        wait_ms: WaitMs = 2000,
        x_min_position: MinPositionHeader = "",
    ) -> Any:
        """The price valid at an instant, per currency (valid_from <= at < valid_to): the
        price charged then (`planned`: false) or, for an instant still to come, the price
        the schedules will set then (`planned`: true)."""
        return await stores_of(request).pricing(
            min_position or x_min_position, wait_ms, schedule_queries.price_at, sku, at, currency
        )

    @app.get(
        "/prices/{sku}/history",
        response_model=list[PriceInterval],
        tags=["pricing"],
        responses=READ,
    )
    async def history(
        request: Request,
        sku: Sku,
        currency: Currency = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 500,
        min_position: MinPosition = None,
        wait_ms: WaitMs = 2000,
        x_min_position: MinPositionHeader = "",
    ) -> Any:
        """Every price of the SKU as validity intervals, oldest first."""
        return await stores_of(request).pricing(
            min_position or x_min_position, wait_ms, pricing.price_history, sku, currency, limit
        )

    @app.get(
        "/prices/{sku}/lowest-30-days",
        response_model=OmnibusPrice,
        tags=["pricing"],
        responses={**READ, **NOT_FOUND},
    )
    async def lowest_30_days(
        request: Request,
        sku: Sku,
        currency: Annotated[str, Query(pattern=r"^[A-Z]{3}$")],
        before: Annotated[
            Instant | None,
            Query(
                description="the price change's instant, RFC 3339 with offset (default: "
                "the current price's)"
            ),
        ] = None,
        min_position: MinPosition = None,
        wait_ms: WaitMs = 2000,
        x_min_position: MinPositionHeader = "",
    ) -> Any:
        """EU Omnibus: the lowest price of the 30 days before a price change."""
        found = await stores_of(request).pricing(
            min_position or x_min_position,
            wait_ms,
            pricing.lowest_price_30_days,
            sku,
            currency,
            before,
        )
        return found if found is not None else not_found(sku)

    # Not under /prices/: a SKU may be called "bulk", and /prices/{sku} would capture it.
    @app.post(
        "/prices:bulk", response_model=dict[str, ProductPrices], tags=["pricing"], responses=READ
    )
    async def bulk(
        request: Request,
        body: Annotated[BulkPricesRequest, Body()],
        min_position: MinPosition = None,
        wait_ms: WaitMs = 2000,
        x_min_position: MinPositionHeader = "",
    ) -> Any:
        """Current prices of up to 1,000 SKUs in one call (unknown SKUs are left out)."""
        return await stores_of(request).pricing(
            min_position or x_min_position,
            wait_ms,
            pricing.bulk_current_prices,
            body.skus,
            body.currency,
        )

    app.include_router(schedules_router)
    app.include_router(changes_router)
    return app


def serve(settings: Settings | None = None, factory: str = f"{__name__}:create_app") -> None:
    """Run the query API on EVENTCART_API_HOST:EVENTCART_QUERY_API_PORT in
    EVENTCART_QUERY_API_WORKERS processes.

    ``factory`` is the import path of a function that makes the app from the
    environment's settings (:func:`create_app`, or ``eventcart api queries``'s
    own, which adds the web console): each worker process makes its own, with its
    own Elasticsearch client and PostgreSQL pool.

    Before it listens it refuses, as the command API does, a non-loopback host
    while EVENTCART_API_TOKEN is still the default (a deployment that has not set
    its secrets is not ready for a network, whatever this API checks per
    request), and Elasticsearch or PostgreSQL credentials the stores reject.
    """
    import uvicorn

    settings = settings or get_settings()
    check_api_exposure(settings.api_host, settings.api_token.get_secret_value(), "the query API")
    preflight.check(settings, elasticsearch=True, postgres_reader=True)
    if settings.query_api_workers > 1:
        http_metrics.share_between_processes(settings.home / "run" / "query-api-metrics")
    uvicorn.run(
        factory,
        factory=True,
        host=settings.api_host,
        port=settings.query_api_port,
        workers=settings.query_api_workers,
        log_level="warning",
        # Change streams never end by themselves: a stopping API gives them this long,
        # then closes them (their clients resume from their last id elsewhere).
        timeout_graceful_shutdown=3,
    )
