"""The HTTP command API: the write side of eventcart for callers that do not speak Kafka.

Every request becomes one command on the commands topic through the same
:class:`~producers.client.CommandClient` Python services use, so it is validated
against the same JSON Schemas, keyed the same way, and answered by the same
processor. The API adds nothing to the domain; it only translates:

* **200** the processor's :class:`~producers.results.CommandResult`, accepted *or*
  rejected by a domain rule: a rejection is a valid, final answer, not an HTTP error.
* **202** Kafka has acknowledged the command (it can no longer be lost) but its
  answer has not been awaited (``wait=false``) or did not arrive in time. Resending the same ``command_id`` is always safe: the
  processor answers a known id with its original result and publishes nothing new.
* **422** the input breaks the contract, as ``{"detail": [{"field", "rule", "message"}]}``
  whether FastAPI or the JSON Schema found it, so clients parse one shape.
* **401** missing or wrong bearer token; **413** body over ``api_max_body_bytes``;
  **503** with ``Retry-After`` when Kafka does not take the command, or has not
  acknowledged it within the request's timeout (Kafka unreachable).

Run it with :func:`serve` (``eventcart api commands``) or mount :func:`create_app`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from concurrent.futures import Future
from contextlib import asynccontextmanager
from enum import StrEnum
from typing import Annotated, Any

from confluent_kafka import KafkaException
from fastapi import APIRouter, Body, Depends, FastAPI, Path, Query, Request, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from producers.auth import require_bearer_token
from producers.client import CommandClient, DeliveryError
from producers.commands import command
from producers.results import CommandResult
from schemas import preflight
from schemas.api_exposure import check_api_exposure
from schemas.errors import ROOT_FIELD, ContractError, join_path
from schemas.settings import DEFAULT_API_TOKEN, Settings, get_settings

__all__ = [
    "COMMAND_TYPE_BY_NAME",
    "BodySizeLimitMiddleware",
    "CommandName",
    "CommandRequest",
    "FieldError",
    "PendingResponse",
    "ValidationErrorResponse",
    "create_app",
    "serve",
]

log = logging.getLogger(__name__)

#: Seconds a client should wait before retrying after a 503.
RETRY_AFTER_S = 5
#: Seconds a request waits for Kafka to acknowledge its command before a 503.
ACK_WAIT_S = 5.0
#: Upper bound of ``timeout_s``: a request holding a connection longer than this is
#: better turned into a 202 and a retry with the same command_id.
MAX_WAIT_S = 60.0

_RESEND_SAFE = (
    "The command was sent; its result is not known yet. Resending the same command "
    "(same command_id) is safe: a known command_id is answered with its original result."
)


class CommandName(StrEnum):
    """Command types as URL path segments (kebab-case, the usual style of URLs)."""

    REGISTER_PRODUCT = "register-product"
    UPDATE_PRODUCT_DETAILS = "update-product-details"
    CHANGE_PRICE = "change-price"
    ADJUST_STOCK = "adjust-stock"
    DISCONTINUE_PRODUCT = "discontinue-product"


#: Path name -> the command ``type`` of the contract (``schemas/json/commands``).
COMMAND_TYPE_BY_NAME: Mapping[CommandName, str] = {
    CommandName.REGISTER_PRODUCT: "RegisterProduct",
    CommandName.UPDATE_PRODUCT_DETAILS: "UpdateProductDetails",
    CommandName.CHANGE_PRICE: "ChangePrice",
    CommandName.ADJUST_STOCK: "AdjustStock",
    CommandName.DISCONTINUE_PRODUCT: "DiscontinueProduct",
}


# --- request and response models (they are the OpenAPI documentation) -----------
class CommandRequest(BaseModel):
    """What the caller wants; the envelope (type, schema_version, occurred_at) is added here.

    Only the shape is checked by this model. The rules for ``sku`` and ``data``
    (patterns, enums, limits) are the JSON Schemas', checked by the client, so the
    HTTP API and every other producer cannot drift apart.
    """

    model_config = ConfigDict(extra="forbid")

    sku: str = Field(
        description=(
            "Stock keeping unit, `^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`. Also the Kafka key: "
            "all commands for one SKU are processed in order."
        ),
        examples=["SKU-1"],
    )
    data: dict[str, Any] = Field(
        description=(
            "The command's payload; its shape depends on the command type (see the "
            "examples and `schemas/json/commands/<Type>.v1.json`). Money is a decimal "
            'string ("19.99"), never a JSON number.'
        ),
        examples=[{"amount": "19.99", "currency": "EUR"}],
    )
    command_id: str | None = Field(
        default=None,
        description=(
            "Idempotency key (1-128 characters). Choose it yourself if you may retry: a "
            "resent command_id gets the original result and creates no new events. "
            "Generated (a UUID) when absent."
        ),
        examples=["8c1e4c0e-4f5e-4a8e-9a43-2f1b6c7d9e10"],
    )
    expected_version: int | None = Field(
        default=None,
        description=(
            "Optimistic concurrency: the product version you last saw; 0 means the "
            "product must not exist yet. A mismatch is rejected with `version_conflict`."
        ),
        examples=[3],
    )
    correlation_id: str | None = Field(
        default=None,
        description="Ties together everything caused by one user action (1-128 characters).",
    )
    causation_id: str | None = Field(
        default=None,
        description="Id of the message that caused this command, if any (1-128 characters).",
    )


class PendingResponse(BaseModel):
    """The command is on its way; its result was not awaited or not in time."""

    command_id: str = Field(description="Resend with this command_id to get the result.")
    status: str = Field(default="pending", examples=["pending"])
    message: str = Field(default=_RESEND_SAFE)


class FieldError(BaseModel):
    """One broken rule, in the same terms as a rejected command's result."""

    field: str = Field(
        description="JSON path of the offending value (`data.amount`); `$` is the whole body.",
        examples=["data.amount"],
    )
    rule: str = Field(
        description="Stable rule name (required, type, pattern, enum, size, ...).",
        examples=["pattern"],
    )
    message: str = Field(description="For people.", examples=["data.amount must match pattern"])


class ValidationErrorResponse(BaseModel):
    """Every 422 and 413 body: a list of broken rules."""

    detail: list[FieldError]


class ErrorResponse(BaseModel):
    """401 and 503 bodies."""

    detail: str


_BODY_EXAMPLES: dict[str, Any] = {
    "register-product": {
        "summary": "register-product",
        "value": {
            "sku": "SKU-1",
            "data": {
                "name": "Trail shoe",
                "brand": "Acme",
                "category_path": ["shoes", "trail"],
                "attributes": {"color": "red"},
                "tags": ["trail"],
            },
            "expected_version": 0,
        },
    },
    "update-product-details": {
        "summary": "update-product-details",
        "value": {"sku": "SKU-1", "data": {"description": "Grippy sole"}},
    },
    "change-price": {
        "summary": "change-price",
        "value": {
            "sku": "SKU-1",
            "data": {"amount": "89.90", "currency": "EUR", "price_type": "regular"},
            "command_id": "price-SKU-1-2024-06-01",
        },
    },
    "adjust-stock": {
        "summary": "adjust-stock",
        "value": {"sku": "SKU-1", "data": {"delta": -2, "reason": "sold"}},
    },
    "discontinue-product": {
        "summary": "discontinue-product",
        "value": {"sku": "SKU-1", "data": {"reason": "end of line"}},
    },
}


# --- errors in one shape ----------------------------------------------------------
#: Pydantic error types renamed to the JSON Schema rule names clients already know.
_RULES = {
    "missing": "required",
    "extra_forbidden": "additionalProperties",
    "json_invalid": "json",
    "string_type": "type",
    "int_type": "type",
    "int_parsing": "type",
    "int_from_float": "type",
    "dict_type": "type",
    "model_attributes_type": "type",
    "float_parsing": "type",
    "float_type": "type",
    "bool_parsing": "type",
    "enum": "enum",
    "less_than_equal": "maximum",
    "greater_than": "exclusiveMinimum",
    "greater_than_equal": "minimum",
}


def _field_path(loc: Sequence[str | int], error_type: str) -> str:
    """``("body", "data", "amount")`` -> ``data.amount``; query and path keep their prefix
    (``query.timeout_s``) because they are not fields of the body."""
    parts = list(loc)
    if parts and parts[0] == "body":
        parts = parts[1:]
        if error_type == "json_invalid":  # loc ends with a character offset, not a key
            parts = []
    path = ROOT_FIELD
    for part in parts:
        path = join_path(path, part)
    return path


def _field_errors(exc: RequestValidationError) -> list[dict[str, str]]:
    errors = []
    for error in exc.errors():
        error_type = str(error.get("type", "invalid"))
        field = _field_path(error.get("loc", ()), error_type)
        message = str(error.get("msg", "is invalid"))
        errors.append(
            {
                "field": field,
                "rule": _RULES.get(error_type, error_type),
                "message": f"{field}: {message}",
            }
        )
    return errors


def _unprocessable(errors: list[dict[str, str]]) -> JSONResponse:
    return JSONResponse(
        status_code=status.HTTP_422_UNPROCESSABLE_CONTENT, content={"detail": errors}
    )


def _pending(command_id: str) -> JSONResponse:
    return JSONResponse(
        status_code=status.HTTP_202_ACCEPTED,
        content=PendingResponse(command_id=command_id).model_dump(),
    )


def _unavailable(reason: str) -> JSONResponse:
    return JSONResponse(
        status_code=status.HTTP_503_SERVICE_UNAVAILABLE,
        content={"detail": reason},
        headers={"Retry-After": str(RETRY_AFTER_S)},
    )


# --- body size ----------------------------------------------------------------------
class BodySizeLimitMiddleware:
    """Refuses request bodies over ``max_bytes`` with 413, before any handler runs.

    The declared ``Content-Length`` is checked first (cheap, and refuses the
    request before it is read); the bytes actually received are counted too,
    because a chunked body declares no length and a lying client may declare a
    short one. The body is buffered (it is at most ``max_bytes``) and replayed to
    the application, so no handler ever sees an over-long body.
    """

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
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
        error = FieldError(
            field=ROOT_FIELD,
            rule="size",
            message=f"request body is over the limit of {self.max_bytes} bytes",
        )
        response = JSONResponse(
            status_code=status.HTTP_413_CONTENT_TOO_LARGE,
            content={"detail": [error.model_dump()]},
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


# --- the app -----------------------------------------------------------------------
def create_app(settings: Settings | None = None, client: CommandClient | None = None) -> FastAPI:
    """The command API, with its own :class:`CommandClient` unless one is given.

    A client passed in belongs to the caller, who closes it; a client created here
    is created at startup and closed (flushing what is still queued) at shutdown.
    """
    settings = settings or get_settings()
    state: dict[str, CommandClient] = {}

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        owned = client is None
        active = client if client is not None else CommandClient(settings)
        state["client"] = active
        try:
            # Position the results listener now, off the event loop, so the first
            # request does not pay for it. A failure here (Kafka down) is not fatal:
            # requests retry it and answer 503 until Kafka is back.
            await asyncio.to_thread(lambda: active.listener)
        except (KafkaException, RuntimeError) as exc:
            log.warning("results listener not ready yet: %s", exc)
        try:
            yield
        finally:
            state.pop("client", None)
            if owned:
                try:
                    await asyncio.to_thread(active.close)
                except DeliveryError as exc:
                    log.error("commands lost at shutdown: %s", exc)

    app = FastAPI(
        title="eventcart command API",
        version="1",
        description=(
            "Send commands to the eventcart product catalog over HTTP.\n\n"
            "Each request becomes one command on Kafka, validated against the published "
            "JSON Schemas and decided by the command processor. **200** carries the "
            "processor's result: `accepted` (with the new version and the events' "
            "positions, a read-your-writes token) or `rejected` with a machine `reason` "
            "(`not_found`, `version_conflict`, `insufficient_stock`, ...). **202** means "
            "Kafka has the command but its result was not awaited; **503** that Kafka "
            "did not acknowledge it in time. Resending the same "
            "`command_id` is always safe and returns the original result. **422** lists "
            "the broken rules by field path. Authenticate with `Authorization: Bearer "
            "<token>`."
        ),
        lifespan=lifespan,
    )
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.api_max_body_bytes)

    @app.exception_handler(RequestValidationError)
    async def on_request_invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return _unprocessable(_field_errors(exc))

    @app.get("/healthz", tags=["health"], summary="Liveness: the process answers")
    async def healthz() -> dict[str, str]:
        """No authentication and no Kafka call: for load balancers and orchestrators."""
        return {"status": "ok"}

    router = APIRouter(
        tags=["commands"],
        dependencies=[Depends(require_bearer_token(settings.api_token))],
        responses={
            401: {"model": ErrorResponse, "description": "Missing or wrong bearer token."},
            413: {"model": ValidationErrorResponse, "description": "Body too large."},
            422: {
                "model": ValidationErrorResponse,
                "description": "The input breaks the contract; each broken rule by field.",
            },
            503: {
                "model": ErrorResponse,
                "description": "Kafka did not take the command; retry after `Retry-After`.",
            },
        },
    )

    @router.post(
        "/commands/{command_type}",
        response_model=CommandResult,
        summary="Send one command",
        responses={
            200: {"description": "The processor's answer: accepted or rejected."},
            202: {
                "model": PendingResponse,
                "description": "Kafka has the command; its result was not awaited.",
            },
        },
    )
    async def send_command(
        command_type: Annotated[
            CommandName, Path(description="The command to send, in kebab-case.")
        ],
        body: Annotated[CommandRequest, Body(openapi_examples=_BODY_EXAMPLES)],
        wait: Annotated[
            bool,
            Query(description="Wait for the processor's result (200) or not (202)."),
        ] = True,
        timeout_s: Annotated[
            float,
            Query(
                gt=0,
                le=MAX_WAIT_S,
                description="How long to wait for the result (200) before answering 202 "
                "(given once Kafka has acknowledged the command; 503 if it does not "
                "within 5 s).",
            ),
        ] = 10.0,
    ) -> CommandResult | JSONResponse:
        """Validate the command, publish it, and (unless `wait=false`) wait for its result.

        A rejection by a domain rule is a 200 with `status: rejected`, because the
        command was processed and its answer is final; retrying it will not help.
        """
        active = state.get("client")
        if active is None:  # only between shutdown and the last request
            return _unavailable("the command API is shutting down")
        message = command(
            COMMAND_TYPE_BY_NAME[command_type],
            body.sku,
            body.data,
            command_id=body.command_id,
            expected_version=body.expected_version,
            correlation_id=body.correlation_id,
            causation_id=body.causation_id,
        )
        command_id = str(message["command_id"])
        # 202 is a promise: it is only given once Kafka has acknowledged the command
        # (it can no longer be lost). Without that acknowledgement in time, Kafka is
        # unreachable or slow: 503, and the client resends the same command_id (the
        # processor answers a known id once, however often it arrives).
        acked: Future[None] = Future()
        try:
            # In a thread: the first call may position the results listener, and a
            # full producer queue makes produce wait; neither may stall the loop.
            if not wait:
                acked = await asyncio.to_thread(active.publish, message)
            else:
                future = await asyncio.to_thread(active.submit, message, acked)
                # wait_for cancels the wrapped future on timeout; the listener skips
                # cancelled futures, and forget() drops its entry.
                return await asyncio.wait_for(asyncio.wrap_future(future), timeout=timeout_s)
        except ContractError as exc:
            return _unprocessable([exc.to_dict()])
        except TimeoutError:
            active.listener.forget(command_id)
        except (DeliveryError, KafkaException, RuntimeError) as exc:
            # RuntimeError also covers a results topic that cannot be read: the
            # deployment is broken, which the caller can only wait out.
            log.warning("command %s not taken by Kafka: %s", command_id, exc)
            return _unavailable("Kafka did not take the command; retry with the same command_id")
        # No result (not awaited, or not in time): 202 once Kafka has the command. The
        # acknowledgement normally takes milliseconds; it is waited for up to
        # ACK_WAIT_S whatever timeout_s says, so only an unreachable Kafka gives 503.
        try:
            # shield: a timeout must not cancel the acknowledgement itself.
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(acked)), ACK_WAIT_S)
        except TimeoutError:
            log.warning("command %s not acknowledged by Kafka within %s s", command_id, ACK_WAIT_S)
            return _unavailable(
                "Kafka has not acknowledged the command; retry with the same command_id"
            )
        except (DeliveryError, KafkaException) as exc:
            log.warning("command %s not taken by Kafka: %s", command_id, exc)
            return _unavailable("Kafka did not take the command; retry with the same command_id")
        return _pending(command_id)

    app.include_router(router)
    return app


def serve(settings: Settings | None = None) -> None:
    """Run the command API with uvicorn on ``api_host:command_api_port`` until stopped.

    Loopback by default: put a TLS-terminating proxy in front to expose it, since
    the bearer token must not cross a network in clear text. It refuses a
    non-loopback host with the default token (:class:`UnsafeExposureError`) and Kafka
    credentials the brokers reject (:class:`CredentialsRejectedError`) before it
    listens.
    """
    import uvicorn  # here: the CLI imports this module for every subcommand

    settings = settings or get_settings()
    token = settings.api_token.get_secret_value()
    check_api_exposure(settings.api_host, token, "the command API")
    if token == DEFAULT_API_TOKEN:
        log.warning("EVENTCART_API_TOKEN is the default token: set a secret one")
    preflight.check(settings, kafka=True)
    uvicorn.run(
        create_app(settings),
        host=settings.api_host,
        port=settings.command_api_port,
        log_level=settings.log_level,
    )
