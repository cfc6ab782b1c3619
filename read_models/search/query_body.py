"""The body of a product search request: pure, so every rule is unit-tested without a cluster.

:func:`build_query` turns a validated :class:`~read_models.search.models.SearchRequest`
into the complete body of an Elasticsearch ``_search`` request (no I/O, same
input -> same dict); :mod:`read_models.search.queries` runs it and parses the answer.

Rules the body follows:

* **Built for capacity.** A storefront's search box must answer hundreds of
  queries a second on a small cluster, so each clause earns its cost (measured in
  BENCHMARKS.md, "Search capacity"): the hits are decided by one strict clause set
  (every word, one typo in a word, the first letter right); ordering clauses are
  exact, never fuzzy; highlighting uses the words as typed. A query that matches
  nothing is run again relaxed (most words, two typos) by the caller.
* **No query syntax from users.** The free text reaches Elasticsearch only as the
  literal ``query``/``value`` of ``multi_match``, ``match`` and ``term`` queries,
  never through ``query_string``/``simple_query_string`` (whose syntax a user
  could abuse to query other fields or build expensive queries). Filter values go
  into ``term``/``terms``/``range`` queries.
* **Only active products.** ``status: active`` is always a filter; discontinued and
  incomplete documents never appear in hits or facet counts.
* **Facets ignore their own filter.** The facetable filters (brand, category,
  price range, availability) are applied as a ``post_filter``; each facet is a
  ``filter`` aggregation over every facetable filter except its own. Selecting a
  brand therefore narrows the hits and the other facets, while the brand facet
  still lists the other brands. Text, status and attribute filters are in the main
  query and narrow everything.
* **Stable order.** Every sort ends with ``sku`` (unique), so ``search_after``
  (the cursor, :mod:`read_models.search.cursor`) never skips or repeats a product
  between pages.
* **Pagination.** ``page``/``size`` use ``from``/``size`` and are refused beyond
  :data:`MAX_RESULT_WINDOW` (the index's ``max_result_window``); deeper, a client
  follows ``next_cursor``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

from read_models.search.cursor import cursor_relaxed, decode_cursor
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
    "highlight_body",
    "price_field",
    "starts_relaxed",
    "text_query",
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

# Facet name -> the filter it ignores (a key of _facet_filters).
FACET_BRANDS = "brands"
FACET_CATEGORIES = "categories"
FACET_PRICES = "price_ranges"
FACET_AVAILABILITY = "availability"


# --------------------------------------------------------------------------- building


def price_field(currency: str) -> str:
    """The ``double`` field of the prices in ``currency``: ``prices.EUR.amount``."""
    return f"prices.{currency}.amount"


#: Typo tolerance of the query that decides the hits: words of 4 to 11 characters
#: may have one edit, longer ones two (``AUTO:4,12``), and the first character
#: must be right. Two edits for every word of six or more characters (``AUTO``)
#: cost about four times as much (Levenshtein automata of distance 2 are the most
#: expensive part of a search) and are kept for the relaxed query, which runs
#: only when this one finds nothing.
FUZZINESS = "AUTO:4,12"
RELAXED_FUZZINESS = "AUTO"
PREFIX_LENGTH = 1
#: Most index terms one misspelt word may stand for (Elasticsearch's default is 50).
MAX_EXPANSIONS = 20


def _word(word: str, fuzziness: str) -> dict[str, Any]:
    """One word of the text in any of the fields, exactly or with ``fuzziness`` typos."""
    return {
        "multi_match": {
            "query": word,
            "fields": list(TEXT_FIELDS),
            "operator": "and",
            "fuzziness": fuzziness,
            "prefix_length": PREFIX_LENGTH,
            "max_expansions": MAX_EXPANSIONS,
        }
    }


def _every_word(q: str) -> dict[str, Any]:
    """What a product must have to match: every word of ``q`` in some field, exactly
    or with a typo, or ``q`` is its SKU.

    The words may be spread over fields ("rechargeable" in the tags, "bike light" in
    the name). One clause per word gives typo tolerance across fields, which
    ``cross_fields`` cannot (it has no fuzziness).
    """
    return {
        "bool": {
            "should": [
                {
                    "multi_match": {
                        "query": q,
                        "fields": list(TEXT_FIELDS),
                        "type": "cross_fields",
                        "operator": "and",
                        "boost": 3,
                    }
                },
                {"bool": {"must": [_word(word, FUZZINESS) for word in q.split()]}},
                # A SKU typed into the search box finds its product first.
                {"term": {"sku": {"value": q, "boost": 20}}},
            ],
            "minimum_should_match": 1,
        }
    }


def _most_words(q: str) -> dict[str, Any]:
    """The relaxed match: most of the words (all of one or two, 75% of more), each in
    any field, with two typos allowed in longer words. Used only when no product has
    every word."""
    return {
        "bool": {
            "should": [_word(word, RELAXED_FUZZINESS) for word in q.split()],
            "minimum_should_match": "2<75%",
        }
    }


def _ranking(q: str) -> list[dict[str, Any]]:
    """Clauses that only order the matches (none decides what matches).

    All words in one field rank above words spread over several; words in the name
    above words in the description (a helmet whose description says "pairs well with
    our bike light" is not a bike light); the phrase in the name and the exact name
    above the rest. None is fuzzy, so ordering costs little.
    """
    return [
        {
            "multi_match": {
                "query": q,
                "fields": list(TEXT_FIELDS),
                "type": "best_fields",
                "operator": "and",
                "tie_breaker": 0.3,
                "boost": 3,
            }
        },
        {"match": {"name": {"query": q, "boost": 2}}},
        {"match_phrase": {"name": {"query": q, "boost": 4}}},
        {"term": {"name.raw": {"value": q, "boost": 10}}},
    ]


def text_query(q: str, *, relaxed: bool = False) -> dict[str, Any]:
    """Relevance for free text; every clause takes ``q`` literally.

    The strict query (``relaxed=False``) matches products with every word and is
    what a search runs first. When it matches nothing (a word the catalog does not
    have, "red running shoe size 42", or a word with more typos than it forgives),
    the search runs the relaxed one, which matches most of the words.
    """
    match = _most_words(q) if relaxed else _every_word(q)
    return {"bool": {"must": [match], "should": _ranking(q)}}


def highlight_body(q: str) -> dict[str, Any]:
    """Highlight the words as typed, without the query's typo tolerance.

    The unified highlighter expands a fuzzy query anew for every hit and field: with
    the search's own query it took about 210 ms of a 225 ms search (20 hits, 100,000
    products); with this plain one, about 1 ms. The words found through a typo
    ("runing" finding "running") are marked afterwards in the returned fragments
    (:mod:`read_models.search.typo_marks`), which is why a field where nothing
    matched as typed still returns its beginning (``no_match_size``).
    """
    return {
        "type": "plain",
        "pre_tags": [HIGHLIGHT_PRE_TAG],
        "post_tags": [HIGHLIGHT_POST_TAG],
        # escape the product text itself: a fragment is safe to render as HTML
        "encoder": "html",
        "highlight_query": {
            "bool": {
                "should": [
                    {"match_phrase": {"name": {"query": q}}},  # the phrase as one match
                    {"match": {"name": {"query": q}}},
                    {"match": {"description": {"query": q}}},
                ]
            }
        },
        "fields": {
            "name": {"number_of_fragments": 0, "no_match_size": 200},
            "description": {
                "fragment_size": 150,
                "number_of_fragments": 3,
                "no_match_size": 150,
            },
        },
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


#: The price facet's buckets as Elasticsearch takes them (built once: a Decimal's
#: text costs more than the rest of a search's body).
_PRICE_BUCKETS: tuple[dict[str, str], ...] = tuple(
    {
        "key": key,
        **({"from": _decimal_json(low)} if low is not None else {}),
        **({"to": _decimal_json(high)} if high is not None else {}),
    }
    for key, low, high in PRICE_RANGES
)


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
                "ranges": [dict(bucket) for bucket in _PRICE_BUCKETS],
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
    req: SearchRequest, *, relaxed: bool = False, max_result_window: int = MAX_RESULT_WINDOW
) -> dict[str, Any]:
    """The complete ``_search`` body for ``req`` (pure; see the module docstring).

    Keys: ``query`` (bool: ``must`` = the text query or ``match_all``, ``filter`` =
    status and attributes), ``post_filter`` (brand, category, price, availability;
    absent without such filters), ``aggs`` (when ``req.facets``), ``sort``,
    ``size``, ``from`` (page) or ``search_after`` (cursor), ``highlight`` (when
    there is text and ``req.highlight``), ``track_total_hits``, ``_source``.

    ``relaxed`` asks for the relaxed text query (see :func:`text_query`); a cursor
    that continues relaxed hits asks for it too.

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

    relaxed = relaxed or starts_relaxed(req)
    must = text_query(req.q, relaxed=relaxed) if req.q is not None else {"match_all": {}}
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
        body["highlight"] = highlight_body(req.q)
    return body


def starts_relaxed(req: SearchRequest) -> bool:
    """True when ``req`` continues, by its cursor, the hits of the relaxed query."""
    return req.q is not None and req.cursor is not None and cursor_relaxed(req, req.cursor)
