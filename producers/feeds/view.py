"""What an import compares a feed with: each product as the read models show it.

An import sends only what changed, so it needs every product's current state.
It reads it from the read models, as any client of a CQRS system reads: the
write side's state is the processor's own. The read models may lag the log by
a moment; that costs nothing but a redundant command, because every command an
import sends is a "set" the processor decides against its own state (a price,
details, a count, a schedule by its id): repeated, it changes nothing.

:class:`CatalogView` is a protocol so this package stays below the read models:
``ops.catalog_view`` implements it over Elasticsearch and PostgreSQL, and the
unit tests with a dictionary.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["FEED_SCHEDULE_PREFIX", "CatalogView", "Listed", "ListedSale"]

#: Schedule ids of the sales an import plans start with it: a feed owns its
#: sales (a row without a sale ends them) and never touches anyone else's.
FEED_SCHEDULE_PREFIX = "feed-"


@dataclass(frozen=True, slots=True)
class ListedSale:
    """A sale a feed planned, as the pricing read model lists it."""

    currency: str
    #: planned, running, done, cancelled or missed
    status: str


@dataclass(frozen=True, slots=True)
class Listed:
    """One product as the read models show it (details and stock from search,
    prices and schedules from pricing)."""

    sku: str
    #: the newest version either read model applied: a command id's base
    version: int
    discontinued: bool = False
    name: str = ""
    description: str = ""
    brand: str = ""
    category_path: tuple[str, ...] = ()
    attributes: Mapping[str, str] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    stock: int = 0
    #: currency -> the regular amount (what customers pay outside a sale)
    regular: Mapping[str, str] = field(default_factory=dict)
    #: schedule_id -> the feed's sales of this product (ids with FEED_SCHEDULE_PREFIX)
    feed_sales: Mapping[str, ListedSale] = field(default_factory=dict)
    #: the instant of the product's last event (canonical), as search shows it
    updated_at: str = ""
    #: both read models showed the same version: details and prices of one moment
    consistent: bool = False


class CatalogView(Protocol):
    """Products as the read models show them, looked up a batch at a time so a
    catalog of any size needs memory for one batch only."""

    def lookup(self, skus: Sequence[str]) -> Mapping[str, Listed]:
        """The listed products among ``skus`` (unknown SKUs are absent)."""
        ...

    def active_skus(self) -> Iterable[str]:
        """Every product that is not discontinued, for ``--discontinue-missing``."""
        ...
