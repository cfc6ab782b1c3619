"""The body of a product search request: pure, so every rule is unit-tested without a cluster.

* :func:`build_query` turns a validated :class:`~read_models.search.models.SearchRequest`
  into the complete body of an Elasticsearch ``_search`` request. It is pure (no
  I/O, same input -> same dict), so every rule below is unit-tested without a
  cluster. :func:`parse_response` is its pure counterpart for the answer.
* :func:`search`, :func:`suggest` and :func:`get_product` execute against the
  search alias and translate "the cluster cannot answer now" (connection refused,
  timeout, 429, 5xx, the alias missing during a rebuild) into
  :class:`SearchUnavailable`, which the HTTP API turns into a 503.

Rules the body follows:

* **No query syntax from users.** The free text reaches Elasticsearch only as the
  literal ``query``/``value`` of ``multi_match``, ``match_phrase`` and ``term``
  queries, never through ``query_string``/``simple_query_string`` (whose syntax a
  user could abuse to query other fields or build expensive queries). Filter values
  go into ``term``/``terms``/``range`` queries.
* **Only active products.** ``status: active`` is always a filter; discontinued and
  incomplete documents never appear in hits or facet counts.
* **Facets ignore their own filter.** The facetable filters (brand, category,
  price range, availability) are applied as a ``post_filter``; each facet is a
  ``filter`` aggregation over every facetable filter except its own. Selecting a
  brand therefore narrows the hits and the other facets, while the brand facet
  still lists the other brands. Text, status and attribute filters are in the main
  query and narrow everything.
* **Stable order.** Every sort ends with ``sku`` (unique), so ``search_after``
  (the cursor) never skips or repeats a product between pages.
* **Pagination.** ``page``/``size`` use ``from``/``size`` and are refused beyond
  :data:`MAX_RESULT_WINDOW` (the index's ``max_result_window``). Deeper, a client
  follows ``next_cursor``: urlsafe base64 of JSON with the last hit's sort values
  and a fingerprint of the query, so a cursor of another query (other text,
  filters, currency or sort) is refused. A cursor is not a secret or a signature:
  forging one only moves the caller's own starting point.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, NoReturn

from read_models.search.document import ACTIVE
from read_models.search.models import SearchRequest

__all__ = [
    "HIGHLIGHT_POST_TAG",
    "HIGHLIGHT_PRE_TAG",
    "MAX_RESULT_WINDOW",
    "PRICE_RANGES",
    "TEXT_FIELDS",
    "build_query",
    "build_sort",
    "decode_cursor",
    "encode_cursor",
    "price_field",
    "query_fingerprint",
]

#: from + size may not exceed this (Elasticsearch's default ``index.max_result_window``).
MAX_RESULT_WINDOW = 10_000

#: Fields of the full-text query, with their boosts.
TEXT_FIELDS: tuple[str, ...] = ("name^3", "brand^2", "tags^2", "description")

HIGHLIGHT_PRE_TAG = "<em>"
HIGHLIGHT_POST_TAG = "</em>"

#: Price facet buckets: (key, from inclusive, to exclusive), in the request's currency.
PRICE_RANGES: tuple[tuple[str, Decimal | None, Decimal | None], ...] = (
    ("*-25", None, Decimal(25)),
    ("25-50", Decimal(25), Decimal(50)),
    ("50-100", Decimal(50), Decimal(100)),
    ("100-200", Decimal(100), Decimal(200)),
    ("200-*", Decimal(200), None),
)

_CURSOR_VERSION = 1
_FINGERPRINT_CHARS = 16

# Facet name -> the filter it ignores (a key of _facet_filters).
FACET_BRANDS = "brands"
FACET_CATEGORIES = "categories"
FACET_PRICES = "price_ranges"
FACET_AVAILABILITY = "availability"


# --------------------------------------------------------------------------- building


def price_field(currency: str) -> str:
    """The ``double`` field of the prices in ``currency``: ``prices.EUR.amount``."""
    return f"prices.{currency}.amount"


def _text_query(q: str) -> dict[str, Any]:
    """Relevance for free text: every clause takes ``q`` literally.

    A product must match at least one clause. All words in one field (exactly,
    then with typos) score highest; for three or more words, products matching
    most of them (75%) still rank, below; the phrase in the name and the exact
    name (case-sensitive) push the closest names to the top, and an exact SKU
    finds its product.
    """
    fields = list(TEXT_FIELDS)
    return {
        "bool": {
            "should": [
                {
                    "multi_match": {
                        "query": q,
                        "fields": fields,
                        "type": "best_fields",
                        "operator": "and",
                        "tie_breaker": 0.3,
                        "boost": 3,
                    }
                },
                {
                    "multi_match": {
                        "query": q,
                        "fields": fields,
                        "type": "best_fields",
                        "operator": "and",
                        "fuzziness": "AUTO",
                        "tie_breaker": 0.3,
                    }
                },
                {
                    "multi_match": {
                        "query": q,
                        "fields": fields,
                        "type": "best_fields",
                        "operator": "or",
                        "minimum_should_match": "2<75%",
                        "fuzziness": "AUTO",
                        "tie_breaker": 0.3,
                        "boost": 0.5,
                    }
                },
                {"match_phrase": {"name": {"query": q, "boost": 4}}},
                {"term": {"name.raw": {"value": q, "boost": 10}}},
                # A SKU typed into the search box finds its product first.
                {"term": {"sku": {"value": q, "boost": 20}}},
            ],
            "minimum_should_match": 1,
        }
    }


def _decimal_json(value: Decimal) -> str:
    """A Decimal as a plain JSON string ('100', '49.9'); ES parses it for a double."""
    return format(value.normalize(), "f")


def _facet_filters(req: SearchRequest) -> dict[str, dict[str, Any]]:
    """The filters a facet can ignore, by the facet that ignores them (only those given)."""
    filters: dict[str, dict[str, Any]] = {}
    if req.brand:
        filters[FACET_BRANDS] = {"terms": {"brand.raw": list(req.brand)}}
    if req.category is not None:
        filters[FACET_CATEGORIES] = {"term": {"category_paths": req.category}}
    if req.min_price is not None or req.max_price is not None:
        bounds: dict[str, str] = {}
        if req.min_price is not None:
            bounds["gte"] = _decimal_json(req.min_price)
        if req.max_price is not None:
            bounds["lte"] = _decimal_json(req.max_price)
        filters[FACET_PRICES] = {"range": {price_field(req.currency): bounds}}
    if req.in_stock is not None:
        filters[FACET_AVAILABILITY] = {"term": {"in_stock": req.in_stock}}
    return filters


def _base_filters(req: SearchRequest) -> list[dict[str, Any]]:
    """Filters every hit and every facet count obeys."""
    filters: list[dict[str, Any]] = [{"term": {"status": ACTIVE}}]
    for key, value in sorted(req.attributes.items()):
        filters.append({"term": {f"attributes.{key}": value}})
    return filters


def _all_of(clauses: Sequence[dict[str, Any]]) -> dict[str, Any]:
    if not clauses:
        return {"match_all": {}}
    return {"bool": {"filter": list(clauses)}}


def _aggregations(
    req: SearchRequest, facet_filters: Mapping[str, dict[str, Any]]
) -> dict[str, Any]:
    inner: dict[str, dict[str, Any]] = {
        FACET_BRANDS: {
            # products without a brand have brand "": no bucket for them
            "terms": {"field": "brand.raw", "size": req.facet_size, "exclude": [""]}
        },
        FACET_CATEGORIES: {"terms": {"field": "category_paths", "size": req.facet_size}},
        FACET_PRICES: {
            "range": {
                "field": price_field(req.currency),
                "ranges": [
                    {
                        "key": key,
                        **({"from": _decimal_json(low)} if low is not None else {}),
                        **({"to": _decimal_json(high)} if high is not None else {}),
                    }
                    for key, low, high in PRICE_RANGES
                ],
            }
        },
        FACET_AVAILABILITY: {"terms": {"field": "availability", "size": 10}},
    }
    aggs: dict[str, Any] = {}
    for name, agg in inner.items():
        others = [clause for facet, clause in facet_filters.items() if facet != name]
        aggs[name] = {"filter": _all_of(others), "aggs": {"buckets": agg}}
    return aggs


def build_sort(req: SearchRequest) -> list[dict[str, Any]]:
    """The sort of ``req``; always ends with the unique ``sku``."""
    tiebreak = {"sku": {"order": "asc"}}
    if req.sort == "relevance":
        return [{"_score": {"order": "desc"}}, tiebreak]
    if req.sort in ("price_asc", "price_desc"):
        order = "asc" if req.sort == "price_asc" else "desc"
        price = {
            "order": order,
            "missing": "_last",
            # no product has a price in this currency yet: the field is unmapped
            "unmapped_type": "double",
        }
        return [{price_field(req.currency): price}, tiebreak]
    # newest
    return [{"updated_at": {"order": "desc", "missing": "_last"}}, tiebreak]


def _window_check(req: SearchRequest, max_result_window: int) -> None:
    if req.cursor is None and req.page * req.size > max_result_window:
        raise ValueError(
            f"page {req.page} with size {req.size} reaches past result {max_result_window}; "
            "to go deeper, follow next_cursor (pass it as cursor) instead of page"
        )


def build_query(
    req: SearchRequest, *, max_result_window: int = MAX_RESULT_WINDOW
) -> dict[str, Any]:
    """The complete ``_search`` body for ``req`` (pure; see the module docstring).

    Keys: ``query`` (bool: ``must`` = the text query or ``match_all``, ``filter`` =
    status and attributes), ``post_filter`` (brand, category, price, availability;
    absent without such filters), ``aggs`` (when ``req.facets``), ``sort``,
    ``size``, ``from`` (page) or ``search_after`` (cursor), ``highlight`` (when
    there is text and ``req.highlight``), ``track_total_hits``, ``_source``.

    With a cursor, ``size`` is ``req.size + 1``: the extra hit only tells whether
    there is a next page. Without facets, the facetable filters go into the main
    query (no post_filter needed).

    Raises:
        ValueError: ``page * size`` is beyond ``max_result_window`` (use the cursor),
            or the cursor is garbled or belongs to another query.
    """
    _window_check(req, max_result_window)
    facet_filters = _facet_filters(req)
    filters = _base_filters(req)
    if not req.facets:
        filters.extend(facet_filters.values())

    must = _text_query(req.q) if req.q is not None else {"match_all": {}}
    body: dict[str, Any] = {
        "query": {"bool": {"must": [must], "filter": filters}},
        "sort": build_sort(req),
        "track_total_hits": True,
        "_source": {
            "includes": [
                "sku",
                "name",
                "brand",
                "category_path",
                "stock",
                "in_stock",
                f"prices.{req.currency}",
            ]
        },
    }
    if req.facets:
        if facet_filters:
            body["post_filter"] = _all_of(list(facet_filters.values()))
        body["aggs"] = _aggregations(req, facet_filters)

    if req.cursor is not None:
        body["search_after"] = decode_cursor(req, req.cursor)
        body["size"] = req.size + 1
    else:
        body["from"] = (req.page - 1) * req.size
        body["size"] = req.size

    if req.q is not None and req.highlight:
        body["highlight"] = {
            "pre_tags": [HIGHLIGHT_PRE_TAG],
            "post_tags": [HIGHLIGHT_POST_TAG],
            # escape the product text itself: a fragment is safe to render as HTML
            "encoder": "html",
            "fields": {
                "name": {"number_of_fragments": 0},
                "description": {"fragment_size": 150, "number_of_fragments": 3},
            },
        }
    return body


# --------------------------------------------------------------------------- cursor


def query_fingerprint(req: SearchRequest) -> str:
    """What decides the hits and their order; a cursor is valid only for the same.

    Page, size, facets and highlighting do not change the order, so a client may
    change them while following cursors.
    """
    canonical = {
        "q": req.q,
        "brand": sorted(req.brand),
        "category": req.category,
        "currency": req.currency,
        "min_price": None if req.min_price is None else _decimal_json(req.min_price),
        "max_price": None if req.max_price is None else _decimal_json(req.max_price),
        "in_stock": req.in_stock,
        "attributes": sorted(req.attributes.items()),
        "sort": req.sort,
    }
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode()).hexdigest()[:_FINGERPRINT_CHARS]


def encode_cursor(req: SearchRequest, sort_values: Sequence[Any]) -> str:
    """The opaque cursor continuing ``req`` after a hit with ``sort_values``."""
    payload = {"v": _CURSOR_VERSION, "h": query_fingerprint(req), "s": list(sort_values)}
    raw = json.dumps(payload, separators=(",", ":"), allow_nan=False).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def _invalid_cursor(detail: str) -> NoReturn:
    raise ValueError(f"invalid cursor: {detail}; use the next_cursor of a search result")


def _reject_constant(name: str) -> NoReturn:
    _invalid_cursor(f"non-finite number {name}")


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def decode_cursor(req: SearchRequest, cursor: str) -> list[Any]:
    """The ``search_after`` values in ``cursor``, checked against ``req``.

    Raises:
        ValueError: the cursor is not one this module made ("invalid cursor"), or
            it was made for another query ("cursor does not belong to this query").
    """
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        payload = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (binascii.Error, UnicodeDecodeError, json.JSONDecodeError) as exc:
        _invalid_cursor(f"cannot decode it ({type(exc).__name__})")
    if not isinstance(payload, dict) or set(payload) != {"v", "h", "s"}:
        _invalid_cursor("unexpected content")
    if payload["v"] != _CURSOR_VERSION:
        _invalid_cursor(f"unknown cursor version {payload['v']!r}")
    if payload["h"] != query_fingerprint(req):
        raise ValueError(
            "cursor does not belong to this query: a cursor only continues the search "
            "(text, filters, currency, sort) it came from"
        )
    values = payload["s"]
    expected = build_sort(req)
    if not isinstance(values, list) or len(values) != len(expected):
        _invalid_cursor("wrong number of sort values")
    first, sku = values
    if not isinstance(sku, str):
        _invalid_cursor("the SKU sort value is not a string")
    if req.sort in ("price_asc", "price_desc"):
        # a product without a price sorts as +/-Infinity, which ES writes as a string
        ok = _is_number(first) or first in ("Infinity", "-Infinity")
    elif req.sort == "newest":
        ok = isinstance(first, int) and not isinstance(first, bool)
    else:
        ok = _is_number(first)
    if not ok:
        _invalid_cursor(f"sort value {first!r} does not fit sort {req.sort!r}")
    return [first, sku]
