"""Typed requests and results of the product search API (see :mod:`read_models.search.queries`).

Every input is bounded, so a request can be handed straight from the HTTP layer
(FastAPI shows the ``Field`` descriptions in its OpenAPI document) to
:func:`read_models.search.query_body.build_query`. Validation errors are pydantic
``ValidationError`` (a ``ValueError``) with the offending field named.

Prices in results are exact decimal strings (the document's ``amount_text``),
never floats; the ``double`` next to them in the index is only used to filter,
sort and bucket.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from read_models.search.document import CATEGORY_SEPARATOR

__all__ = [
    "MAX_ATTRIBUTE_FILTERS",
    "MAX_BRAND_FILTERS",
    "MAX_CURSOR_LENGTH",
    "MAX_QUERY_LENGTH",
    "MAX_SUGGEST_PREFIX",
    "FacetBucket",
    "Facets",
    "Price",
    "PriceRangeBucket",
    "SearchHit",
    "SearchRequest",
    "SearchResult",
    "SortOrder",
]

MAX_QUERY_LENGTH = 200
MAX_BRAND_FILTERS = 20
MAX_ATTRIBUTE_FILTERS = 10
MAX_SUGGEST_PREFIX = 50
MAX_CURSOR_LENGTH = 2048

SortOrder = Literal["relevance", "price_asc", "price_desc", "newest"]

# Limits follow the event schemas (schemas/json/common/definitions.json): a brand is
# at most 100 characters, a category level 100 (10 levels), an attribute key 50
# and its value 200. Control characters and wildcard characters are refused in
# attribute keys because the key becomes part of a field name (attributes.<key>).
_Brand = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
_AttributeKey = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True, min_length=1, max_length=50, pattern=r"^[^\x00-\x1f*?]+$"
    ),
]
_AttributeValue = Annotated[str, StringConstraints(min_length=1, max_length=200)]
#: A price bound as text: the contract's amount (12 integer digits, 4 fractional), or 0.
PRICE_BOUND_PATTERN = r"^[0-9]{1,12}(\.[0-9]{1,4})?$"


def _price_bound(value: object) -> object:
    """Text is taken as the pattern says and nothing else (no sign, no exponent, no
    spaces), so the API's schema and its checks say the same."""
    if isinstance(value, str) and re.fullmatch(PRICE_BOUND_PATTERN, value) is None:
        raise ValueError(
            "a price bound is a decimal such as 49.9 (up to 12 integer digits, 4 fractional)"
        )
    return value


#: A price bound of a filter (compared with the index's ``double`` of each price).
PriceBound = Annotated[
    Decimal,
    BeforeValidator(_price_bound),
    Field(ge=0, le=Decimal("999999999999.9999"), allow_inf_nan=False),
    WithJsonSchema({"type": "string", "pattern": PRICE_BOUND_PATTERN}),
]


class SearchRequest(BaseModel):
    """One search: full text, filters, sort, pagination and what to return."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    q: str | None = Field(
        default=None,
        max_length=MAX_QUERY_LENGTH,
        description=(
            "Free text, matched against name, brand, tags and description with typo "
            "tolerance. Taken literally: no query syntax (quotes, AND/OR, wildcards) is "
            "interpreted. Empty or absent: every product matching the filters."
        ),
        examples=["running shoes"],
    )
    brand: list[_Brand] = Field(
        default_factory=list,
        max_length=MAX_BRAND_FILTERS,
        description="Only these brands (exact, case-sensitive names); any of them matches.",
    )
    category: str | None = Field(
        default=None,
        max_length=1100,
        description=(
            "A category path prefix, levels joined by '/', e.g. 'Shoes/Running': that "
            "category and everything below it. Exact, case-sensitive level names."
        ),
        examples=["Shoes/Running"],
    )
    currency: str = Field(
        default="EUR",
        pattern=r"^[A-Z]{3}$",
        description="ISO 4217 code of the prices to filter, sort, bucket and show.",
    )
    min_price: PriceBound | None = Field(
        default=None, description="Lowest price (inclusive) in `currency`."
    )
    max_price: PriceBound | None = Field(
        default=None, description="Highest price (inclusive) in `currency`."
    )
    in_stock: bool | None = Field(
        default=None, description="true: only products in stock; false: only out of stock."
    )
    attributes: dict[_AttributeKey, _AttributeValue] = Field(
        default_factory=dict,
        max_length=MAX_ATTRIBUTE_FILTERS,
        description="Exact attribute values, e.g. {'colour': 'red'}; all must match.",
    )
    sort: SortOrder = Field(
        default="relevance",
        description=(
            "relevance (best match first), price_asc / price_desc (in `currency`; "
            "products without a price in it come last), newest (last changed first). "
            "Ties are always broken by SKU."
        ),
    )
    page: int = Field(
        default=1,
        ge=1,
        le=100,
        description="1-based page for shallow paging. Use `cursor` to go deeper.",
    )
    size: int = Field(default=20, ge=1, le=100, description="Hits per page.")
    cursor: str | None = Field(
        default=None,
        max_length=MAX_CURSOR_LENGTH,
        description=(
            "Opaque `next_cursor` of a previous result of the SAME query: continues "
            "right after its last hit (deep pagination). Excludes `page` > 1."
        ),
    )
    facets: bool = Field(default=True, description="Compute facet counts.")
    facet_size: int = Field(
        default=10, ge=1, le=50, description="Most buckets per terms facet (brands, categories)."
    )
    highlight: bool = Field(
        default=True, description="Return highlighted fragments of name and description."
    )

    @field_validator("q")
    @classmethod
    def _blank_is_none(cls, value: str | None) -> str | None:
        if value is None:
            return None
        stripped = value.strip()
        return stripped or None

    @field_validator("category")
    @classmethod
    def _normalise_category(cls, value: str | None) -> str | None:
        """'/Shoes / Running/' -> 'Shoes/Running'; an all-empty path is no filter."""
        if value is None:
            return None
        levels = [level.strip() for level in value.split(CATEGORY_SEPARATOR)]
        levels = [level for level in levels if level]
        if len(levels) > 10:
            raise ValueError("a category path has at most 10 levels")
        if any(len(level) > 100 for level in levels):
            raise ValueError("a category level has at most 100 characters")
        return CATEGORY_SEPARATOR.join(levels) or None

    @field_validator("brand")
    @classmethod
    def _unique_brands(cls, value: list[str]) -> list[str]:
        return list(dict.fromkeys(value))

    @field_validator("cursor")
    @classmethod
    def _blank_cursor_is_none(cls, value: str | None) -> str | None:
        if value is None:
            return None
        return value.strip() or None

    @model_validator(mode="after")
    def _consistent(self) -> SearchRequest:
        # A price range whose minimum is above its maximum is a range nothing is in: it
        # matches no product (as any filter nothing passes), it is not an error.
        if self.cursor is not None and self.page != 1:
            raise ValueError("give either a cursor or a page above 1, not both")
        return self


class Price(BaseModel):
    """A price as stored: the exact decimal string and whether it is a sale price."""

    currency: str
    amount: str = Field(description="Exact decimal string, e.g. '49.90'.")
    price_type: str = Field(description="regular or sale.")


class SearchHit(BaseModel):
    sku: str
    name: str
    brand: str
    price: Price | None = Field(description="In the requested currency; None when it has none.")
    in_stock: bool
    stock: int
    category_path: list[str]
    score: float | None = Field(description="Relevance score; None when sorted otherwise.")
    highlights: dict[str, list[str]] = Field(
        default_factory=dict,
        description=(
            "Field name -> fragments with matches wrapped in <em></em>. The rest of the "
            "text is HTML-escaped, so a fragment is safe to insert as HTML."
        ),
    )


class FacetBucket(BaseModel):
    key: str
    count: int


class PriceRangeBucket(BaseModel):
    key: str = Field(description="'*-25', '25-50', ..., '200-*'.")
    low: Decimal | None = Field(description="Lowest price in the bucket (inclusive); None: open.")
    high: Decimal | None = Field(
        description="Price the bucket stops below (exclusive); None: open."
    )
    count: int


class Facets(BaseModel):
    """Counts over the matching products. Each facet ignores its own filter (so a
    selected brand still lists the other brands with what selecting them would give)
    and applies every other one."""

    brands: list[FacetBucket]
    categories: list[FacetBucket] = Field(
        description="Every category path prefix ('Shoes', 'Shoes/Running', ...)."
    )
    price_ranges: list[PriceRangeBucket]
    availability: list[FacetBucket]


class SearchResult(BaseModel):
    total: int = Field(description="Exact number of matching products.")
    hits: list[SearchHit]
    facets: Facets | None = Field(description="None when the request asked for no facets.")
    next_cursor: str | None = Field(
        description="Pass as `cursor` (same query) for the next page; None on the last page."
    )
    page: int | None = Field(description="The page number when paging by page; None with a cursor.")
    relaxed: bool = Field(
        default=False,
        description=(
            "True when no product has every word of `q` (with its typo tolerance) and "
            "the hits are the products with most of the words instead."
        ),
    )
