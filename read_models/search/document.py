"""The search document of one product, and how each event changes it.

Pure functions, no I/O: the live projection, replays and the unit tests all run
exactly this code. The writer (:mod:`read_models.search.sink`) reads the stored
document, folds a batch's events onto it with :func:`project` and writes the whole
document back with ``version_type=external``: a partial update cannot carry an
external version, so the projection always holds the full document.

A document is a plain JSON object (it round-trips through Elasticsearch's
``_source``)::

    {
      "sku": "SKU-1", "status": "active", "version": 7,
      "updated_at": "2025-06-01T12:00:00Z",
      "name": ..., "description": ..., "brand": ...,
      "category_path": ["Shoes", "Running"],
      "category_paths": ["Shoes", "Shoes/Running"], "category": "Running",
      "attributes": {"colour": "red"}, "tags": ["trail"],
      "prices": {"EUR": {"amount": 49.9, "amount_text": "49.90", "price_type": "sale"}},
      "stock": 3, "in_stock": true, "availability": "in_stock",
      "suggest": {"input": ["Trail runner", "Acme"]}
    }

``status`` is ``active``, ``discontinued`` (kept, so the external version guard
keeps working; queries filter ``status: active``), or ``incomplete``: a document
built from events whose ``ProductRegistered`` never reached the index (it went to
the dead-letter topic). Incomplete documents are not ``active`` either, so they
stay out of the results until a rebuild.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from schemas import timestamps

__all__ = [
    "ACTIVE",
    "CATEGORY_SEPARATOR",
    "DISCONTINUED",
    "INCOMPLETE",
    "IN_STOCK",
    "OUT_OF_STOCK",
    "category_prefixes",
    "fold",
    "project",
]

ACTIVE = "active"
DISCONTINUED = "discontinued"
INCOMPLETE = "incomplete"
IN_STOCK = "in_stock"
OUT_OF_STOCK = "out_of_stock"

#: Joins the levels of a category path in ``category_paths`` ("Shoes/Running").
CATEGORY_SEPARATOR = "/"

_DETAIL_FIELDS = ("name", "description", "brand", "category_path", "attributes", "tags")


def category_prefixes(path: Sequence[str]) -> list[str]:
    """Every prefix of a category path, joined: ``["A", "B"]`` -> ``["A", "A/B"]``.

    Filter on a category and all below it with ``term: {category_paths: "A/B"}``;
    build the term with this function so both sides agree on the separator.
    """
    return [CATEGORY_SEPARATOR.join(path[: i + 1]) for i in range(len(path))]


def _empty(sku: str) -> dict[str, Any]:
    return {
        "sku": sku,
        "status": INCOMPLETE,
        "version": 0,
        "updated_at": None,
        "name": "",
        "description": "",
        "brand": "",
        "category_path": [],
        "category_paths": [],
        "category": None,
        "attributes": {},
        "tags": [],
        "prices": {},
        "stock": 0,
        "in_stock": False,
        "availability": OUT_OF_STOCK,
    }


def _set_details(doc: dict[str, Any], data: Mapping[str, Any]) -> None:
    for name in _DETAIL_FIELDS:
        if name not in data:
            continue
        value = data[name]
        if name == "category_path":
            path = [str(level) for level in value]
            doc["category_path"] = path
            doc["category_paths"] = category_prefixes(path)
            doc["category"] = path[-1] if path else None
        elif name == "attributes":
            # Flattened keys cannot hold NUL; the contract refuses control characters
            # in keys, and events written before it did are cleaned here.
            doc["attributes"] = {str(k).replace("\x00", ""): v for k, v in value.items()}
        elif name == "tags":
            doc["tags"] = list(value)
        else:
            doc[name] = value


#: Characters the completion suggester reserves for itself (it refuses a document
#: whose input holds one): NUL, U+001E and U+001F. Names may contain them.
_SUGGEST_RESERVED = str.maketrans({"\x00": " ", "\x1e": " ", "\x1f": " "})


def _set_suggest(doc: dict[str, Any]) -> None:
    """Autocomplete inputs: name and brand, only while the product is active."""
    inputs = [
        text.translate(_SUGGEST_RESERVED).strip()
        for text in (doc.get("name"), doc.get("brand"))
        if isinstance(text, str)
    ]
    inputs = [text for text in inputs if text]
    if doc["status"] == ACTIVE and inputs:
        doc["suggest"] = {"input": list(dict.fromkeys(inputs))}
    else:
        doc.pop("suggest", None)


#: The events that can change the autocomplete inputs (name, brand, status).
_CHANGES_SUGGEST = frozenset({"ProductRegistered", "ProductDetailsUpdated", "ProductDiscontinued"})


def project(doc: dict[str, Any] | None, event: Mapping[str, Any]) -> dict[str, Any]:
    """Apply one (upcast) event to a search document and return the new document.

    ``doc`` is None when the product has no document yet. An event whose
    ``version`` is not above ``doc["version"]`` was applied already (a duplicate or
    a stale redelivery): ``doc`` itself is returned unchanged, and the caller
    counts the event as skipped (``result is doc``). Otherwise a new dict is
    returned; the input is never mutated. An event type this read model does not
    know only moves ``version`` and ``updated_at`` (forward compatible).
    """
    version = int(event["version"])
    if doc is not None and version <= int(doc.get("version", 0)):
        return doc

    # Shallow: nothing below mutates a nested value in place, every change assigns
    # a new list or dict, so the input document is never touched.
    new = dict(doc) if doc is not None else _empty(str(event["sku"]))
    data: Mapping[str, Any] = event.get("data") or {}
    kind = event["type"]

    if kind == "ProductRegistered":
        _set_details(new, data)
        if new["status"] != DISCONTINUED:
            new["status"] = ACTIVE
    elif kind == "ProductDetailsUpdated":
        _set_details(new, data)
    elif kind == "PriceChanged":
        currency = str(data["currency"])
        amount_text = str(data["amount"])
        new["prices"] = {
            **new.get("prices", {}),
            currency: {
                "amount": float(amount_text),
                "amount_text": amount_text,
                "price_type": data.get("price_type", "regular"),
            },
        }
    elif kind == "StockAdjusted":
        quantity = int(data["quantity"])
        new["stock"] = quantity
        new["in_stock"] = quantity > 0
        new["availability"] = IN_STOCK if quantity > 0 else OUT_OF_STOCK
    elif kind == "ProductDiscontinued":
        new["status"] = DISCONTINUED

    new["version"] = version
    # Canonical UTC text, never before the document's previous event (the processor
    # writes events so; events written before it did are clamped here too).
    new["updated_at"] = max(timestamps.canonical(event["occurred_at"]), new["updated_at"] or "")
    if kind in _CHANGES_SUGGEST or doc is None:
        _set_suggest(new)
    return new


def passed(doc: dict[str, Any] | None, event: Mapping[str, Any]) -> dict[str, Any]:
    """The document after an event the read model refused (dead-lettered): its version
    moves past the event, nothing else changes. Later events then follow without a
    version gap, and the dead letter records what the document lacks."""
    new = dict(doc) if doc is not None else _empty(str(event["sku"]))
    new["version"] = int(event["version"])
    return new


def fold(
    events: Iterable[Mapping[str, Any]], doc: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    """The document after ``events`` (in log order), starting from ``doc``."""
    current: dict[str, Any] | None = copy.deepcopy(dict(doc)) if doc is not None else None
    for event in events:
        current = project(current, event)
    return current
