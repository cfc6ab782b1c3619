"""The one error shape both HTTP APIs answer with, whoever found the error.

``{"detail": [{"field": "data.amount", "rule": "pattern", "message": "..."}]}``
for every 413 and 422: the field as a path into the request (``query.size``
for a query parameter, ``$`` for the whole body) and a stable rule name, the
JSON Schema keyword where there is one, so a client handles a contract
violation found by the API, by the client library or by the processor the
same way. ``{"detail": "..."}`` for the answers that have no field (401, 404,
503).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from pydantic import BaseModel, Field

from schemas.errors import ROOT_FIELD, join_path

__all__ = ["ErrorResponse", "FieldError", "ValidationErrorResponse", "field_errors"]


class FieldError(BaseModel):
    """One broken rule, in the same terms as a rejected command's result."""

    field: str = Field(
        description="JSON path of the offending value (`data.amount`, `query.size`); "
        "`$` is the whole body.",
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
    """The bodies of answers about no field in particular (401, 404, 503)."""

    detail: str


#: Pydantic's error types renamed to the JSON Schema rule names clients already know.
RULES = {
    "missing": "required",
    "extra_forbidden": "additionalProperties",
    "json_invalid": "json",
    "string_type": "type",
    "string_pattern_mismatch": "pattern",
    "string_too_long": "maxLength",
    "string_too_short": "minLength",
    "too_long": "maxItems",
    "too_short": "minItems",
    "int_type": "type",
    "int_parsing": "type",
    "int_from_float": "type",
    "dict_type": "type",
    "list_type": "type",
    "model_attributes_type": "type",
    "float_parsing": "type",
    "float_type": "type",
    "decimal_parsing": "type",
    "bool_parsing": "type",
    "datetime_parsing": "format",
    "datetime_from_date_parsing": "format",
    "timezone_aware": "format",
    "enum": "enum",
    "literal_error": "enum",
    "less_than_equal": "maximum",
    "less_than": "exclusiveMaximum",
    "greater_than": "exclusiveMinimum",
    "greater_than_equal": "minimum",
    "value_error": "value",
    "null": "type",
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


def field_errors(errors: Iterable[Mapping[str, Any]]) -> list[dict[str, str]]:
    """Pydantic's (or FastAPI's) validation errors in the one shape."""
    found = []
    for error in errors:
        error_type = str(error.get("type", "invalid"))
        field = _field_path(error.get("loc", ()), error_type)
        message = str(error.get("msg", "is invalid"))
        found.append(
            {
                "field": field,
                "rule": RULES.get(error_type, error_type),
                "message": f"{field}: {message}",
            }
        )
    return found
