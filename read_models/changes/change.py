"""One product change as subscribers receive it: the part of the product that changed.

A message carries the event's own data (the new price, the new stock, the
updated details), its kind, the product's version after it and the product's
brand and category (so subscribers can filter on them), not a fresh read of the
whole product. Why: a message must say the same thing whenever it is sent, so a
subscriber that resumes gets exactly the messages it missed, and building it
costs no store query per change. A client that wants the whole product
refetches ``/products/{sku}`` or ``/prices/{sku}`` with the message's id as
``min_position`` and sees at least that change: messages are sent only once both
read models have applied it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import orjson

from read_models.search.document import category_prefixes

__all__ = ["KINDS", "KIND_OF", "Change", "Kind", "Product", "describe", "product_after"]

Kind = Literal["price", "stock", "details", "lifecycle", "schedule"]

#: What subscribers filter on: the kind of change each event type is.
KIND_OF: Mapping[str, Kind] = {
    "PriceChanged": "price",
    "RegularPriceChanged": "price",
    "StockAdjusted": "stock",
    "ProductDetailsUpdated": "details",
    "ProductRegistered": "lifecycle",
    "ProductDiscontinued": "lifecycle",
    "PriceChangeScheduled": "schedule",
    "PriceChangeScheduleCancelled": "schedule",
}
KINDS: tuple[Kind, ...] = ("price", "stock", "details", "lifecycle", "schedule")


@dataclass(frozen=True, slots=True)
class Product:
    """What a filter needs to know of a product besides the change itself."""

    brand: str
    category_path: tuple[str, ...]

    @property
    def categories(self) -> frozenset[str]:
        """Every category the product is in, its parents included ("Shoes", "Shoes/Running")."""
        return frozenset(category_prefixes(self.category_path))


UNKNOWN = Product("", ())


@dataclass(frozen=True, slots=True)
class Change:
    """One message of the stream, encoded once and shared by every subscriber."""

    partition: int
    offset: int
    sku: str
    kind: Kind
    currency: str | None
    brand: str
    categories: frozenset[str]
    data: bytes  # the message's JSON


def product_after(before: Product | None, event: Mapping[str, Any]) -> Product | None:
    """The product's brand and category after an event, when the event says them
    (registration, details); None when it does not and nothing was known before."""
    data = event.get("data", {})
    if event["type"] not in ("ProductRegistered", "ProductDetailsUpdated"):
        return before
    base = before or UNKNOWN
    brand = data.get("brand", base.brand)
    path: Sequence[str] = data.get("category_path", base.category_path)
    if (
        event["type"] == "ProductDetailsUpdated"
        and before is None
        and ("brand" not in data or "category_path" not in data)
    ):
        return None  # half of it only: read the rest from the search read model
    return Product(str(brand), tuple(path))


def describe(partition: int, offset: int, event: Mapping[str, Any], product: Product) -> Change:
    """The message of one applied event (an event of a type no subscriber is told about
    still gets one, of its own type's kind; every known type has a kind)."""
    kind = KIND_OF[event["type"]]
    data = event.get("data", {})
    currency = data.get("currency")
    message = {
        "sku": event["sku"],
        "kind": kind,
        "type": event["type"],
        "version": event["version"],
        "occurred_at": event["occurred_at"],
        "event_id": event["event_id"],
        "position": f"{partition}:{offset}",
        "brand": product.brand,
        "category_path": list(product.category_path),
        "change": data,
    }
    return Change(
        partition,
        offset,
        event["sku"],
        kind,
        currency if isinstance(currency, str) else None,
        product.brand,
        product.categories,
        orjson.dumps(message),
    )
