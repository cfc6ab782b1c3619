"""Querying the product search read model: thin execution, and the pure parsing of answers.

* :func:`search`, :func:`suggest` and :func:`get_product` execute against the
  search alias and translate "the cluster cannot answer now" (connection refused,
  timeout, 429, 5xx, the alias missing during a rebuild) into
  :class:`SearchUnavailable`, which the HTTP API turns into a 503.
* :func:`parse_response` is the pure counterpart of
  :func:`read_models.search.query_body.build_query`, whose rules are written there.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from elasticsearch import ApiError, Elasticsearch, NotFoundError, TransportError

from read_models.search.cursor import encode_cursor
from read_models.search.models import (
    MAX_SUGGEST_PREFIX,
    FacetBucket,
    Facets,
    Price,
    PriceRangeBucket,
    SearchHit,
    SearchRequest,
    SearchResult,
)
from read_models.search.query_body import (
    FACET_AVAILABILITY,
    FACET_BRANDS,
    FACET_CATEGORIES,
    FACET_PRICES,
    PRICE_RANGES,
    build_query,
    starts_relaxed,
)
from read_models.search.typo_marks import TypoMarks

__all__ = ["SearchUnavailable", "get_product", "parse_response", "search", "suggest"]

_SUGGESTION = "products"


class SearchUnavailable(Exception):  # noqa: N818 - the name the API layer uses
    """The search read model cannot answer now (down, overloaded, being rebuilt).

    Retrying later may succeed; the HTTP API answers 503.
    """


# --------------------------------------------------------------------------- parsing


def _hit(req: SearchRequest, hit: Mapping[str, Any], marks: TypoMarks | None) -> SearchHit:
    source: Mapping[str, Any] = hit.get("_source") or {}
    price_doc = (source.get("prices") or {}).get(req.currency)
    price = None
    if isinstance(price_doc, Mapping) and "amount_text" in price_doc:
        price = Price(
            currency=req.currency,
            amount=str(price_doc["amount_text"]),
            price_type=str(price_doc.get("price_type", "regular")),
        )
    score = hit.get("_score")
    return SearchHit(
        sku=str(source.get("sku", hit.get("_id"))),
        name=str(source.get("name", "")),
        brand=str(source.get("brand", "")),
        price=price,
        in_stock=bool(source.get("in_stock", False)),
        stock=int(source.get("stock", 0)),
        category_path=[str(level) for level in source.get("category_path") or []],
        score=float(score) if score is not None else None,
        highlights=marks.mark(hit.get("highlight") or {}) if marks is not None else {},
    )


def _terms(aggs: Mapping[str, Any], name: str) -> list[FacetBucket]:
    return [
        FacetBucket(key=str(bucket["key"]), count=int(bucket["doc_count"]))
        for bucket in aggs[name]["buckets"]["buckets"]
    ]


def _facets(aggs: Mapping[str, Any]) -> Facets:
    counts = {
        str(bucket["key"]): int(bucket["doc_count"])
        for bucket in aggs[FACET_PRICES]["buckets"]["buckets"]
    }
    return Facets(
        brands=_terms(aggs, FACET_BRANDS),
        categories=_terms(aggs, FACET_CATEGORIES),
        price_ranges=[
            PriceRangeBucket(key=key, low=low, high=high, count=counts.get(key, 0))
            for key, low, high in PRICE_RANGES
        ],
        availability=_terms(aggs, FACET_AVAILABILITY),
    )


def parse_response(
    req: SearchRequest, response: Mapping[str, Any], *, relaxed: bool = False
) -> SearchResult:
    """The :class:`SearchResult` of the answer to ``build_query(req, relaxed=relaxed)`` (pure)."""
    hits: list[Mapping[str, Any]] = list(response["hits"]["hits"])
    total = int(response["hits"]["total"]["value"])
    if req.cursor is not None:
        has_more = len(hits) > req.size
        hits = hits[: req.size]
    else:
        has_more = (req.page - 1) * req.size + len(hits) < total
    next_cursor = (
        encode_cursor(req, hits[-1]["sort"], relaxed=relaxed) if has_more and hits else None
    )
    aggs = response.get("aggregations")
    marks = TypoMarks(req.q, relaxed=relaxed) if req.q is not None and req.highlight else None
    return SearchResult(
        total=total,
        hits=[_hit(req, hit, marks) for hit in hits],
        facets=_facets(aggs) if req.facets and aggs is not None else None,
        next_cursor=next_cursor,
        page=req.page if req.cursor is None else None,
        relaxed=relaxed,
    )


# --------------------------------------------------------------------------- executing

_T = TypeVar("_T")


def _unavailable(action: str, exc: Exception) -> SearchUnavailable:
    return SearchUnavailable(f"search is unavailable: {action} failed: {exc}")


def _call(action: str, request: Callable[[], _T]) -> _T:
    """Run one request; "cannot answer now" becomes :class:`SearchUnavailable`.

    Other API errors (a 400 is a bug in this module) propagate unchanged.
    """
    try:
        return request()
    except ApiError as exc:
        status = exc.meta.status
        if status == 429 or status >= 500 or exc.error == "index_not_found_exception":
            raise _unavailable(action, exc) from exc
        raise
    except TransportError as exc:  # connection refused, timeout, TLS, ...
        raise _unavailable(action, exc) from exc


def search(es: Elasticsearch, alias: str, req: SearchRequest) -> SearchResult:
    """Run ``req`` against the search ``alias``; when no product has every word of
    the text, run it again relaxed (most of the words; the result says so).

    Raises:
        ValueError: bad paging or cursor (see :func:`build_query`).
        SearchUnavailable: the cluster cannot answer now.
    """
    relaxed = starts_relaxed(req)

    def run(body: dict[str, Any]) -> Mapping[str, Any]:
        # A shard that fails must fail the search (503 when the shard is unavailable),
        # never silently shrink the hits and facet counts.
        response = _call(
            "search",
            lambda: es.search(
                index=alias,
                body=body,
                allow_partial_search_results=False,
                # Each shard keeps the hits and facets of a search until its next
                # refresh that changed something: a search that is repeated (a
                # storefront's head queries) skips the query and aggregations. Never
                # stale: the cache is keyed by the shard's reader.
                request_cache=True,
            ),
        )
        answer: Mapping[str, Any] = response.body
        return answer

    answer = run(build_query(req, relaxed=relaxed))
    if req.q is not None and not relaxed and answer["hits"]["total"]["value"] == 0:
        # No product has every word: show those with most of them.
        relaxed = True
        answer = run(build_query(req, relaxed=True))
    return parse_response(req, answer, relaxed=relaxed)


def suggest(es: Elasticsearch, alias: str, prefix: str, size: int = 10) -> list[str]:
    """Autocomplete: up to ``size`` distinct product names (or brands) starting with
    ``prefix`` (case-insensitive, from the start of the name), best first.

    Discontinued and incomplete products have no suggest input, so they are never
    suggested. An empty prefix suggests nothing (no request is made).

    Raises:
        ValueError: ``prefix`` longer than 50 characters or ``size`` outside 1..50.
        SearchUnavailable: the cluster cannot answer now.
    """
    # Control characters mean nothing in a name, and the completion suggester
    # reserves some (U+001E, U+001F) and answers 400: drop them.
    prefix = "".join(ch for ch in prefix if not unicodedata.category(ch).startswith("C")).lstrip()
    if len(prefix) > MAX_SUGGEST_PREFIX:
        raise ValueError(f"prefix has {len(prefix)} characters; at most {MAX_SUGGEST_PREFIX}")
    if not 1 <= size <= 50:
        raise ValueError(f"size must be within 1..50, got {size}")
    if not prefix:
        return []
    body = {
        "size": 0,  # suggestions only: no hits to find, fetch or count
        "_source": False,
        "suggest": {
            _SUGGESTION: {
                "prefix": prefix,
                "completion": {"field": "suggest", "size": size, "skip_duplicates": True},
            }
        },
    }
    response = _call("suggest", lambda: es.search(index=alias, body=body))
    entries = response.body.get("suggest", {}).get(_SUGGESTION, [])
    return [str(option["text"]) for entry in entries for option in entry.get("options", [])]


def get_product(es: Elasticsearch, alias: str, sku: str) -> dict[str, Any] | None:
    """The stored search document of ``sku`` (a realtime GET: it sees writes not yet
    refreshed into search), or None when there is none.

    The document is returned whatever its ``status`` (``active``, ``discontinued``
    or ``incomplete``): the caller decides, e.g. a product page may answer 410 for a
    discontinued product while an admin view shows it.

    Raises:
        ValueError: ``sku`` is empty or longer than 64 characters.
        SearchUnavailable: the cluster cannot answer now (or the alias is missing).
    """
    if not sku or len(sku) > 64:
        raise ValueError(f"a SKU has 1 to 64 characters, got {len(sku)}")
    try:
        response = _call("get", lambda: es.get(index=alias, id=sku, realtime=True))
    except NotFoundError as exc:
        if isinstance(exc.body, Mapping) and exc.body.get("found") is False:
            return None
        raise _unavailable("get", exc) from exc
    return dict(response.body["_source"])
