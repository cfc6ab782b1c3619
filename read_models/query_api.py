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
import logging
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar

import anyio.to_thread
from elasticsearch import BadRequestError
from fastapi import Body, FastAPI, Header, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from psycopg import sql
from psycopg_pool import ConnectionPool
from pydantic import BaseModel, Field, ValidationError

from read_models import consistency
from read_models.pricing import queries as pricing
from read_models.pricing.models import OmnibusPrice, PriceInterval, PricePoint, ProductPrices
from read_models.search import client as es_client
from read_models.search import positions
from read_models.search import queries as search
from read_models.search.models import SearchResult
from read_models.search_params import SearchQuery
from schemas import preflight
from schemas.api_exposure import check_api_exposure
from schemas.connections import postgres_conninfo
from schemas.settings import Settings, get_settings

log = logging.getLogger(__name__)

RETRY_AFTER_S = 2
T = TypeVar("T")

#: The contract's SKU pattern (schemas/json/common/definitions.json).
SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
Sku = Annotated[str, Path(pattern=SKU_PATTERN)]
Currency = Annotated[str | None, Query(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")]
MinPosition = Annotated[
    str | None,
    Query(
        max_length=2000,
        description="position token of an accepted command (`position_token`): answer only "
        "once this read model has applied it. Also accepted as the X-Min-Position header.",
    ),
]
WaitMs = Annotated[
    int,
    Query(ge=0, le=consistency.MAX_WAIT_MS, description="longest wait for min_position (ms)"),
]
MinPositionHeader = Annotated[str | None, Header(alias="X-Min-Position", max_length=2000)]


class NotYetConsistent(Exception):  # noqa: N818 (an outcome the client handles, not a bug)
    def __init__(self, read_model: str, missing: Mapping[int, int]) -> None:
        super().__init__(read_model)
        self.read_model = read_model
        self.missing = dict(missing)


class BulkPricesRequest(BaseModel):
    skus: list[Annotated[str, Field(pattern=SKU_PATTERN)]] = Field(
        min_length=1, max_length=1000, description="up to 1,000 SKUs"
    )
    currency: str | None = Field(default=None, pattern=r"^[A-Z]{3}$")


def reader_dsn(settings: Settings) -> str:
    """The conninfo of the read-only role: same server, database and TLS parameters,
    user <owner>_reader."""
    return postgres_conninfo(
        settings,
        user=f"{settings.postgres_user}_reader",
        password=settings.postgres_reader_password.get_secret_value(),
    )


class Stores:
    """The clients the API holds for its lifetime, and the read-your-writes checks."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.alias = settings.search_index
        self.schema = settings.pricing_schema
        self.es = es_client.connect(
            settings, request_timeout=10, max_retries=0, connections_per_node=64
        )
        self.pg: ConnectionPool[Any] = pricing.reader_pool(
            reader_dsn(settings), max_size=32, open=False
        )
        self._refreshed_at = 0.0
        self._refresh_lock = asyncio.Lock()

    def open(self) -> None:
        self.pg.open(wait=False)

    def close(self) -> None:
        self.pg.close()
        self.es.close()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        return await anyio.to_thread.run_sync(fn, *args)

    # --- read-your-writes -------------------------------------------------
    def _pricing_applied(self) -> dict[int, int]:
        query = sql.SQL(
            'SELECT partition, "offset" FROM {}.checkpoint WHERE projection = %s'
        ).format(sql.Identifier(self.schema))
        try:
            with self.pg.connection() as conn:
                rows = conn.execute(query, ["pricing"]).fetchall()
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
        return await self.run(_with_pool(query), self.pg, self.schema, *args)

    async def refresh_search(self) -> None:
        """Make applied documents searchable now (one refresh for all waiting queries)."""
        asked = time.monotonic()
        async with self._refresh_lock:
            if self._refreshed_at >= asked:
                return  # a refresh that began after we asked has covered us
            began = time.monotonic()
            await self.run(lambda: self.es.indices.refresh(index=self.alias))
            self._refreshed_at = began


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stores = Stores(settings)
        stores.open()
        app.state.stores = stores
        try:
            yield
        finally:
            stores.close()

    app = FastAPI(
        title="eventcart query API",
        version="1",
        description=__doc__,
        lifespan=lifespan,
        # FastAPI's own OpenTelemetry hooks look up providers on every request (4% of
        # a search's CPU in the API) although nothing here exports telemetry.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    _errors(app)

    def stores_of(request: Request) -> Stores:
        stores: Stores = request.app.state.stores
        return stores

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    # --- search ---------------------------------------------------------------
    @app.get("/search", response_model=SearchResult, tags=["search"])
    async def search_products(
        request: Request,
        query: Annotated[SearchQuery, Query()],
        x_min_position: MinPositionHeader = None,
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

    @app.get("/suggest", tags=["search"])
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

    @app.get("/products/{sku}", tags=["search"])
    async def product(
        request: Request,
        sku: Sku,
        min_position: MinPosition = None,
        wait_ms: WaitMs = 2000,
        x_min_position: MinPositionHeader = None,
    ) -> dict[str, Any]:
        """The product's search document (realtime: no refresh needed). 404 if unknown."""
        stores = stores_of(request)
        await stores.consistent("search", min_position or x_min_position, wait_ms)
        doc = await stores.run(search.get_product, stores.es, stores.alias, sku)
        if doc is None:
            return _not_found(sku)  # type: ignore[return-value]
        return doc

    # --- pricing --------------------------------------------------------------
    @app.get("/prices/{sku}", response_model=ProductPrices, tags=["pricing"])
    async def prices(
        request: Request,
        sku: Sku,
        min_position: MinPosition = None,
        wait_ms: WaitMs = 2000,
        x_min_position: MinPositionHeader = None,
    ) -> Any:
        """Current price in every currency, with status and stock."""
        found = await stores_of(request).pricing(
            min_position or x_min_position, wait_ms, pricing.current_prices, sku
        )
        return found if found is not None else _not_found(sku)

    @app.get("/prices/{sku}/as-of", response_model=list[PricePoint], tags=["pricing"])
    async def as_of(
        request: Request,
        sku: Sku,
        at: Annotated[datetime, Query(description="instant, RFC 3339 with offset")],
        currency: Currency = None,
        min_position: MinPosition = None,
        wait_ms: WaitMs = 2000,
        x_min_position: MinPositionHeader = None,
    ) -> Any:
        """The price valid at an instant, per currency (valid_from <= at < valid_to)."""
        return await stores_of(request).pricing(
            min_position or x_min_position, wait_ms, pricing.price_as_of, sku, at, currency
        )

    @app.get("/prices/{sku}/history", response_model=list[PriceInterval], tags=["pricing"])
    async def history(
        request: Request,
        sku: Sku,
        currency: Currency = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 500,
        min_position: MinPosition = None,
        wait_ms: WaitMs = 2000,
        x_min_position: MinPositionHeader = None,
    ) -> Any:
        """Every price of the SKU as validity intervals, oldest first."""
        return await stores_of(request).pricing(
            min_position or x_min_position, wait_ms, pricing.price_history, sku, currency, limit
        )

    @app.get("/prices/{sku}/lowest-30-days", response_model=OmnibusPrice, tags=["pricing"])
    async def lowest_30_days(
        request: Request,
        sku: Sku,
        currency: Annotated[str, Query(pattern=r"^[A-Z]{3}$")],
        before: Annotated[
            datetime | None, Query(description="the price change's instant (default: current)")
        ] = None,
        min_position: MinPosition = None,
        wait_ms: WaitMs = 2000,
        x_min_position: MinPositionHeader = None,
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
        return found if found is not None else _not_found(sku)

    @app.post("/prices/bulk", response_model=dict[str, ProductPrices], tags=["pricing"])
    async def bulk(
        request: Request,
        body: Annotated[BulkPricesRequest, Body()],
        min_position: MinPosition = None,
        wait_ms: WaitMs = 2000,
        x_min_position: MinPositionHeader = None,
    ) -> Any:
        """Current prices of up to 1,000 SKUs in one call (unknown SKUs are left out)."""
        return await stores_of(request).pricing(
            min_position or x_min_position,
            wait_ms,
            pricing.bulk_current_prices,
            body.skus,
            body.currency,
        )

    return app


def _with_pool(fn: Callable[..., T]) -> Callable[..., T]:
    """Run a pricing query on a pooled read-only connection."""

    def call(pool: ConnectionPool[Any], *args: Any) -> T:
        try:
            with pool.connection() as conn:
                return fn(conn, *args)
        except pricing.PricingUnavailable:
            raise
        except (ValueError, TypeError):
            raise
        except Exception as exc:
            raise pricing.PricingUnavailable(f"pricing store: {exc}") from exc

    return call


def _not_found(sku: str) -> JSONResponse:
    return JSONResponse(status_code=404, content={"detail": f"no product {sku}"})


def _errors(app: FastAPI) -> None:
    """Every failure becomes a clean JSON answer; nothing leaks a stack trace."""

    @app.exception_handler(NotYetConsistent)
    async def not_yet(_: Request, exc: NotYetConsistent) -> JSONResponse:
        return JSONResponse(
            status_code=409,
            headers={"Retry-After": "1"},
            content={
                "status": "not_yet_consistent",
                "read_model": exc.read_model,
                "missing": {str(p): o for p, o in exc.missing.items()},
                "detail": f"the {exc.read_model} read model has not applied this position yet; "
                "retry, or allow a longer wait_ms",
            },
        )

    @app.exception_handler(search.SearchUnavailable)
    @app.exception_handler(pricing.PricingUnavailable)
    async def unavailable(_: Request, exc: Exception) -> JSONResponse:
        log.warning("store unavailable: %s", exc)
        return JSONResponse(
            status_code=503,
            headers={"Retry-After": str(RETRY_AFTER_S)},
            content={"detail": "the read model's store cannot answer right now; retry shortly"},
        )

    @app.exception_handler(BadRequestError)
    async def refused(_: Request, exc: BadRequestError) -> JSONResponse:
        # Input validation should have caught it; never a 500 for what a client sent.
        log.warning("elasticsearch refused a query: %s", exc)
        return JSONResponse(
            status_code=422,
            content={"detail": [{"field": "$", "message": "the search engine refused this input"}]},
        )

    @app.exception_handler(ValidationError)
    @app.exception_handler(ValueError)
    async def invalid(_: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, ValidationError):
            detail = [
                {"field": ".".join(str(p) for p in e["loc"]) or "$", "message": e["msg"]}
                for e in exc.errors()
            ]
        else:
            detail = [{"field": "$", "message": str(exc)}]
        return JSONResponse(status_code=422, content={"detail": detail})

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return JSONResponse(status_code=500, content={"detail": "internal error"})


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
    uvicorn.run(
        factory,
        factory=True,
        host=settings.api_host,
        port=settings.query_api_port,
        workers=settings.query_api_workers,
        log_level="warning",
    )
