"""Typed results of the pricing queries (see :mod:`read_models.pricing.queries`).

* Amounts are :class:`~decimal.Decimal` (never floats: a float is refused on
  input) and serialise to JSON as exact, canonical decimal strings
  (:func:`schemas.money.format_amount`: ``Decimal("9.5000")`` -> ``"9.5"``), the
  same text the events carry. ``model_dump()`` in Python mode keeps the Decimal.
* Times are timezone-aware datetimes, normalised to UTC (a naive datetime is
  refused), whatever ``TimeZone`` the PostgreSQL session used.
* Validity intervals are half-open ``[valid_from, valid_to)``; ``valid_to``
  None means the price is still valid.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PlainSerializer

from schemas.money import format_amount

__all__ = [
    "Amount",
    "CurrentPrice",
    "OmnibusPrice",
    "PriceInterval",
    "PricePoint",
    "PriceType",
    "ProductPrices",
    "ProductStatus",
    "UtcDatetime",
]


def _no_float(value: object) -> object:
    if isinstance(value, float):
        raise ValueError("amounts must be Decimal or decimal strings, never floats")
    return value


def _utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError("datetime must be timezone-aware")
    return value.astimezone(UTC)


#: An exact amount: Decimal in Python, canonical decimal string in JSON.
Amount = Annotated[
    Decimal,
    BeforeValidator(_no_float),
    Field(ge=0, allow_inf_nan=False),
    PlainSerializer(format_amount, return_type=str, when_used="json"),
]
#: An aware datetime, normalised to UTC.
UtcDatetime = Annotated[datetime, AfterValidator(_utc)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
PriceType = Literal["regular", "sale"]
ProductStatus = Literal["active", "discontinued"]

_CONFIG = ConfigDict(extra="forbid", frozen=True)


class CurrentPrice(BaseModel):
    """The current price of a product in one currency (valid since ``valid_from``)."""

    model_config = _CONFIG

    currency: Currency
    amount: Amount
    price_type: PriceType
    valid_from: UtcDatetime


class ProductPrices(BaseModel):
    """A product's current prices in every currency, with its status and stock."""

    model_config = _CONFIG

    sku: str
    status: ProductStatus
    #: The version of the last event applied to the SKU (for read-your-writes checks).
    version: int = Field(ge=1)
    #: Units in stock; 0 when no stock adjustment was ever made.
    stock: int = Field(ge=0)
    #: currency -> current price; empty for a discontinued product or one never priced.
    prices: dict[str, CurrentPrice]


class PricePoint(BaseModel):
    """The price of a SKU in one currency valid at an instant: its interval ``[valid_from, valid_to)``."""

    model_config = _CONFIG

    sku: str
    currency: Currency
    amount: Amount
    price_type: PriceType
    valid_from: UtcDatetime
    valid_to: UtcDatetime | None


class PriceInterval(PricePoint):
    """One entry of the price history: a price and its validity interval.

    ``version`` is the product version of the PriceChanged event that set it; two
    changes in the same clock tick give a zero-length interval (``valid_from ==
    valid_to``), a price that was never in force at any instant.
    """

    version: int = Field(ge=1)


class OmnibusPrice(BaseModel):
    """The EU Omnibus reference price of a price change (see :mod:`read_models.pricing.omnibus`).

    ``reference_at`` is the instant T of the price change; the window is
    ``[window_start, reference_at)`` = the 30 days (720 hours) before it.
    ``amount`` is the price in force at T (the announced price). ``lowest_30_days``
    is the lowest price in force at any instant of the window, None when no
    price of this currency was in force during the whole window (a new product
    or a new currency: there is no prior price, so no reduction can be
    announced). ``is_reduction`` is ``amount < lowest_30_days``: only then may
    the shop show the change as a reduction, with ``lowest_30_days`` as the
    prior price.
    """

    model_config = _CONFIG

    sku: str
    currency: Currency
    reference_at: UtcDatetime
    window_start: UtcDatetime
    amount: Amount
    price_type: PriceType
    lowest_30_days: Amount | None
    is_reduction: bool
