"""`eventcart api ...`: the HTTP APIs, each its own process so each scales on its own."""

from __future__ import annotations

import typer

from schemas.config.settings import get_settings

app = typer.Typer(
    help="Run the HTTP APIs (loopback; token from EVENTCART_API_TOKEN).", no_args_is_help=True
)


@app.command("commands")
def commands(
    imports: bool = typer.Option(
        True,
        "--imports/--no-imports",
        help="serve POST /imports (needs read access to both read models, to compare a "
        "feed with the catalog); without it the endpoint answers 503",
    ),
) -> None:
    """Serve the command API (POST /commands/{type}, POST /imports) on
    127.0.0.1:EVENTCART_COMMAND_API_PORT.

    OpenAPI docs at /docs. Requests need `Authorization: Bearer $EVENTCART_API_TOKEN`.
    Uploaded feeds are compared with the read models (as `eventcart import` does),
    which the command API's own layer may not import: their view is given here.
    """
    from ops.catalog_view import ReadModelCatalog
    from producers.http_api import serve

    settings = get_settings()
    serve(settings, catalog_factory=(lambda: ReadModelCatalog(settings)) if imports else None)


@app.command("queries")
def queries() -> None:
    """Serve the query API (search, prices, read-your-writes) and the web console on
    127.0.0.1:EVENTCART_QUERY_API_PORT.

    The console's pages are at / (catalog), /catalog/SKU and /operations; the JSON
    API's OpenAPI docs at /docs. It reads PostgreSQL as the read-only role.
    EVENTCART_QUERY_API_WORKERS processes share the port (default 1).
    """
    from read_models.query_api import serve

    serve(get_settings(), "ops.console.app:create_app_with_console")
