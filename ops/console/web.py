"""What every console route shares: how a page is answered, and how a form is let in.

Kept apart from :mod:`.app` so the routes of each page family (catalog and
product, schedules and campaigns) can live in modules of their own and still
answer with the same headers and the same guard on forms.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs

from fastapi import Request
from fastapi.responses import Response
from fastapi.templating import Jinja2Templates

from read_models.query_stores import Stores
from schemas.config.settings import Settings

__all__ = ["CSP", "Pages", "form_of", "stores_of", "swapping"]

#: Only what the package serves: no CDN, no inline script (the series travels as JSON data).
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; "
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; form-action 'self'"
)


class Pages:
    """Renders the console's templates with its security and caching headers: a page
    is never cached (it shows read models that change) and loads nothing from elsewhere."""

    def __init__(self, templates: Jinja2Templates) -> None:
        self.templates = templates

    def __call__(
        self, request: Request, name: str, context: dict[str, Any], status: int = 200
    ) -> Response:
        answer = self.templates.TemplateResponse(request, name, context, status_code=status)
        answer.headers["Content-Security-Policy"] = CSP
        answer.headers["Cache-Control"] = "no-store"
        return answer


def stores_of(request: Request) -> Stores:
    """The query API's clients: the console reads through them, never its own."""
    stores: Stores = request.app.state.stores
    return stores


def swapping(request: Request, target: str) -> bool:
    """An htmx request for one part of the page (a back-button restore wants it all)."""
    return (
        request.headers.get("HX-Target") == target
        and "HX-History-Restore-Request" not in request.headers
    )


async def form_of(
    request: Request, settings: Settings, max_bytes: int, what: str
) -> dict[str, list[str]] | Response:
    """The fields of a form that sends a command, or the refusal to answer instead.

    Only the page's own forms are let in: they carry htmx's header, which a
    cross-site form cannot send, and only in a console given a command token.
    """
    if settings.console_command_token is None or "HX-Request" not in request.headers:
        return Response(f"{what} are not enabled in this console", status_code=403)
    body = await request.body()
    if len(body) > max_bytes:
        return Response(f"the form is larger than {what} need", status_code=413)
    return parse_qs(body.decode("utf-8", "replace"))
