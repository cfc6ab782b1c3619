"""Prices and sale windows of a feed row, read by the contract's rules.

Apart from :mod:`producers.feeds.merchant` because money and instants are not a
matter of column names: an amount is kept canonical (``29.90`` is ``29.9``, as
``schemas.money.format_amount`` writes it, never a float), a currency is an
ISO 4217 one the contract lists, and an instant carries an offset or is read in
an IANA zone, a local time that a DST change skips or repeats being refused
(``schemas.local_time``) rather than guessed.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import NamedTuple

from schemas import local_time, registry
from schemas.money import AMOUNT_PATTERN

__all__ = ["Price", "RefusedError", "Sale", "parse_price", "parse_sale"]

_CURRENCIES = frozenset(
    registry.load_document("common/definitions.json")["definitions"]["currency"]["enum"]
)

# AMOUNT_PATTERN and a currency in one match; a refused price is matched again, by
# _PRICE_SHAPE, only to say what is wrong with it.
_PRICE = re.compile(
    "(?P<amount>" + AMOUNT_PATTERN.pattern.removeprefix("^").removesuffix(r"\Z") + ")"
    r"\s*(?P<currency>[A-Za-z]{3})?"
)
_PRICE_SHAPE = re.compile(r"([0-9][0-9.,]*)\s*([A-Za-z]{3})?")
_INSTANT = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(?P<offset>[Zz]|[+-]\d{2}:?\d{2})?"
)


class Price(NamedTuple):
    amount: str  # canonical (schemas.money.format_amount): "29.9", not "29.90"
    currency: str


class Sale(NamedTuple):
    amount: str
    currency: str
    starts_at: datetime  # aware, UTC
    ends_at: datetime


class RefusedError(Exception):
    def __init__(self, column: str | None, field: str, rule: str, message: str) -> None:
        super().__init__(message)
        self.column, self.field, self.rule, self.message = column, field, rule, message


def parse_price(cells: Mapping[str, str], column: str, field: str) -> Price | None:
    text = cells.get(column)
    if not text:
        return None
    match = _PRICE.fullmatch(text)
    if match is None:
        shape = _PRICE_SHAPE.fullmatch(text)
        hint = "no thousands separator, " if shape and "," in shape[1] else ""
        why = (
            f"{column} {text[:40]!r} is no price: write the amount with a decimal point, "
            f"{hint}at most 4 decimals, then the currency (29.99 EUR)"
        )
        raise RefusedError(column, field, "pattern", why)
    amount = match["amount"]
    if "." in amount and amount[-1] == "0":
        # What format_amount(parse_amount(amount)) gives for an amount AMOUNT_PATTERN
        # accepts, without a Decimal: this runs for most rows of a feed.
        amount = amount.rstrip("0").rstrip(".")
    written = match["currency"]
    other = cells.get("currency") or None
    currency = (written or other or "").upper()
    if not currency:
        why = f"{column} {text!r} has no currency: write {amount} EUR, or add a currency column"
        raise RefusedError(column, field, "required", why)
    if written and other and other.upper() != currency:
        why = f"{column} says {currency}, the currency column {other!r}"
        raise RefusedError(column, field, "currency", why)
    if currency not in _CURRENCIES:
        why = f"{currency!r} is no ISO 4217 currency in circulation"
        raise RefusedError(column if written else "currency", field, "enum", why)
    return Price(amount, currency)


def parse_sale(cells: Mapping[str, str], price: Price | None, tz: str | None) -> Sale:
    sale = parse_price(cells, "sale_price", "sale")
    assert sale is not None  # the caller saw a sale_price
    if price is None:
        why = "sale_price without a price: a sale needs a regular price to return to"
        raise RefusedError("sale_price", "sale", "sale_without_price", why)
    if sale.currency != price.currency:
        why = f"the sale is in {sale.currency}, the price in {price.currency}"
        raise RefusedError("sale_price", "sale", "sale_currency", why)
    window = cells.get("sale_price_effective_date")
    if window:
        column = "sale_price_effective_date"
        starts_at, ends_at = _window(window, tz)
    else:
        starts, ends = cells.get("sale_starts") or None, cells.get("sale_ends") or None
        if starts is None and ends is None:
            why = (
                "sale_price has no window: add sale_price_effective_date (start/end), or "
                "sale_starts and sale_ends; a sale without an end is not imported"
            )
            raise RefusedError("sale_price", "sale", "sale_without_window", why)
        if starts is None or ends is None:
            column = "sale_starts" if starts is None else "sale_ends"
            raise RefusedError(column, "sale", "sale_window", f"{column} is missing")
        column = "sale_ends"
        starts_at = _instant("sale_starts", starts, tz)
        ends_at = _instant(column, ends, tz)
    if ends_at <= starts_at:
        raise RefusedError(column, "sale", "sale_window", "the sale ends before it starts")
    return Sale(sale.amount, sale.currency, starts_at, ends_at)


@functools.lru_cache(maxsize=256)
def _window(text: str, tz: str | None) -> tuple[datetime, datetime]:
    """Cached: a campaign's window repeats on every row of its products."""
    column = "sale_price_effective_date"
    start_text, slash, end_text = text.partition("/")
    if not slash:
        why = f"{column} {text!r} is no window: write start/end"
        raise RefusedError(column, "sale", "sale_window", why)
    return _instant(column, start_text, tz), _instant(column, end_text, tz)


def _instant(column: str, text: str, tz: str | None) -> datetime:
    text = text.strip()
    match = _INSTANT.fullmatch(text)
    try:
        if match is not None and match["offset"]:
            return datetime.fromisoformat(text.upper()).astimezone(UTC)
        if tz is not None:
            return local_time.parse_instant(text, tz)
    except (ValueError, OverflowError) as exc:
        raise RefusedError(column, "sale", "format", f"{column}: {exc}") from None
    why = (
        f"{column} {text[:40]!r} has no offset: write 2027-11-26T00:00+01:00 (or give a time zone)"
    )
    raise RefusedError(column, "sale", "format", why)
