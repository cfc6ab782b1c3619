"""A feed row as a catalog product, checked against the contract before anything is sent.

Merchant Center's column names (``id``, ``title``, ``product_type`` "Shoes >
Running", ``price`` "29.99 EUR", ``sale_price``, ``sale_price_effective_date``,
``quantity``, ``availability``) and eventcart's own (``sku``, ``name``,
``category_path`` "Shoes/Running" or "Shoes > Running", ``price`` with
``currency``, ``sale_starts``, ``sale_ends``, ``stock``) go through one
function, so a CSV, a TSV and a JSON Lines file with the same products give the
same records. When a row has both names, eventcart's wins.

The limits (SKU shape, name/description/brand lengths, category depth,
attributes, tags, currencies) are read from ``schemas/json/common/definitions.json``
at import: a feed cannot accept what the command processor would refuse later,
and the two cannot drift. Each row is checked whole, and its first problem is
reported, naming the feed's column, the product field and the rule (the JSON
Schema keyword where the contract sets it: ``required``, ``pattern``,
``maxLength``, ``enum``, ...).

Decisions:

* A ``sale_price`` without a window (``sale_price_effective_date``, or
  ``sale_starts`` and ``sale_ends``) refuses the row, rule
  ``sale_without_window``. Merchant Center would start such a sale at once and
  never end it; eventcart's sales always end (a scheduled sale needs ``ends_at``,
  so the regular price comes back), and "now" is not in the file: importing the
  same file on two days must not give two different sales.
* A window without a ``sale_price`` is ignored: merchants end a sale by
  clearing its price and often leave the dates.
* A sale needs a regular ``price`` in the same currency (the contract's
  ``no_regular_price``): rules ``sale_without_price``, ``sale_currency``.
* Times carry an offset (``2027-11-26T00:00+01:00``, ``+0100``, ``Z``; seconds
  optional, as Merchant Center writes them). Without one they are read in the
  ``tz`` given (DST gaps and repeats refused, see ``schemas.local_time``), and
  refused when none is: a guess would move the sale by hours.
* Stock comes from ``stock`` or ``quantity`` only, a whole number; ``availability``
  alone says nothing about how many, and ``out_of_stock`` beside a positive
  quantity is a contradiction (rule ``stock_conflict``).
* Every other column the reader kept is an attribute: the known facets (color,
  size, gender, material, ...), ``custom_label_0``..``4``, and columns mapped
  explicitly (``--map fabric=fabric``).
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import IO, Any

from producers.feeds.prices import Price, RefusedError, Sale, parse_price, parse_sale
from producers.feeds.read import (
    Cells,
    Digests,
    FeedRow,
    FeedWarning,
    Format,
    RowError,
    column_name,
    read_feed,
)
from schemas import local_time, registry

__all__ = [
    "ATTRIBUTE_COLUMNS",
    "COLUMNS",
    "PRODUCT_COLUMNS",
    "REQUIRED",
    "FeedProduct",
    "Normalizer",
    "Price",
    "Sale",
    "normalize",
    "read_products",
    "read_rows",
]

_DEFS: Mapping[str, Any] = registry.load_document("common/definitions.json")["definitions"]
_SKU = re.compile(_DEFS["sku"]["pattern"])
_NAME_MAX: int = _DEFS["name"]["maxLength"]
_DESCRIPTION_MAX: int = _DEFS["description"]["maxLength"]
_BRAND_MAX: int = _DEFS["brand"]["maxLength"]
_CATEGORY_DEPTH: int = _DEFS["category_path"]["maxItems"]
_CATEGORY_MAX: int = _DEFS["category_path"]["items"]["maxLength"]
_ATTRIBUTES_MAX: int = _DEFS["attributes"]["maxProperties"]
_ATTRIBUTE_KEY_MAX: int = _DEFS["attributes"]["propertyNames"]["maxLength"]
_ATTRIBUTE_KEY = re.compile(_DEFS["attributes"]["propertyNames"]["pattern"])
_ATTRIBUTE_MAX: int = _DEFS["attributes"]["additionalProperties"]["maxLength"]
_TAGS_MAX: int = _DEFS["tags"]["maxItems"]
_TAG_MAX: int = _DEFS["tags"]["items"]["maxLength"]

#: Columns that make the product's own fields (both vocabularies).
PRODUCT_COLUMNS = frozenset(
    {
        *("sku", "id", "name", "title", "description", "brand", "tags"),
        *("category_path", "product_type", "price", "currency", "sale_price"),
        *("sale_price_effective_date", "sale_starts", "sale_ends"),
        *("stock", "quantity", "availability"),
    }
)
#: Merchant Center facets kept as attributes.
ATTRIBUTE_COLUMNS = frozenset(
    {
        *("color", "size", "gender", "material", "pattern", "age_group", "condition"),
        *("size_type", "size_system", "gtin", "mpn", "item_group_id"),
        *(f"custom_label_{n}" for n in range(5)),
    }
)
COLUMNS = PRODUCT_COLUMNS | ATTRIBUTE_COLUMNS
#: A header must name the SKU and the name, in either vocabulary.
REQUIRED = (("sku", "id"), ("name", "title"))

_STOCK = re.compile(r"[0-9]{1,9}")
#: Merchant Center's values, as written or with spaces ("in stock").
_AVAILABILITY = {v: v for v in ("in_stock", "out_of_stock", "preorder", "backorder")}


@dataclass(frozen=True)
class FeedProduct:
    """One product as the feed states it, every value within the contract's limits.

    Made by :func:`normalize` without the frozen ``__init__`` (see ``_made``)."""

    line: int
    sku: str
    name: str
    description: str | None
    brand: str | None
    category_path: tuple[str, ...]
    price: Price | None
    sale: Sale | None
    stock: int | None
    attributes: Mapping[str, str]
    tags: tuple[str, ...]


def read_products(
    source: IO[bytes] | str | os.PathLike[str],
    *,
    format: Format | None = None,
    mapping: Mapping[str, str] | None = None,
    tz: str | None = None,
) -> Iterator[FeedProduct | RowError | FeedWarning]:
    """The products of a feed file, its refused rows and its warnings, in file order.

    Errors name the column as the file does (before ``mapping``)."""
    products = Normalizer(mapping, tz)
    for item in read_rows(source, format=format, mapping=mapping):
        if isinstance(item, FeedRow):
            yield products(item)
        elif isinstance(item, Cells):  # only made when digests are asked for
            yield products(item.row())
        else:
            yield item


def read_rows(
    source: IO[bytes] | str | os.PathLike[str],
    *,
    format: Format | None = None,
    mapping: Mapping[str, str] | None = None,
    digests: Digests | None = None,
) -> Iterator[FeedRow | Cells | RowError | FeedWarning]:
    """The rows of a feed file with the columns a product needs, not yet checked
    (with ``digests``, delimited rows come as :class:`Cells`): an import skips
    checking a row it has imported unchanged before."""
    return read_feed(
        source, format=format, mapping=mapping, columns=COLUMNS, required=REQUIRED, digests=digests
    )


class Normalizer:
    """:func:`normalize` with a feed's options: the zone of local times, and the
    column names of ``mapping`` given back in errors (as the file names them)."""

    def __init__(self, mapping: Mapping[str, str] | None = None, tz: str | None = None) -> None:
        if tz is not None:
            local_time.zone(tz)  # an unknown zone is the caller's mistake, not every row's
        self.tz = tz
        self.back = {column_name(target): source for source, target in (mapping or {}).items()}

    def __call__(self, row: FeedRow) -> FeedProduct | RowError:
        result = normalize(row, tz=self.tz)
        if isinstance(result, RowError) and result.column in self.back:
            result = replace(result, column=self.back[result.column])
        return result


def normalize(row: FeedRow, *, tz: str | None = None) -> FeedProduct | RowError:
    """The product a row states, or why it cannot be imported.

    ``row`` is as ``read_feed`` gives it: cells without surrounding blanks, and
    only the columns someone asked for, so every column that is no product field
    becomes an attribute."""
    try:
        return _product(row.line, row.fields, tz)
    except RefusedError as refused:
        message = f"line {row.line}: {refused.message}"
        sku = row.fields.get("sku") or row.fields.get("id") or None
        return RowError(row.line, refused.column, refused.field, refused.rule, message, sku)


def _column(cells: Mapping[str, str], ours: str, merchant_center: str) -> str:
    """The column a field comes from: eventcart's name when the row fills it."""
    return ours if cells.get(ours) else merchant_center


def _text(cells: Mapping[str, str], column: str, field: str, limit: int) -> str | None:
    value = cells.get(column)
    if not value:
        return None
    if "\r" in value:  # a quoted multi-line cell of a CRLF file
        value = value.replace("\r\n", "\n")
    if len(value) > limit:
        why = f"{column} has {len(value)} characters, at most {limit} fit"
        raise RefusedError(column, field, "maxLength", why)
    return value


def _product(line: int, cells: Mapping[str, str], tz: str | None) -> FeedProduct:
    # A blank cell is an absent one: every lookup below tests truth, not presence.
    column = _column(cells, "sku", "id")
    sku = cells.get(column)
    if not sku:
        raise RefusedError("sku", "sku", "required", "no SKU (column sku or id)")
    if not _SKU.fullmatch(sku):
        why = f"{column} {sku[:70]!r} is no SKU: 1 to 64 letters, digits, '.', '_', '-'"
        raise RefusedError(column, "sku", "pattern", why)
    name = _text(cells, _column(cells, "name", "title"), "name", _NAME_MAX)
    if name is None:
        raise RefusedError("name", "name", "required", "no name (column name or title)")
    column = _column(cells, "category_path", "product_type")
    category = cells.get(column)
    price = parse_price(cells, "price", "price")
    stock = _stock(cells)
    return _made(
        {
            "line": line,
            "sku": sku,
            "name": name,
            "description": _text(cells, "description", "description", _DESCRIPTION_MAX),
            "brand": _text(cells, "brand", "brand", _BRAND_MAX),
            "category_path": _category(column, category) if category else (),
            "price": price,
            "sale": parse_sale(cells, price, tz) if cells.get("sale_price") else None,
            "stock": stock,
            "attributes": _attributes(cells),
            "tags": _tags(cells["tags"]) if cells.get("tags") else (),
        }
    )


def _made(fields: dict[str, Any]) -> FeedProduct:
    """What ``FeedProduct(**fields)`` makes, at a third of its cost.

    A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``;
    for eleven fields that was a fifth of the time an import spends per row. The
    class has no ``__post_init__`` to skip (a test compares both ways)."""
    product = object.__new__(FeedProduct)
    product.__dict__.update(fields)
    return product


@functools.lru_cache(maxsize=4096)
def _category(column: str, text: str) -> tuple[str, ...]:
    """Cached: a catalog has far fewer categories than products."""
    levels = tuple(level.strip() for level in text.split(">" if ">" in text else "/"))
    problem = (
        ("minLength", "has an empty level")
        if "" in levels
        else ("maxItems", f"is {len(levels)} levels deep, at most {_CATEGORY_DEPTH} fit")
        if len(levels) > _CATEGORY_DEPTH
        else ("maxLength", f"has a level longer than {_CATEGORY_MAX} characters")
        if any(len(level) > _CATEGORY_MAX for level in levels)
        else None
    )
    if problem is not None:
        raise RefusedError(column, "category_path", problem[0], f"{column} {problem[1]}")
    return levels


def _stock(cells: Mapping[str, str]) -> int | None:
    stock = None
    column = _column(cells, "stock", "quantity")
    text = cells.get(column)
    if text:
        if not _STOCK.fullmatch(text):
            why = f"{column} {text[:20]!r} is no stock: a whole number from 0 to 999999999"
            raise RefusedError(column, "stock", "type", why)
        stock = int(text)
    said = cells.get("availability")
    if said:
        value = _AVAILABILITY.get(said) or column_name(said)
        if value not in _AVAILABILITY:
            why = f"availability {said!r} is none of {', '.join(sorted(_AVAILABILITY))}"
            raise RefusedError("availability", "stock", "enum", why)
        if value == "out_of_stock" and stock:
            why = f"availability says out_of_stock, the feed's stock is {stock}"
            raise RefusedError("availability", "stock", "stock_conflict", why)
    return stock


def _attributes(cells: Mapping[str, str]) -> dict[str, str]:
    attributes: dict[str, str] = {}
    for key, value in cells.items():
        if not value or key in PRODUCT_COLUMNS:
            continue
        if not _attribute_key(key):
            why = f"{key[:60]!r} is no attribute name: at most {_ATTRIBUTE_KEY_MAX} characters"
            raise RefusedError(key, f"attributes.{key}", "propertyNames", why)
        if len(value) > _ATTRIBUTE_MAX:
            why = f"{key} has {len(value)} characters, at most {_ATTRIBUTE_MAX} fit"
            raise RefusedError(key, f"attributes.{key}", "maxLength", why)
        attributes[key] = value
    if len(attributes) > _ATTRIBUTES_MAX:
        why = f"{len(attributes)} attributes, at most {_ATTRIBUTES_MAX} fit"
        raise RefusedError(None, "attributes", "maxProperties", why)
    return attributes


@functools.lru_cache(maxsize=1024)
def _attribute_key(key: str) -> bool:
    """Cached: the same few column names come back on every row."""
    return len(key) <= _ATTRIBUTE_KEY_MAX and _ATTRIBUTE_KEY.fullmatch(key) is not None


def _tags(text: str) -> tuple[str, ...]:
    tags = tuple(dict.fromkeys(t for tag in text.split(",") if (t := tag.strip())))
    if len(tags) > _TAGS_MAX:
        raise RefusedError("tags", "tags", "maxItems", f"{len(tags)} tags, at most {_TAGS_MAX}")
    long = next((tag for tag in tags if len(tag) > _TAG_MAX), None)
    if long is not None:
        why = f"tag {long[:60]!r}... is longer than {_TAG_MAX} characters"
        raise RefusedError("tags", "tags", "maxLength", why)
    return tags
