"""A feed row against the product the read models show: the commands that make
the catalog say what the row says, and nothing else (pure).

Rules, documented in the README ("Catalog feeds"):

* **Only what the row states.** A blank cell, or a column the file does not
  have, leaves the field as it is: a feed never clears a description because an
  export left it out. ``name`` is always stated (a row needs one).
* **Details** go in one ``UpdateProductDetails`` with the fields that differ.
* **Price** is the regular price: compared with the regular amount, so a
  running sale does not make every import resend it.
* **Stock** is a count: ``SetStock`` with the instant it was taken
  (``counted_at``). The processor adds the deliveries it accepted after that
  instant, so one arriving during the import is neither lost nor counted twice.
* **Sales** are scheduled sales with ids ``feed-<currency>-<hash of the
  window and amount>``. A row's sale is planned once (its id is listed
  afterwards, even when it ended or someone cancelled it, and is not sent
  again); a feed sale of the product that the row no longer states is
  cancelled (a running one ends now). A window that already ended is ignored,
  one that began is planned from now.
* **Command ids** are derived from the SKU, the kind, the version the read
  models show and the command's content. Run again after a crash, an import
  sends the same ids for what the read models do not show yet, and the
  processor answers those from its store without deciding them twice; once
  the product moved on (a new version), the same content is a new command, so
  a feed can restore a price someone changed in between.
"""

from __future__ import annotations

import functools
import hashlib
import uuid
from datetime import datetime
from typing import Any, Literal, NamedTuple

import orjson

from producers.commands import (
    cancel_scheduled_price_change,
    change_price,
    command,
    register_product,
    schedule_price_change,
    update_product_details,
)
from producers.feeds.merchant import FeedProduct
from producers.feeds.prices import Sale
from producers.feeds.read import RowError
from producers.feeds.view import FEED_SCHEDULE_PREFIX, Listed
from schemas import timestamps
from schemas.money import amounts_equal

__all__ = [
    "FEED_NAMESPACE",
    "KINDS",
    "Change",
    "Kind",
    "changes",
    "command_id_of",
    "feed_schedule_id",
]

Kind = Literal["registered", "details", "price", "stock", "sale", "sale_cancelled", "discontinued"]
#: Every kind of change, in the order a row's commands are sent.
KINDS: tuple[Kind, ...] = (
    "registered",
    "details",
    "price",
    "stock",
    "sale_cancelled",
    "sale",
    "discontinued",
)

#: Fixed forever: command ids of imports derive from it (uuid5 of the URL below).
FEED_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://eventcart.example/feeds")

_LIVE = frozenset({"planned", "running"})


class Change(NamedTuple):
    """One command an import sends, and the row (line) it comes from."""

    kind: Kind
    line: int
    command: dict[str, Any]


@functools.lru_cache(maxsize=4096)
def feed_schedule_id(sale: Sale) -> str:
    """The id of a feed's sale: the same window and amount, the same id, on every import.

    Cached: the products of a campaign share one window and a few amounts."""
    text = f"{sale.amount}|{timestamps.format_utc(sale.starts_at)}|{timestamps.format_utc(sale.ends_at)}"
    digest = hashlib.sha1(text.encode()).hexdigest()[:16]  # noqa: S324 (a name, not a secret)
    return f"{FEED_SCHEDULE_PREFIX}{sale.currency}-{digest}"


def command_id_of(sku: str, kind: str, version: int, content: Any) -> str:
    """The id of an import's command: the same change from the same version, the same id."""
    name = b"%s/%s/%d/" % (sku.encode(), kind.encode(), version) + orjson.dumps(
        content, option=orjson.OPT_SORT_KEYS
    )
    return str(uuid.uuid5(FEED_NAMESPACE, name.decode()))


def _stated(product: FeedProduct) -> dict[str, Any]:
    """The detail fields a row states, in the contract's types."""
    details: dict[str, Any] = {"name": product.name}
    if product.description is not None:
        details["description"] = product.description
    if product.brand is not None:
        details["brand"] = product.brand
    if product.category_path:
        details["category_path"] = list(product.category_path)
    if product.attributes:
        details["attributes"] = dict(product.attributes)
    if product.tags:
        details["tags"] = list(product.tags)
    return details


def _changed_details(product: FeedProduct, listed: Listed) -> dict[str, Any]:
    """The stated detail fields that differ. Compared field by field, without
    building the row's details first: most rows of a nightly feed change nothing,
    and this is most of what an unchanged row costs."""
    changed: dict[str, Any] = {}
    if product.name != listed.name:
        changed["name"] = product.name
    if product.description is not None and product.description != listed.description:
        changed["description"] = product.description
    if product.brand is not None and product.brand != listed.brand:
        changed["brand"] = product.brand
    if product.category_path and product.category_path != listed.category_path:
        changed["category_path"] = list(product.category_path)
    if product.attributes and product.attributes != listed.attributes:
        changed["attributes"] = dict(product.attributes)
    if product.tags and product.tags != listed.tags:
        changed["tags"] = list(product.tags)
    return changed


class _Commands:
    """The commands of one row, with the envelope and ids they share; made only
    for a row that changes something."""

    __slots__ = ("envelope", "line", "out", "sku", "version")

    def __init__(self, product: FeedProduct, version: int, envelope: dict[str, Any]) -> None:
        self.sku, self.line, self.version = product.sku, product.line, version
        self.envelope = envelope
        self.out: list[Change] = []

    def envelope_of(self, kind: Kind, content: Any) -> dict[str, Any]:
        """The envelope of one command, its id derived from ``content`` (given to the
        builder: a random id drawn and thrown away was a tenth of a row's cost)."""
        return {**self.envelope, "command_id": command_id_of(self.sku, kind, self.version, content)}

    def add(self, kind: Kind, message: dict[str, Any]) -> None:
        self.out.append(Change(kind, self.line, message))


def changes(
    product: FeedProduct,
    listed: Listed | None,
    *,
    counted_at: str,
    now: datetime,
    correlation_id: str | None = None,
) -> list[Change] | RowError:
    """The commands that bring ``listed`` (None: an unknown SKU) to what ``product``
    states, in the order they must be decided; ``[]`` when nothing differs.

    ``counted_at`` (canonical) is when the feed's stock figures were counted,
    ``now`` the import's instant (sales that ended by then are not planned)."""
    sku, line = product.sku, product.line
    if listed is None:
        details = _stated(product)
        version = 0
    else:
        if listed.discontinued:
            why = f"line {line}: product {sku} is discontinued; a feed does not bring it back"
            return RowError(line, "sku", "sku", "discontinued", why)
        details = _changed_details(product, listed)
        version = listed.version
    price = product.price
    if price is not None:
        regular = listed.regular.get(price.currency) if listed is not None else None
        if regular is not None and (
            regular == price.amount or amounts_equal(regular, price.amount)
        ):
            price = None
    stock = product.stock
    if stock is not None and stock == (listed.stock if listed is not None else 0):
        stock = None
    sale = product.sale
    if not details and price is None and stock is None and _sales_settled(sale, listed, now):
        return []
    envelope: dict[str, Any] = {"occurred_at": now}
    if correlation_id is not None:
        envelope["correlation_id"] = correlation_id
    row = _Commands(product, version, envelope)
    if listed is None:
        ids = row.envelope_of("registered", details)
        row.add("registered", register_product(sku, **details, **ids))
    elif details:
        ids = row.envelope_of("details", details)
        row.add("details", update_product_details(sku, **details, **ids))
    if price is not None:
        content = [price.amount, price.currency]
        ids = row.envelope_of("price", content)
        row.add("price", change_price(sku, price.amount, price.currency, **ids))
    if stock is not None:
        data = {"quantity": stock, "counted_at": counted_at}
        row.add("stock", command("SetStock", sku, data, **row.envelope_of("stock", data)))
    _sales(sku, sale, listed, now, row)
    return row.out


def _sales_settled(sale: Sale | None, listed: Listed | None, now: datetime) -> bool:
    """Whether the feed's sales of the product are as the row states (nothing to send)."""
    if listed is None:
        return sale is None or sale.ends_at <= now
    wanted = feed_schedule_id(sale) if sale is not None else None
    for schedule_id, kept in listed.feed_sales.items():
        if schedule_id != wanted and kept.status in _LIVE:
            return False
    return sale is None or wanted in listed.feed_sales or sale.ends_at <= now


def _sales(
    sku: str,
    sale: Sale | None,
    listed: Listed | None,
    now: datetime,
    row: _Commands,
) -> None:
    wanted = feed_schedule_id(sale) if sale is not None else None
    if listed is not None:
        for schedule_id, kept in sorted(listed.feed_sales.items()):
            if schedule_id != wanted and kept.status in _LIVE:
                reason = "no longer in the feed"
                ids = row.envelope_of("sale_cancelled", schedule_id)
                message = cancel_scheduled_price_change(sku, schedule_id, reason=reason, **ids)
                row.add("sale_cancelled", message)
    if sale is None or wanted is None or sale.ends_at <= now:
        return
    if listed is not None and wanted in listed.feed_sales:
        return
    starts_at = max(sale.starts_at, now)
    message = schedule_price_change(
        sku,
        wanted,
        sale.amount,
        sale.currency,
        starts_at,
        ends_at=sale.ends_at,
        **row.envelope_of("sale", wanted),
    )
    row.add("sale", message)
