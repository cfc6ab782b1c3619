"""The web console's pages, mounted on the query API's app (``eventcart api queries``).

It sits in ``ops/`` because its operations page reads what ``eventcart status``
reads (``ops.status``, a top-floor module the query API in ``read_models/`` must
not import); the catalog and product pages call the query API's own query
functions through the same :class:`~read_models.query_stores.Stores` (the same
read-only PostgreSQL role, the same Elasticsearch client, the same
read-your-writes wait), so the console can show nothing the JSON API would not.

Pages are rendered on the server (Jinja2); htmx swaps the parts that change
(results, suggestions, the price panel, the operations panel, a campaign's
progress), so every page also works as a plain link without JavaScript, and every asset is served from the
package: the console works offline. The product and catalog pages follow the change
stream (``GET /changes``) and fetch again, with the change's position as
``min_position``, the parts a change touched (``static/live.js``); the operations
page gets its panel pushed by the server (``GET /operations/events``, Server-Sent
Events; ``templates/operations.html`` says why not the change stream).
"""

from __future__ import annotations

import contextlib
import re
from pathlib import Path
from typing import Annotated, Any

import anyio.to_thread
from fastapi import APIRouter, FastAPI, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, Response, StreamingResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates

from ops.console import (
    catalog_view,
    commands,
    operations,
    price_chart,
    price_panel,
    schedule_pages,
    schedule_view,
)
from ops.console.web import CSP, Pages, form_of, stores_of, swapping
from ops.status import age
from read_models.query_api import create_app
from read_models.query_params import SKU_PATTERN, MinPosition
from read_models.query_stores import NotYetConsistent, Stores
from read_models.search import queries as search
from read_models.search.models import MAX_SUGGEST_PREFIX, SortOrder
from read_models.search.query_body import PRICE_RANGES
from schemas.config.settings import Settings, get_settings

__all__ = ["CSP", "create_app_with_console", "mount"]

HERE = Path(__file__).parent
#: A price change's form is three short fields.
_MAX_FORM_BYTES = 1024
_AMOUNT = re.compile(r"^[0-9]{1,12}(\.[0-9]{1,4})?$")
_PRICE_KEYS = "|".join(re.escape(key) for key, _, _ in PRICE_RANGES)
#: How long a part the page fetches again for a change (min_position) waits for the
#: search read model; the change stream sends a change once it is applied, so this is
#: for another API process's read models only, then the part shows what they hold.
LIVE_WAIT_MS = 5000


def create_app_with_console() -> FastAPI:
    """The query API's app with the console mounted, from the environment's settings:
    what each process of ``eventcart api queries`` serves."""
    settings = get_settings()
    app = create_app(settings)
    mount(app, settings)
    return app


def mount(app: FastAPI, settings: Settings) -> None:
    """Add the console's pages (``/``, ``/catalog/{sku}``, ``/operations`` and its
    event stream, ``/console/campaigns``) and its static files (``/static``) to the
    query API's app; its JSON routes are unchanged."""
    templates = Jinja2Templates(directory=HERE / "templates")
    templates.env.filters["amount"] = price_chart.display_amount
    templates.env.filters["when"] = schedule_view.instant_text
    templates.env.filters["age"] = age
    templates.env.globals["sparkline"] = operations.sparkline
    templates.env.globals["control_id"] = catalog_view.control_id
    templates.env.globals["campaign_url"] = schedule_view.campaign_url
    templates.env.globals["schedule_statuses"] = schedule_view.STATUSES
    templates.env.globals["can_change_prices"] = settings.console_command_token is not None
    watch = operations.Watch(settings)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="console-static")
    router = APIRouter(include_in_schema=False)
    page = Pages(templates)

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
        min_position: MinPosition = None,
    ) -> Response:
        """The catalog; with min_position (the page's live refresh after a change of a
        product it shows), once that change is searchable, and no new history entry."""
        query = catalog_view.CatalogQuery(
            q.strip(), tuple(brand or ()), category, price, in_stock, currency, sort, page_number
        )
        stores = stores_of(request)
        context: dict[str, Any] = {"query": query, "sorts": catalog_view.SORTS}
        context["currencies"] = catalog_view.CURRENCIES
        status = 200
        try:
            await _applied(stores, min_position, searchable=True)
            result = await stores.run(search.search, stores.es, stores.alias, query.request())
        except search.SearchUnavailable:
            result, status = None, 503
        context["result"] = result
        if result is not None:
            context["groups"] = catalog_view.facet_groups(query, result.facets)
            context["pages"] = catalog_view.page_links(query, result.total)
        name = "_results.html" if swapping(request, "results") else "catalog.html"
        answer = page(request, name, context, status)
        # the tidy URL, not the form's every field; a live refresh changes no URL
        answer.headers["HX-Push-Url"] = "false" if min_position else query.url()
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
        prices, status = await price_panel.panel(request, sku, None)
        view = prices.get("view")
        currencies = list(view["current"].prices) if view else []
        form = schedule_view.ScheduleForm(currency=currencies[0] if currencies else "EUR")
        context = schedule_pages.form_context(sku, form, currencies)
        return page(request, "product.html", context | {"doc": doc, **prices}, status)

    @router.get("/catalog/{sku}/prices", response_class=HTMLResponse)
    async def prices(
        request: Request,
        sku: Annotated[str, PathParam(pattern=SKU_PATTERN)],
        min_position: Annotated[str | None, Query(max_length=2000)] = None,
    ) -> Response:
        """The price panel alone; with min_position, once the change it names is applied."""
        context, status = await price_panel.panel(request, sku, min_position)
        return page(request, "_prices.html", context, status)

    @router.get("/catalog/{sku}/details", response_class=HTMLResponse)
    async def details(
        request: Request,
        sku: Annotated[str, PathParam(pattern=SKU_PATTERN)],
        min_position: MinPosition = None,
    ) -> Response:
        """The product's head alone (name, details, status; the page keeps its forms),
        for the page's live refresh; with min_position, once the change it names is
        applied. Nothing to swap (204) when the search read model cannot say."""
        stores = stores_of(request)
        try:
            await _applied(stores, min_position)
            doc = await stores.run(search.get_product, stores.es, stores.alias, sku)
        except search.SearchUnavailable:
            doc = None
        if doc is None:
            return Response(status_code=204)
        return page(request, "_product_head.html", {"sku": sku, "doc": doc, "head_only": True})

    @router.post("/catalog/{sku}/change-price", response_class=HTMLResponse)
    async def change_price(
        request: Request, sku: Annotated[str, PathParam(pattern=SKU_PATTERN)]
    ) -> Response:
        """Forward a price change to the command API; answer with a panel that waits
        for it. Only from the page's own form: htmx's header is one a cross-site form
        cannot send."""
        form = await form_of(request, settings, _MAX_FORM_BYTES, "price changes")
        if isinstance(form, Response):
            return form
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
            panel, _ = await price_panel.panel(request, sku, None)
            context.update(panel, waiting_for=outcome.position_token, oob=True)
        return page(request, "_changed.html", context)

    # --- operations -----------------------------------------------------------------
    @router.get("/operations", response_class=HTMLResponse)
    async def operations_page(request: Request) -> Response:
        snapshot = await anyio.to_thread.run_sync(watch.latest)
        name = "_operations.html" if swapping(request, "operations") else "operations.html"
        return page(request, name, {"snapshot": snapshot})

    @router.get("/operations/events")
    async def operations_events(request: Request) -> StreamingResponse:
        """The operations panel, rendered, as Server-Sent Events (``event: operations``)
        every two seconds while the page is open: the page's updates, no polling."""
        fragment = templates.get_template("_operations.html")

        def render(snapshot: operations.Snapshot | None) -> str:
            return fragment.render(request=request, snapshot=snapshot)

        return StreamingResponse(
            operations.pushed(watch.latest, render, request.is_disconnected),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    schedule_pages.register(router, page, settings)
    app.include_router(router)


async def _applied(stores: Stores, min_position: str | None, *, searchable: bool = False) -> None:
    """Return once the search read model has applied min_position (searchable: and a
    search finds it), or after LIVE_WAIT_MS: the page then shows what the index holds,
    and the next change asks again."""
    with contextlib.suppress(NotYetConsistent):
        await stores.consistent("search", min_position, LIVE_WAIT_MS, searchable=searchable)
