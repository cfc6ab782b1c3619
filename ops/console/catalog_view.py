"""The catalog page's state: what its URL holds, the search it asks for, and the facets,
sorts and pages it shows, as pure functions.

The page keeps every choice in its query string (``/?q=shoe&brand=Acme&price=25-50``),
so a result is a link that can be shared, bookmarked and restored by the back
button; this module turns that string into the very :class:`SearchRequest` the JSON
API builds, and the answer's facets into the form controls that change it. No I/O,
so every rule is unit-tested without a cluster.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from urllib.parse import urlencode

from read_models.search.models import Facets, SearchRequest, SortOrder
from read_models.search.query_body import MAX_RESULT_WINDOW, PRICE_RANGES

PAGE_SIZE = 20
#: What the page offers; the search read model holds these (the demo catalog's too).
CURRENCIES = ("EUR", "USD", "GBP")
SORTS: tuple[tuple[SortOrder, str], ...] = (
    ("relevance", "Best match"),
    ("price_asc", "Price, lowest first"),
    ("price_desc", "Price, highest first"),
    ("newest", "Recently changed"),
)
#: The smallest step of an amount (4 decimal places): a range facet's upper bound is
#: exclusive, a search's max_price inclusive, so a range ends one step below its bound.
_STEP = Decimal("0.0001")


@dataclass(frozen=True)
class CatalogQuery:
    """The catalog page's choices, as its query string holds them."""

    q: str = ""
    brand: tuple[str, ...] = ()
    category: str = ""
    #: a key of PRICE_RANGES ('25-50'), or '' for any price
    price: str = ""
    in_stock: bool = False
    currency: str = "EUR"
    sort: SortOrder = "relevance"
    page: int = 1

    def price_bounds(self) -> tuple[Decimal | None, Decimal | None]:
        """(min_price, max_price) of the chosen range, both inclusive; (None, None) for any."""
        for key, low, high in PRICE_RANGES:
            if key == self.price:
                return low, None if high is None else high - _STEP
        return None, None

    def request(self, size: int = PAGE_SIZE) -> SearchRequest:
        """The search the JSON API's /search would run for the same choices."""
        low, high = self.price_bounds()
        return SearchRequest(
            q=self.q or None,
            brand=list(self.brand),
            category=self.category or None,
            currency=self.currency,
            min_price=low,
            max_price=high,
            in_stock=True if self.in_stock else None,
            sort=self.sort,
            page=self.page,
            size=size,
        )

    def url(self, **changes: object) -> str:
        """The page's URL with some choices changed (defaults are left out)."""
        query = replace(self, **changes)  # type: ignore[arg-type]
        params: list[tuple[str, str]] = []
        if query.q:
            params.append(("q", query.q))
        params.extend(("brand", b) for b in query.brand)
        if query.category:
            params.append(("category", query.category))
        if query.price:
            params.append(("price", query.price))
        if query.in_stock:
            params.append(("in_stock", "true"))
        if query.currency != "EUR":
            params.append(("currency", query.currency))
        if query.sort != "relevance":
            params.append(("sort", query.sort))
        if query.page != 1:
            params.append(("page", str(query.page)))
        return "/?" + urlencode(params) if params else "/"


@dataclass(frozen=True)
class Option:
    """One choice of a facet: a checkbox or radio button with its count."""

    value: str
    label: str
    count: int
    selected: bool
    #: how deep a category sits (0 for top level), for indentation
    depth: int = 0


def control_id(name: str, value: str) -> str:
    """A facet control's id, the same for the same choice in every answer: htmx gives
    focus back to the element of the same id after a swap, so a keyboard user who ticks
    a box stays on it while the results change around it."""
    return f"{name}-{zlib.crc32(value.encode()):08x}"


@dataclass(frozen=True)
class FacetGroup:
    #: the query-string parameter the controls set
    name: str
    legend: str
    #: 'checkbox' (any of them) or 'radio' (one of them)
    kind: str
    options: list[Option] = field(default_factory=list)


def _price_label(key: str, currency: str) -> str:
    low, _, high = key.partition("-")
    if low == "*":
        return f"under {high} {currency}"
    if high == "*":
        return f"{low} {currency} and more"
    return f"{low} to {high} {currency}"


def facet_groups(query: CatalogQuery, facets: Facets | None) -> list[FacetGroup]:
    """The filter controls of a result: brands, categories, price ranges, availability.

    A chosen brand or category the answer's top buckets leave out is still listed
    (with no count), so it can always be unchosen.
    """
    if facets is None:
        return []
    brands = [Option(b.key, b.key, b.count, b.key in query.brand) for b in facets.brands if b.count]
    listed = {o.value for o in brands}
    brands += [Option(b, b, 0, True) for b in query.brand if b not in listed]
    categories = [Option("", "All categories", -1, not query.category)]
    categories += [
        Option(c.key, c.key.rsplit("/", 1)[-1], c.count, c.key == query.category, c.key.count("/"))
        for c in sorted(facets.categories, key=lambda c: c.key)
    ]
    if query.category and query.category not in {o.value for o in categories}:
        categories.append(Option(query.category, query.category, 0, True))
    prices = [Option("", "Any price", -1, not query.price)]
    prices += [
        Option(p.key, _price_label(p.key, query.currency), p.count, p.key == query.price)
        for p in facets.price_ranges
    ]
    in_stock = next((b.count for b in facets.availability if b.key == "in_stock"), 0)
    return [
        FacetGroup("brand", "Brand", "checkbox", brands),
        FacetGroup("category", "Category", "radio", categories),
        FacetGroup("price", "Price", "radio", prices),
        FacetGroup(
            "in_stock",
            "Availability",
            "checkbox",
            [Option("true", "In stock only", in_stock, query.in_stock)],
        ),
    ]


@dataclass(frozen=True)
class PageLink:
    number: int
    url: str
    current: bool


def last_page(total: int, size: int = PAGE_SIZE) -> int:
    """The deepest page the page can show (the JSON API's bounds: page <= 100 and
    from + size <= the index's result window)."""
    pages = max(1, -(-total // size))
    return min(pages, 100, MAX_RESULT_WINDOW // size)


def page_links(query: CatalogQuery, total: int, size: int = PAGE_SIZE) -> list[PageLink]:
    """Links to the first, last and nearby pages (at most nine), in order."""
    last = last_page(total, size)
    wanted: Sequence[int] = sorted(
        {1, last, *range(max(1, query.page - 3), min(last, query.page + 3) + 1)}
    )
    return [PageLink(n, query.url(page=n), n == query.page) for n in wanted]
