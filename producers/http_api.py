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

``POST /imports`` takes a whole catalog feed and imports it in the background
(``producers.http_imports``); it needs a catalog view of the read models, which
this layer may not import, so the caller injects it (``catalog_factory``).

Run it with :func:`serve` (``eventcart api commands``) or mount :func:`create_app`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Future
from contextlib import asynccontextmanager
from typing import Annotated, Any

from confluent_kafka import KafkaException
from fastapi import APIRouter, Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from producers.auth import require_bearer_token
from producers.client import CommandClient, DeliveryError
from producers.commands import command
from producers.http_errors import (
    BodySizeLimitMiddleware,
    field_errors,
    pending,
    unavailable,
    unprocessable,
)
from producers.http_imports import CatalogFactory, ImportJobs, imports_router
from producers.http_models import (
    COMMAND_TYPE_BY_NAME,
    CommandRequest,
    PendingResponse,
)
from producers.http_schemas import body_schema, openapi_body
from producers.results import CommandResult
from schemas import api_errors, http_metrics, tracing
from schemas.api_errors import ErrorResponse, ValidationErrorResponse
from schemas.config import preflight
from schemas.config.api_exposure import check_api_exposure
from schemas.config.settings import DEFAULT_API_TOKEN, Settings, get_settings
from schemas.errors import ContractError

__all__ = ["create_app", "serve"]

log = logging.getLogger(__name__)

#: Seconds a request waits for Kafka to acknowledge its command before a 503.
ACK_WAIT_S = 5.0
#: Upper bound of ``timeout_s``: a request holding a connection longer than this is
#: better turned into a 202 and a retry with the same command_id.
MAX_WAIT_S = 60.0


def create_app(
    settings: Settings | None = None,
    client: CommandClient | None = None,
    catalog_factory: CatalogFactory | None = None,
) -> FastAPI:
    """The command API, with its own :class:`CommandClient` unless one is given.

    A client passed in belongs to the caller, who closes it; a client created here
    is created at startup and closed (flushing what is still queued) at shutdown.
    ``catalog_factory`` makes the catalog view an upload is compared with
    (``ops.catalog_view.ReadModelCatalog``); without it ``POST /imports`` answers 503.
    """
    settings = settings or get_settings()
    tracing.setup(settings, "eventcart-command-api")
    state: dict[str, CommandClient] = {}
    imports = ImportJobs(settings, catalog_factory, lambda: state.get("client"))

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
        await asyncio.to_thread(imports.recover)
        try:
            yield
        finally:
            state.pop("client", None)
            if owned:
                try:
                    await asyncio.to_thread(active.close)
                except DeliveryError as exc:
                    log.error("commands lost at shutdown: %s", exc)
            await asyncio.to_thread(tracing.flush)

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
            "the broken rules by field path. `POST /imports` takes a whole catalog "
            "feed and imports it in the background. Authenticate with "
            "`Authorization: Bearer <token>`."
        ),
        lifespan=lifespan,
        # FastAPI's own OpenTelemetry hooks look up providers on every request,
        # although nothing here exports telemetry.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    app.state.imports = imports
    http_metrics.install(app, "command")
    # /imports streams its body to disk under a limit of its own (import_max_bytes).
    app.add_middleware(
        BodySizeLimitMiddleware, max_bytes=settings.api_max_body_bytes, exempt={"/imports"}
    )

    @app.exception_handler(RequestValidationError)
    async def on_request_invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return unprocessable(field_errors(exc))

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

    async def send_command(
        command_type: str,
        request: Request,
        wait: bool,
        timeout_s: float,
    ) -> CommandResult | JSONResponse:
        """Validate the command, publish it, and (unless `wait=false`) wait for its result.

        A rejection by a domain rule is a 200 with `status: rejected`, because the
        command was processed and its answer is final; retrying it will not help.
        """
        try:
            body = CommandRequest.model_validate_json(await request.body())
        except ValidationError as exc:
            return unprocessable(api_errors.field_errors(exc.errors()))
        active = state.get("client")
        if active is None:  # only between shutdown and the last request
            return unavailable("the command API is shutting down")
        message = command(
            command_type,
            body.sku,
            body.data,
            command_id=body.command_id,
            expected_version=body.expected_version,
            correlation_id=body.correlation_id,
            causation_id=body.causation_id,
        )
        command_id = str(message["command_id"])
        with tracing.server_span(
            f"POST /commands/{command_type}",
            request.headers,
            {"eventcart.sku": body.sku, "eventcart.command_id": command_id},
        ):
            return await deliver(active, message, command_id, wait, timeout_s)

    async def deliver(
        active: CommandClient,
        message: dict[str, Any],
        command_id: str,
        wait: bool,
        timeout_s: float,
    ) -> CommandResult | JSONResponse:
        """Publish the command; its result, or 202 once Kafka has it, or 503."""
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
            return unprocessable([exc.to_dict()])
        except TimeoutError:
            active.listener.forget(command_id)
        except (DeliveryError, KafkaException, RuntimeError) as exc:
            # RuntimeError also covers a results topic that cannot be read: the
            # deployment is broken, which the caller can only wait out.
            log.warning("command %s not taken by Kafka: %s", command_id, exc)
            return unavailable("Kafka did not take the command; retry with the same command_id")
        # No result (not awaited, or not in time): 202 once Kafka has the command. The
        # acknowledgement normally takes milliseconds; it is waited for up to
        # ACK_WAIT_S whatever timeout_s says, so only an unreachable Kafka gives 503.
        try:
            # shield: a timeout must not cancel the acknowledgement itself.
            await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(acked)), ACK_WAIT_S)
        except TimeoutError:
            log.warning("command %s not acknowledged by Kafka within %s s", command_id, ACK_WAIT_S)
            return unavailable(
                "Kafka has not acknowledged the command; retry with the same command_id"
            )
        except (DeliveryError, KafkaException) as exc:
            log.warning("command %s not taken by Kafka: %s", command_id, exc)
            return unavailable("Kafka did not take the command; retry with the same command_id")
        return pending(command_id)

    for name, command_type in COMMAND_TYPE_BY_NAME.items():
        router.add_api_route(
            f"/commands/{name.value}",
            _route(command_type, send_command),
            methods=["POST"],
            response_model=CommandResult,
            summary=f"Send a {command_type} command",
            description=body_schema(command_type)["description"],
            operation_id=f"send_{name.value.replace('-', '_')}",
            openapi_extra=openapi_body(command_type),
            responses={
                200: {"description": "The processor's answer: accepted or rejected."},
                202: {
                    "model": PendingResponse,
                    "description": "Kafka has the command; its result was not awaited.",
                },
            },
        )

    app.include_router(router)
    app.include_router(imports_router(imports, settings))
    return app


WaitParam = Annotated[
    bool, Query(description="Wait for the processor's result (200) or not (202).")
]
TimeoutParam = Annotated[
    float,
    Query(
        gt=0,
        le=MAX_WAIT_S,
        description="How long to wait for the result (200) before answering 202 (given "
        "once Kafka has acknowledged the command; 503 if it does not within 5 s).",
    ),
]


def _route(
    command_type: str, send: Callable[[str, Request, bool, float], Awaitable[Any]]
) -> Callable[..., Awaitable[Any]]:
    """The endpoint of one command type: its body is read and checked by ``send`` (its
    OpenAPI schema is the contract's, given by ``openapi_body``)."""

    async def endpoint(
        request: Request, wait: WaitParam = True, timeout_s: TimeoutParam = 10.0
    ) -> Any:
        return await send(command_type, request, wait, timeout_s)

    return endpoint


def serve(settings: Settings | None = None, catalog_factory: CatalogFactory | None = None) -> None:
    """Run the command API with uvicorn on ``api_host:command_api_port`` until stopped.

    ``catalog_factory`` enables ``POST /imports`` (see :func:`create_app`);
    Elasticsearch and PostgreSQL credentials are then checked before it listens too.

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
    imports = catalog_factory is not None
    preflight.check(settings, kafka=True, elasticsearch=imports, postgres_reader=imports)
    uvicorn.run(
        create_app(settings, catalog_factory=catalog_factory),
        host=settings.api_host,
        port=settings.command_api_port,
        log_level=settings.log_level,
    )
