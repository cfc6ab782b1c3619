"""The query parameters of ``GET /search``, as one typed model.

One model instead of nineteen separate parameters: FastAPI then validates the
query string in one pydantic call (per-parameter validation was a fifth of the
API's CPU per search), and the OpenAPI document still lists every parameter
with its bounds. :meth:`SearchQuery.request` turns it into the
:class:`~read_models.search.models.SearchRequest` the search runs.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from read_models import consistency
from read_models.search.models import MAX_CURSOR_LENGTH, MAX_QUERY_LENGTH, SearchRequest, SortOrder

__all__ = ["SearchQuery"]

_AttributeFilter = Annotated[str, StringConstraints(pattern=r"^[^:]+:.+$", max_length=251)]


class SearchQuery(BaseModel):
    """``GET /search?...``: what to find, how to filter, sort and page it."""

    q: str | None = Field(
        default=None, max_length=MAX_QUERY_LENGTH, description="free text (no syntax)"
    )
    brand: list[str] = Field(default_factory=list, max_length=20, description="brands, any of them")
    category: str | None = Field(default=None, max_length=1100, description="e.g. Shoes/Running")
    currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$")
    min_price: Decimal | None = Field(default=None, ge=0)
    max_price: Decimal | None = Field(default=None, ge=0)
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
        description="position token of an accepted command (`position_token`): answer only "
        "once this read model has applied it. Also accepted as the X-Min-Position header.",
    )
    wait_ms: int = Field(
        default=2000,
        ge=0,
        le=consistency.MAX_WAIT_MS,
        description="longest wait for min_position (ms)",
    )

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
