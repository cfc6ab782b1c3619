"""How the query API answers what it cannot answer, and the OpenAPI entries that say so.

One error shape with the command API (:mod:`schemas.api_errors`): every 422
lists the broken rules by field (``query.size``), whichever layer found them;
a 400 that a malformed body would give is a 422 too. 404, 409 and 503 have
bodies of their own, each documented on every operation that can answer it.
"""

from __future__ import annotations

import logging
from typing import Any

from elasticsearch import BadRequestError
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException

from read_models.pricing import queries as pricing
from read_models.query_stores import NotYetConsistent
from read_models.search import queries as search
from schemas import api_errors
from schemas.api_errors import ErrorResponse, ValidationErrorResponse

__all__ = [
    "INVALID",
    "NOT_FOUND",
    "NOT_YET",
    "UNAVAILABLE",
    "NotYetConsistentResponse",
    "install",
    "not_found",
]

log = logging.getLogger(__name__)

RETRY_AFTER_S = 2


class NotYetConsistentResponse(BaseModel):
    """409: the read model has not applied the position asked for within ``wait_ms``."""

    status: str = Field(default="not_yet_consistent", examples=["not_yet_consistent"])
    read_model: str = Field(examples=["pricing"])
    missing: dict[str, int] = Field(
        description="partition -> the offset not applied yet", examples=[{"3": 1187}]
    )
    detail: str


INVALID: dict[int | str, dict[str, Any]] = {
    422: {
        "model": ValidationErrorResponse,
        "description": "The request breaks a rule; each broken rule by field.",
    }
}
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: {
        "model": ErrorResponse,
        "description": "The read model's store cannot answer now; retry after `Retry-After`.",
    }
}
NOT_YET: dict[int | str, dict[str, Any]] = {
    409: {
        "model": NotYetConsistentResponse,
        "description": "`min_position` is not applied yet by this read model (within "
        "`wait_ms`); retry, or allow a longer wait.",
    }
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorResponse, "description": "No such product."}
}


def not_found(sku: str) -> JSONResponse:
    return JSONResponse(status_code=404, content={"detail": f"no product {sku}"})


def _unprocessable(errors: list[dict[str, str]]) -> JSONResponse:
    return JSONResponse(status_code=422, content={"detail": errors})


def install(app: FastAPI) -> None:
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
        error = {"field": "$", "rule": "value", "message": "the search engine refused this input"}
        return _unprocessable([error])

    @app.exception_handler(RequestValidationError)
    async def request_invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _unprocessable(api_errors.field_errors(exc.errors()))

    @app.exception_handler(ValidationError)
    async def model_invalid(_: Request, exc: ValidationError) -> JSONResponse:
        # A search request's own checks (a cursor with a page, a price range): query fields.
        errors = [{**e, "loc": ("query", *e["loc"])} for e in exc.errors()]
        return _unprocessable(api_errors.field_errors(errors))

    @app.exception_handler(ValueError)
    async def value_invalid(_: Request, exc: ValueError) -> JSONResponse:
        # a cursor that is not one, paging beyond the window: about the query as a whole
        return _unprocessable([{"field": "query", "rule": "value", "message": str(exc)}])

    @app.exception_handler(HTTPException)
    async def http_error(_: Request, exc: HTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # a body that is not UTF-8 or not JSON: broken like any other input
            return _unprocessable([{"field": "$", "rule": "json", "message": str(exc.detail)}])
        return JSONResponse(
            status_code=exc.status_code, content={"detail": exc.detail}, headers=exc.headers
        )

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error")
        return JSONResponse(status_code=500, content={"detail": "internal error"})
