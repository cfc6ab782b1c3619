"""How the command API answers what it cannot take: one error shape, 202, 503, 413.

Kept apart from the routes: these are the API's promises to its callers (one
``{"detail": [{"field", "rule", "message"}]}`` shape whoever found the error, a
Retry-After on every 503, a body limit enforced before any handler runs).
"""

from __future__ import annotations

from collections.abc import Collection

from fastapi import status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from producers.http_models import PendingResponse
from schemas import api_errors
from schemas.api_errors import FieldError
from schemas.errors import ROOT_FIELD

#: Seconds a client should wait before retrying after a 503.
RETRY_AFTER_S = 5


# --- errors in one shape ----------------------------------------------------------
def field_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    return api_errors.field_errors(exc.errors())


def unprocessable(errors: list[dict[str, str]]) -> JSONResponse:
    return JSONResponse(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, content={"detail": errors}
    )


def pending(command_id: str) -> JSONResponse:
    return JSONResponse(
        status_code=status.HTTP_202_ACCEPTED,
        content=PendingResponse(command_id=command_id).model_dump(),
    )


def unavailable(reason: str) -> JSONResponse:
    return JSONResponse(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        content={"detail": reason},
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def too_many(reason: str) -> JSONResponse:
    """429: the server is busy with work of this kind; retry after ``Retry-After``."""
    return JSONResponse(
        status_code=status.HTTP_429_TOO_MANY_REQUESTS,
        content={"detail": reason},
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


def too_large(max_bytes: int) -> JSONResponse:
    """413 in the one error shape; ``Connection: close`` because the rest of the body
    is not read."""
    error = FieldError(
        field=ROOT_FIELD,
        rule="size",
        message=f"request body is over the limit of {max_bytes} bytes",
    )
    return JSONResponse(
        status_code=status.HTTP_413_CONTENT_TOO_LARGE,
        content={"detail": [error.model_dump()]},
        headers={"Connection": "close"},
    )


# --- body size ----------------------------------------------------------------------
class BodySizeLimitMiddleware:
    """Refuses request bodies over ``max_bytes`` with 413, before any handler runs.

    The declared ``Content-Length`` is checked first (cheap, and refuses the
    request before it is read); the bytes actually received are counted too,
    because a chunked body declares no length and a lying client may declare a
    short one. The body is buffered (it is at most ``max_bytes``) and replayed to
    the application, so no handler ever sees an over-long body.

    Paths in ``exempt`` (``/imports``, a feed file of gigabytes) pass unbuffered:
    their route streams the body to disk and enforces a limit of its own.
    """

    def __init__(self, app: ASGIApp, max_bytes: int, exempt: Collection[str] = ()) -> None:
        self.app = app
        self.max_bytes = max_bytes
        self.exempt = frozenset(exempt)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exempt:
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._too_large(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return  # the client left; nobody to answer
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_bytes:
                await self._too_large(scope, receive, send)
                return
            chunks.append(body)
            if not message.get("more_body", False):
                break

        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": b"".join(chunks), "more_body": False}
            return await receive()  # after the body: wait for the disconnect

        await self.app(scope, replay, send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        await too_large(self.max_bytes)(scope, receive, send)


# --- the app -----------------------------------------------------------------------
