"""The command API's request bodies in its OpenAPI document, made from the contract.

Each command type has its own route (``POST /commands/change-price``) whose body
is documented with the JSON Schema of that type's ``data``, read from
``schemas/json/commands/<Type>.v<N>.json`` with its ``$ref`` resolved in place,
and an example of its own. The contract files stay the one source of the rules:
a reader of the OpenAPI document, a generated client or a fuzzer sees exactly
what the processor checks, and a change to a command's schema changes the API's
documentation with it.
"""

from __future__ import annotations

import copy
from typing import Any

from schemas.registry import BASE_URI, CURRENT_COMMAND_VERSIONS, load_document, schema_document

__all__ = ["body_schema", "openapi_body"]

#: An example body of every command type (each also a valid command).
EXAMPLES: dict[str, dict[str, Any]] = {
    "RegisterProduct": {
        "sku": "SKU-1",
        "data": {
            "name": "Trail shoe",
            "brand": "Acme",
            "category_path": ["Shoes", "Trail"],
            "attributes": {"colour": "red"},
            "tags": ["trail"],
        },
        "expected_version": 0,
    },
    "UpdateProductDetails": {"sku": "SKU-1", "data": {"description": "Grippy sole"}},
    "ChangePrice": {
        "sku": "SKU-1",
        "data": {"amount": "89.90", "currency": "EUR", "price_type": "regular"},
        "command_id": "price-SKU-1-2026-06-01",
    },
    "AdjustStock": {"sku": "SKU-1", "data": {"delta": -2, "reason": "sold"}},
    "DiscontinueProduct": {"sku": "SKU-1", "data": {"reason": "end of line"}},
    "SchedulePriceChange": {
        "sku": "SKU-1",
        "data": {
            "schedule_id": "black-friday-2026",
            "currency": "EUR",
            "amount": "69.90",
            "price_type": "sale",
            "starts_at": "2026-11-27T00:00:00+01:00",
            "ends_at": "2026-11-30T23:59:59+01:00",
            "campaign_id": "black-friday-2026",
        },
        "command_id": "black-friday-2026/SKU-1",
    },
    "CancelScheduledPriceChange": {
        "sku": "SKU-1",
        "data": {"schedule_id": "black-friday-2026", "reason": "campaign cancelled"},
    },
    "SetStock": {
        "sku": "SKU-1",
        "data": {"quantity": 40, "counted_at": "2026-06-01T02:00:00Z", "reason": "nightly feed"},
        "command_id": "feed-2026-06-01/SKU-1",
    },
}

_ENVELOPE_FIELDS = ("command_id", "expected_version", "correlation_id", "causation_id")
_DROP = ("$schema", "$id", "default", "title")


def _resolve(node: Any, base: str) -> Any:
    """``node`` with every ``$ref`` (relative to the file ``base``) replaced by what it
    names, so the schema stands alone in the OpenAPI document."""
    if isinstance(node, list):
        return [_resolve(item, base) for item in node]
    if not isinstance(node, dict):
        return node
    if "$ref" in node:
        target, _, pointer = str(node["$ref"]).partition("#")
        if target.startswith(BASE_URI):  # as the validators' loader writes it
            file = target[len(BASE_URI) :]
        else:
            file = _join(base, target) if target else base
        found: Any = load_document(file)
        for part in [p for p in pointer.split("/") if p]:
            found = found[part]
        merged = {**copy.deepcopy(found), **{k: v for k, v in node.items() if k != "$ref"}}
        return _resolve(merged, file)
    return {k: _resolve(v, base) for k, v in node.items() if k not in _DROP}


def _join(base: str, relative: str) -> str:
    parts = base.split("/")[:-1]
    for part in relative.split("/"):
        if part == "..":
            parts.pop()
        elif part not in ("", "."):
            parts.append(part)
    return "/".join(parts)


def body_schema(command_type: str) -> dict[str, Any]:
    """The JSON Schema of the HTTP body of ``command_type`` (its current version)."""
    version = CURRENT_COMMAND_VERSIONS[command_type]
    file = f"commands/{command_type}.v{version}.json"
    document = schema_document("commands", command_type, version)
    envelope = load_document("envelope/command.json")["properties"]
    properties: dict[str, Any] = {
        "sku": _resolve(envelope["sku"], "envelope/command.json"),
        "data": _resolve(document["properties"]["data"], file),
    }
    for name in _ENVELOPE_FIELDS:
        properties[name] = _resolve(envelope[name], "envelope/command.json")
    return {
        "type": "object",
        "description": document.get("description", ""),
        "required": ["sku", "data"],
        "additionalProperties": False,
        "properties": properties,
    }


def openapi_body(command_type: str) -> dict[str, Any]:
    """The ``requestBody`` of the route of ``command_type`` (for ``openapi_extra``)."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": body_schema(command_type),
                    "example": EXAMPLES[command_type],
                }
            },
        }
    }
