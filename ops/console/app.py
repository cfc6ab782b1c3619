"""The web console's pages, mounted on the query API's app (``eventcart api queries``).

It sits in ``ops/`` because its operations page reads what ``eventcart status``
reads (``ops.status``, a top-floor module the query API in ``read_models/`` must
not import); the catalog and product pages call the query API's own query
functions through the same :class:`~read_models.query_stores.Stores` (the same
read-only PostgreSQL role, the same Elasticsearch client, the same
read-your-writes wait), so the console can show nothing the JSON API would not.

Pages are rendered on the server (Jinja2); htmx swaps the parts that change
(results, suggestions, the price panel, the operations panel), so every page also
works as a plain link without JavaScript, and every asset is served from the
package: the console works offline.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs

import anyio.to_thread
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from psycopg import Connection

from ops.console import catalog_view, commands, operations, price_chart
from read_models.pricing import queries as pricing
from read_models.query_api import SKU_PATTERN, create_app
from read_models.query_stores import NotYetConsistent, Stores
from read_models.search import queries as search
from read_models.search.models import MAX_SUGGEST_PREFIX, SortOrder
from read_models.search.query_body import PRICE_RANGES
from schemas.config.settings import Settings, get_settings

HERE = Path(__file__).parent
#: Only what the package serves: no CDN, no inline script (the series travels as JSON data).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'"
)
#: How long the price panel waits for the pricing read model per request after a change
#: (then it says so and asks again): well inside a browser's patience.
PRICE_WAIT_MS = 5000
#: A price change's form is three short fields.
_MAX_FORM_BYTES = 1024
_AMOUNT = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,4})?$")
_PRICE_KEYS = "|".join(re.escape(key) for key, _, _ in PRICE_RANGES)


def create_app_with_console() -> FastAPI:
    """The query API's app with the console mounted, from the environment's settings:
    what each process of ``eventcart api queries`` serves."""
    settings = get_settings()
    app = create_app(settings)
    mount(app, settings)
    return app


def mount(app: FastAPI, settings: Settings) -> None:
    """Add the console's pages (``/``, ``/catalog/{sku}``, ``/operations``) and its
    static files (``/static``) to the query API's app; its JSON routes are unchanged."""
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.filters["amount"] = price_chart.display_amount
    templates.env.globals["control_id"] = catalog_view.control_id
    templates.env.globals["can_change_prices"] = settings.console_command_token is not None
    watch = operations.Watch(settings)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="console-static")
    router = APIRouter(include_in_schema=False)

    def page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
        answer = templates.TemplateResponse(request, name, context, status_code=status)
        answer.headers["Content-Security-Policy"] = CSP
        answer.headers["Cache-Control"] = "no-store"
        return answer

    def stores_of(request: Request) -> Stores:
        stores: Stores = request.app.state.stores
        return stores

    def swapping(request: Request, target: str) -> bool:
        """An htmx request for one part of the page (a back-button restore wants it all)."""
        return (
            request.headers.get("HX-Target") == target
            and "HX-History-Restore-Request" not in request.headers
        )

    # --- catalog ------------------------------------------------------------------
    @router.get("/", response_class=HTMLResponse)
    async def catalog(
        request: Request,
        q: Annotated[str, Query(max_length=200)] = "",
        brand: Annotated[list[str] | None, Query(max_length=20)] = None,
        category: Annotated[str, Query(max_length=1100)] = "",
        price: Annotated[str, Query(pattern=f"^({_PRICE_KEYS})?$")] = "",
        in_stock: bool = False,
        currency: Annotated[str, Query(pattern="^[A-Z]{3}$")] = "EUR",
        sort: SortOrder = "relevance",
        page_number: Annotated[int, Query(alias="page", ge=1, le=100)] = 1,
    ) -> Response:
        query = catalog_view.CatalogQuery(
            q.strip(), tuple(brand or ()), category, price, in_stock, currency, sort, page_number
        )
        stores = stores_of(request)
        context: dict[str, Any] = {"query": query, "sorts": catalog_view.SORTS}
        context["currencies"] = catalog_view.CURRENCIES
        status = 200
        try:
            result = await stores.run(search.search, stores.es, stores.alias, query.request())
        except search.SearchUnavailable:
            result, status = None, 503
        context["result"] = result
        if result is not None:
            context["groups"] = catalog_view.facet_groups(query, result.facets)
            context["pages"] = catalog_view.page_links(query, result.total)
        name = "_results.html" if swapping(request, "results") else "catalog.html"
        answer = page(request, name, context, status)
        answer.headers["HX-Push-Url"] = query.url()  # the tidy URL, not the form's every field
        return answer

    @router.get("/suggestions", response_class=HTMLResponse)
    async def suggestions(
        request: Request, q: Annotated[str, Query(max_length=200)] = ""
    ) -> Response:
        """Autocomplete: the completion suggester of the JSON API's /suggest."""
        prefix = q.strip()[:MAX_SUGGEST_PREFIX]
        found: list[str] = []
        if prefix:
            stores = stores_of(request)
            try:
                found = await stores.run(search.suggest, stores.es, stores.alias, prefix, 8)
            except search.SearchUnavailable:
                found = []
        return page(request, "_suggestions.html", {"suggestions": found})

    # --- product --------------------------------------------------------------------
    async def price_panel(
        request: Request, sku: str, token: str | None
    ) -> tuple[dict[str, Any], int]:
        """The price panel's context; with a token, once pricing has applied it (or
        what it holds now, flagged to ask again)."""
        stores = stores_of(request)
        waiting = None
        try:
            view = await stores.pricing(token, PRICE_WAIT_MS, _read_prices, sku)
        except NotYetConsistent:
            waiting = token
            view = await stores.pricing(None, 0, _read_prices, sku)
        except pricing.PricingUnavailable:
            return {"sku": sku, "view": None, "unavailable": True}, 503
        return {"sku": sku, "view": view, "waiting_for": waiting}, 200

    @router.get("/catalog/{sku}", response_class=HTMLResponse)
    async def product(
        request: Request, sku: Annotated[str, PathParam(pattern=SKU_PATTERN)]
    ) -> Response:
        stores = stores_of(request)
        try:
            doc = await stores.run(search.get_product, stores.es, stores.alias, sku)
        except search.SearchUnavailable:
            return page(request, "product.html", {"sku": sku, "doc": None, "down": True}, 503)
        if doc is None:
            return page(request, "product.html", {"sku": sku, "doc": None}, 404)
        prices, status = await price_panel(request, sku, None)
        return page(request, "product.html", {"sku": sku, "doc": doc, **prices}, status)

    @router.get("/catalog/{sku}/prices", response_class=HTMLResponse)
    async def prices(
        request: Request,
        sku: Annotated[str, PathParam(pattern=SKU_PATTERN)],
        min_position: Annotated[str | None, Query(max_length=2000)] = None,
    ) -> Response:
        """The price panel alone; with min_position, once the change it names is applied."""
        context, status = await price_panel(request, sku, min_position)
        return page(request, "_prices.html", context, status)

    @router.post("/catalog/{sku}/change-price", response_class=HTMLResponse)
    async def change_price(
        request: Request, sku: Annotated[str, PathParam(pattern=SKU_PATTERN)]
    ) -> Response:
        """Forward a price change to the command API; answer with a panel that waits
        for it. Only from the page's own form: htmx's header is one a cross-site form
        cannot send."""
        if settings.console_command_token is None or "HX-Request" not in request.headers:
            return Response("price changes are not enabled in this console", status_code=403)
        body = await request.body()
        if len(body) > _MAX_FORM_BYTES:
            return Response("the form is larger than a price change", status_code=413)
        form = parse_qs(body.decode("utf-8", "replace"))
        amount = form.get("amount", [""])[0].strip()
        currency = form.get("currency", [""])[0].strip().upper()
        price_type = form.get("price_type", ["regular"])[0]
        if not _AMOUNT.match(amount) or not re.match(r"^[A-Z]{3}$", currency):
            outcome = commands.Outcome(False, "give an amount like 19.99 and a currency like EUR")
        elif price_type not in ("regular", "sale"):
            outcome = commands.Outcome(False, "the price type is regular or sale")
        else:
            outcome = await commands.change_price(settings, sku, amount, currency, price_type)
        context: dict[str, Any] = {"sku": sku, "outcome": outcome}
        if outcome.accepted:
            panel, _ = await price_panel(request, sku, None)
            context.update(panel, waiting_for=outcome.position_token, oob=True)
        return page(request, "_changed.html", context)

    # --- operations -----------------------------------------------------------------
    @router.get("/operations", response_class=HTMLResponse)
    async def operations_page(request: Request) -> Response:
        snapshot = await anyio.to_thread.run_sync(watch.latest)
        name = "_operations.html" if swapping(request, "operations") else "operations.html"
        return page(request, name, {"snapshot": snapshot})

    app.include_router(router)


def _read_prices(conn: Connection[Any], schema: str, sku: str) -> dict[str, Any] | None:
    """Current prices, history and Omnibus prices in one pooled connection, with the
    JSON API's query functions. None for a SKU the pricing model does not know."""
    current = pricing.current_prices(conn, schema, sku)
    if current is None:
        return None
    history = pricing.price_history(conn, schema, sku, None, 1000)
    omnibus = {
        currency: pricing.lowest_price_30_days(conn, schema, sku, currency)
        for currency, price in current.prices.items()
        if price.price_type == "sale"
    }
    series = price_chart.price_series(history, datetime.now(UTC))
    return {
        "current": current,
        "rows": price_chart.price_rows(current.prices, omnibus),
        "history": history,
        "series": series,
        "series_json": price_chart.series_json(series),
        "points": sum(s["points"] for s in series),
    }
