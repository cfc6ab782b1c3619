"""The query parameters of ``GET /search``, as one typed model.

One model instead of nineteen separate parameters: FastAPI then validates the
query string in one pydantic call (per-parameter validation was a fifth of the
API's CPU per search), and the OpenAPI document still lists every parameter
with its bounds. :meth:`SearchQuery.request` turns it into the
:class:`~read_models.search.models.SearchRequest` the search runs.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints, model_validator

from read_models import consistency
from read_models.search.models import (
    MAX_CURSOR_LENGTH,
    MAX_QUERY_LENGTH,
    PriceBound,
    SearchRequest,
    SortOrder,
)
from schemas.position_token import TOKEN_PATTERN

__all__ = ["SearchQuery"]

# What the search accepts, said in the parameters' schema too, so the OpenAPI document
# promises no more and no less (schemathesis checks both ways).
#: a brand with something besides spaces, up to 100 characters
_Brand = Annotated[str, StringConstraints(pattern=r"^\s*\S[\s\S]{0,99}$", max_length=100)]
#: key:value, the key 1-50 characters without control characters, `*`, `?` or `:`
#: (it becomes part of a field name) and not only spaces, the value 1-200 characters
_AttributeFilter = Annotated[
    str,
    StringConstraints(
        pattern=r"^\s*[^\s:\x00-\x1f*?][^:\x00-\x1f*?]{0,49}:[\s\S]{1,200}$", max_length=251
    ),
]
#: category levels of at most 100 characters, at most 10 of them, joined by '/'
_Category = Annotated[
    str, StringConstraints(pattern=r"^[^/]{0,100}(/[^/]{0,100}){0,9}$", max_length=1100)
]


class SearchQuery(BaseModel):
    """``GET /search?...``: what to find, how to filter, sort and page it."""

    q: str | None = Field(
        default=None, max_length=MAX_QUERY_LENGTH, description="free text (no syntax)"
    )
    brand: list[_Brand] = Field(
        default_factory=list, max_length=20, description="brands, any of them"
    )
    category: _Category | None = Field(default=None, description="e.g. Shoes/Running")
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    min_price: PriceBound | None = None
    max_price: PriceBound | None = None
    in_stock: bool | None = None
    attr: list[_AttributeFilter] = Field(
        default_factory=list, max_length=10, description="attribute filter key:value"
    )
    sort: SortOrder = "relevance"
    page: int = Field(default=1, ge=1, le=100)
    size: int = Field(default=20, ge=1, le=100)
    cursor: str | None = Field(default=None, max_length=MAX_CURSOR_LENGTH)
    facets: bool = True
    facet_size: int = Field(default=10, ge=1, le=50)
    highlight: bool = True
    min_position: str | None = Field(
        default=None,
        max_length=2000,
        pattern=TOKEN_PATTERN,
        description="position token of an accepted command (`position_token`): answer only "
        "once this read model has applied it. Also accepted as the X-Min-Position header.",
    )
    wait_ms: int = Field(
        default=2000,
        ge=0,
        le=consistency.MAX_WAIT_MS,
        description="longest wait for min_position (ms)",
    )

    @model_validator(mode="before")
    @classmethod
    def _empty_is_absent(cls, data: Any) -> Any:
        """``?max_price=`` (what a form sends for an empty field, and what a null becomes
        in a query string) is a parameter not given."""
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value != ""}
        return data

    def request(self) -> SearchRequest:
        """The search to run (its own checks apply: a cursor with a page, a price range)."""
        return SearchRequest(
            q=self.q,
            brand=self.brand,
            category=self.category,
            currency=self.currency,
            min_price=self.min_price,
            max_price=self.max_price,
            in_stock=self.in_stock,
            attributes=dict(pair.split(":", 1) for pair in self.attr),
            sort=self.sort,
            page=self.page,
            size=self.size,
            cursor=self.cursor,
            facets=self.facets,
            facet_size=self.facet_size,
            highlight=self.highlight,
        )
