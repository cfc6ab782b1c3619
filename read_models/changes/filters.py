"""Which changes a subscriber asked for, and the checks on what it asked.

Every filter narrows: a change is sent when it matches all of the filters given
(and any one of the values of a repeated filter). ``currency`` leaves out price
and schedule changes in other currencies; stock, details and lifecycle changes
have no currency and pass it, since a cache of EUR prices must still hear that
a product ran out or was discontinued.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from read_models.changes.change import KINDS, Change, Kind
from read_models.query_params import SKU_PATTERN

__all__ = ["PARAMETERS", "ChangeFilter", "FilterError", "parse_filter"]

#: The query parameters ``GET /changes`` takes; anything else is refused by name.
PARAMETERS = ("sku", "category", "brand", "kind", "currency", "after")
MAX_SKUS = 1000
_SKU = re.compile(SKU_PATTERN)
_CURRENCY = re.compile(r"^[A-Z]{3}$")


class FilterError(ValueError):
    """A filter that breaks a rule: which parameter, which rule, and why."""

    def __init__(self, field: str, rule: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.rule = rule


@dataclass(frozen=True, slots=True)
class ChangeFilter:
    skus: frozenset[str] = frozenset()
    category: str | None = None  # "Shoes/Running": that category and all below it
    brands: frozenset[str] = frozenset()
    kinds: frozenset[Kind] = frozenset()
    currency: str | None = None

    def matches(self, change: Change) -> bool:
        return (
            (not self.skus or change.sku in self.skus)
            and (not self.kinds or change.kind in self.kinds)
            and (not self.brands or change.brand in self.brands)
            and (self.category is None or self.category in change.categories)
            and (self.currency is None or change.currency in (None, self.currency))
        )


def _one(params: Mapping[str, Sequence[str]], name: str) -> str | None:
    values = params.get(name, ())
    if len(values) > 1:
        raise FilterError(f"query.{name}", "maxItems", f"{name} is given more than once")
    return values[0] if values else None


def _split(values: Iterable[str]) -> list[str]:
    """Repeated parameters and comma-separated lists alike (``sku=A&sku=B``, ``sku=A,B``)."""
    return [v.strip() for value in values for v in value.split(",") if v.strip()]


def parse_filter(params: Mapping[str, Sequence[str]]) -> ChangeFilter:
    """The filter of a request's query parameters (name -> every value given)."""
    unknown = sorted(set(params) - set(PARAMETERS))
    if unknown:
        raise FilterError(
            f"query.{unknown[0]}",
            "additionalProperties",
            f"unknown parameter {unknown[0]!r}; /changes takes {', '.join(PARAMETERS)}",
        )
    skus = _split(params.get("sku", ()))
    if len(skus) > MAX_SKUS:
        raise FilterError("query.sku", "maxItems", f"at most {MAX_SKUS} SKUs per subscription")
    for sku in skus:
        if not _SKU.match(sku):
            raise FilterError("query.sku", "pattern", f"{sku!r} is not a SKU ({SKU_PATTERN})")
    kinds = _split(params.get("kind", ()))
    for kind in kinds:
        if kind not in KINDS:
            raise FilterError(
                "query.kind", "enum", f"kind {kind!r} is not one of {', '.join(KINDS)}"
            )
    currency = _one(params, "currency")
    if currency is not None and not _CURRENCY.match(currency):
        raise FilterError("query.currency", "pattern", "currency is three capital letters (EUR)")
    category = _one(params, "category")
    if category is not None:
        levels = category.strip("/").split("/")
        if not category.strip() or len(levels) > 10 or any(not x or len(x) > 100 for x in levels):
            raise FilterError(
                "query.category", "pattern", "category is up to 10 levels joined by '/'"
            )
        category = "/".join(levels)
    brands = [b.strip() for b in params.get("brand", ()) if b.strip()]
    if any(len(b) > 100 for b in brands) or len(brands) > 20:
        raise FilterError("query.brand", "maxLength", "up to 20 brands of up to 100 characters")
    return ChangeFilter(
        frozenset(skus),
        category,
        frozenset(brands),
        frozenset(kinds),  # type: ignore[arg-type]  # checked against KINDS above
        currency,
    )
