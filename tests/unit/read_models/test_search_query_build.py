"""Building search requests (pure, no services): safety of user text, filters, facets,
sorts, pagination bounds and cursors; parsing a canned response."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from pydantic import ValidationError

from read_models.search.cursor import (
    cursor_relaxed,
    decode_cursor,
    encode_cursor,
    query_fingerprint,
)
from read_models.search.models import SearchRequest
from read_models.search.queries import parse_response
from read_models.search.query_body import (
    FUZZINESS,
    HIGHLIGHT_POST_TAG,
    HIGHLIGHT_PRE_TAG,
    MAX_EXPANSIONS,
    MAX_RESULT_WINDOW,
    PREFIX_LENGTH,
    RELAXED_FUZZINESS,
    TEXT_FIELDS,
    build_query,
    build_sort,
    starts_relaxed,
)

#: Query types that take user text literally (no syntax of their own).
LITERAL_QUERIES = {"multi_match", "match", "match_phrase", "term", "terms"}
#: Query types that must never be built at all.
SYNTAX_QUERIES = {
    "query_string",
    "simple_query_string",
    "regexp",
    "wildcard",
    "prefix",
    "fuzzy",
    "script",
    "intervals",
}

NASTY = [
    'name:"Trail" OR *',
    "brand:Acme AND status:discontinued",
    "/.*/ ~2 ^10 (((",
    '{"script": "x"}',
    "a\\b<c>&d",
]


def walk(node: Any, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Any]]:
    """Every (key path, value) in a JSON-like tree."""
    yield path, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from walk(value, (*path, str(key)))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from walk(value, (*path, str(index)))


def term_filters(clauses: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [c for c in clauses if "term" in c or "terms" in c or "range" in c]


# --------------------------------------------------------------------------- user text


@pytest.mark.parametrize("text", NASTY)
def test_user_text_reaches_es_only_through_literal_queries(text: str) -> None:
    body = build_query(SearchRequest(q=text))
    places = [path for path, value in walk(body) if value == text]
    assert places, "the text is used"
    for path in places:
        query_type = next(key for key in reversed(path) if key in LITERAL_QUERIES | {"highlight"})
        assert query_type in LITERAL_QUERIES, path
        assert path[-1] in ("query", "value"), path
    keys = {key for path, _ in walk(body) for key in path}
    assert not keys & SYNTAX_QUERIES
    # the text is never spliced into a field name or another string
    serialized = json.dumps(body)
    assert serialized.count(json.dumps(text)[1:-1]) == len(places)
    # its words, one clause each for typo tolerance, likewise
    for word in [word for word in text.split() if word != text]:
        for path in [path for path, value in walk(body) if value == word]:
            assert path[-1] == "query" and "multi_match" in path, path
    relaxed = build_query(SearchRequest(q=text), relaxed=True)
    assert not {key for path, _ in walk(relaxed) for key in path} & SYNTAX_QUERIES


def _text(body: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(the clause that decides the matches, the clauses that only order them)."""
    [text] = body["query"]["bool"]["must"]
    [match] = text["bool"]["must"]
    return match, text["bool"]["should"]


def test_a_product_matches_with_every_word_in_any_field_one_typo_allowed_or_by_its_sku() -> None:
    match, _ = _text(build_query(SearchRequest(q="runnign shoes")))
    assert match["bool"]["minimum_should_match"] == 1
    exact, typo_tolerant, sku = match["bool"]["should"]
    assert exact["multi_match"]["type"] == "cross_fields"
    assert exact["multi_match"]["operator"] == "and"
    words = [clause["multi_match"] for clause in typo_tolerant["bool"]["must"]]
    assert [w["query"] for w in words] == ["runnign", "shoes"]
    for word in words:
        assert word["fields"] == list(TEXT_FIELDS)
        assert (word["fuzziness"], word["prefix_length"], word["max_expansions"]) == (
            FUZZINESS,
            PREFIX_LENGTH,
            MAX_EXPANSIONS,
        )
    assert FUZZINESS == "AUTO:4,12" and PREFIX_LENGTH >= 1 and MAX_EXPANSIONS <= 50
    assert sku == {"term": {"sku": {"value": "runnign shoes", "boost": 20}}}


def test_the_clauses_that_order_the_matches_are_never_fuzzy() -> None:
    _, ordering = _text(build_query(SearchRequest(q="red runing shoe")))
    assert ordering, "there are ordering clauses"
    assert not [path for path, _ in walk(ordering) if path and path[-1] == "fuzziness"]
    assert {"match_phrase": {"name": {"query": "red runing shoe", "boost": 4}}} in ordering
    assert {"term": {"name.raw": {"value": "red runing shoe", "boost": 10}}} in ordering


def test_the_relaxed_query_matches_most_words_with_two_typos() -> None:
    match, ordering = _text(build_query(SearchRequest(q="red running shoe size 42"), relaxed=True))
    assert match["bool"]["minimum_should_match"] == "2<75%"
    words = [clause["multi_match"] for clause in match["bool"]["should"]]
    assert [w["query"] for w in words] == ["red", "running", "shoe", "size", "42"]
    assert {w["fuzziness"] for w in words} == {RELAXED_FUZZINESS} == {"AUTO"}
    assert ordering == _text(build_query(SearchRequest(q="red running shoe size 42")))[1]
    # without text there is nothing to relax
    assert build_query(SearchRequest(), relaxed=True)["query"]["bool"]["must"] == [
        {"match_all": {}}
    ]


def test_a_cursor_continues_relaxed_hits_relaxed() -> None:
    req = SearchRequest(q="red running shoe size 42")
    strict = encode_cursor(req, [1.5, "SKU-1"])
    relaxed = encode_cursor(req, [1.5, "SKU-1"], relaxed=True)
    assert not cursor_relaxed(req, strict) and cursor_relaxed(req, relaxed)
    following = req.model_copy(update={"cursor": relaxed})
    assert starts_relaxed(following)
    assert not starts_relaxed(req.model_copy(update={"cursor": strict}))
    assert _text(build_query(following))[0]["bool"]["minimum_should_match"] == "2<75%"
    for bad in ({"r": False}, {"r": 1}, {"x": True}):
        payload = {"v": 1, "h": query_fingerprint(req), "s": [1.5, "SKU-1"], **bad}
        forged = base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")
        with pytest.raises(ValueError, match="invalid cursor"):
            decode_cursor(req, forged)


def test_no_text_is_match_all_and_blank_text_is_no_text() -> None:
    for req in (SearchRequest(), SearchRequest(q="   ")):
        body = build_query(req)
        assert body["query"]["bool"]["must"] == [{"match_all": {}}]
        assert "highlight" not in body
    assert SearchRequest(q="  shoe ").q == "shoe"


def test_text_length_is_bounded() -> None:
    SearchRequest(q="x" * 200)
    with pytest.raises(ValidationError, match="q"):
        SearchRequest(q="x" * 201)


# --------------------------------------------------------------------------- filters


def test_only_active_products_by_default() -> None:
    body = build_query(SearchRequest())
    assert body["query"]["bool"]["filter"] == [{"term": {"status": "active"}}]
    assert "post_filter" not in body


def test_every_filter() -> None:
    req = SearchRequest(
        brand=["Acme", "Peak", "Acme"],
        category="/Shoes / Running/",
        currency="USD",
        min_price=Decimal("10.50"),
        max_price=Decimal("100.00"),
        in_stock=True,
        attributes={"colour": "red", "size": "42"},
    )
    body = build_query(req)
    main = body["query"]["bool"]["filter"]
    assert main == [
        {"term": {"status": "active"}},
        {"term": {"attributes.colour": "red"}},
        {"term": {"attributes.size": "42"}},
    ]
    post = body["post_filter"]["bool"]["filter"]
    assert post == [
        {"terms": {"brand.raw": ["Acme", "Peak"]}},
        {"term": {"category_paths": "Shoes/Running"}},
        {"range": {"prices.USD.amount": {"gte": "10.5", "lte": "100"}}},
        {"term": {"in_stock": True}},
    ]


def test_without_facets_every_filter_is_in_the_main_query() -> None:
    body = build_query(SearchRequest(brand=["Acme"], in_stock=False, facets=False))
    assert "post_filter" not in body and "aggs" not in body
    assert body["query"]["bool"]["filter"] == [
        {"term": {"status": "active"}},
        {"terms": {"brand.raw": ["Acme"]}},
        {"term": {"in_stock": False}},
    ]


def test_one_sided_price_range() -> None:
    body = build_query(SearchRequest(min_price=Decimal(25)))
    assert {"range": {"prices.EUR.amount": {"gte": "25"}}} in body["post_filter"]["bool"]["filter"]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"currency": "eur"}, "currency"),
        ({"currency": "EURO"}, "currency"),
        ({"min_price": -1}, "min_price"),
        ({"min_price": "NaN"}, "min_price"),
        ({"attributes": {f"k{i}": "v" for i in range(11)}}, "attributes"),
        ({"attributes": {"col*": "red"}}, "attributes"),
        ({"attributes": {"colour": ""}}, "attributes"),
        ({"brand": ["x" * 101]}, "brand"),
        ({"brand": ["b"] * 21}, "brand"),
        ({"category": "/".join(["c"] * 11)}, "10 levels"),
        ({"sort": "cheapest"}, "sort"),
        ({"page": 0}, "page"),
        ({"page": 101}, "page"),
        ({"size": 0}, "size"),
        ({"size": 101}, "size"),
        ({"facet_size": 51}, "facet_size"),
        ({"unknown": 1}, "unknown"),
        ({"cursor": "abc", "page": 2}, "not both"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SearchRequest(**fields)


# --------------------------------------------------------------------------- facets


def test_each_facet_ignores_its_own_filter() -> None:
    body = build_query(SearchRequest(brand=["Acme"], category="Shoes", in_stock=True))
    aggs = body["aggs"]
    brand = {"terms": {"brand.raw": ["Acme"]}}
    category = {"term": {"category_paths": "Shoes"}}
    stock = {"term": {"in_stock": True}}
    assert aggs["brands"]["filter"] == {"bool": {"filter": [category, stock]}}
    assert aggs["categories"]["filter"] == {"bool": {"filter": [brand, stock]}}
    assert aggs["availability"]["filter"] == {"bool": {"filter": [brand, category]}}
    assert aggs["price_ranges"]["filter"] == {"bool": {"filter": [brand, category, stock]}}
    assert aggs["brands"]["aggs"]["buckets"]["terms"]["field"] == "brand.raw"
    assert aggs["categories"]["aggs"]["buckets"]["terms"]["field"] == "category_paths"
    assert aggs["availability"]["aggs"]["buckets"]["terms"]["field"] == "availability"


def test_facets_without_filters_count_everything() -> None:
    aggs = build_query(SearchRequest(facet_size=7))["aggs"]
    assert all(agg["filter"] == {"match_all": {}} for agg in aggs.values())
    assert aggs["brands"]["aggs"]["buckets"]["terms"]["size"] == 7


def test_price_buckets_are_in_the_requested_currency() -> None:
    ranges = build_query(SearchRequest(currency="USD"))["aggs"]["price_ranges"]["aggs"]["buckets"]
    assert ranges["range"]["field"] == "prices.USD.amount"
    assert ranges["range"]["ranges"] == [
        {"key": "*-25", "to": "25"},
        {"key": "25-50", "from": "25", "to": "50"},
        {"key": "50-100", "from": "50", "to": "100"},
        {"key": "100-200", "from": "100", "to": "200"},
        {"key": "200-*", "from": "200"},
    ]


def test_no_facets_when_not_asked() -> None:
    assert "aggs" not in build_query(SearchRequest(facets=False))


# --------------------------------------------------------------------------- sorting


@pytest.mark.parametrize(
    ("sort", "first"),
    [
        ("relevance", {"_score": {"order": "desc"}}),
        (
            "price_asc",
            {
                "prices.GBP.amount": {
                    "order": "asc",
                    "missing": "_last",
                    "unmapped_type": "double",
                }
            },
        ),
        (
            "price_desc",
            {
                "prices.GBP.amount": {
                    "order": "desc",
                    "missing": "_last",
                    "unmapped_type": "double",
                }
            },
        ),
        ("newest", {"updated_at": {"order": "desc", "missing": "_last"}}),
    ],
)
def test_every_sort_ends_with_the_unique_sku(sort: str, first: dict[str, Any]) -> None:
    req = SearchRequest(sort=sort, currency="GBP")  # type: ignore[arg-type]
    assert build_query(req)["sort"] == [first, {"sku": {"order": "asc"}}] == build_sort(req)


# --------------------------------------------------------------------------- pagination


def test_shallow_pages() -> None:
    body = build_query(SearchRequest(page=3, size=7))
    assert (body["from"], body["size"]) == (14, 7)
    assert "search_after" not in body
    assert body["track_total_hits"] is True
    body = build_query(SearchRequest(page=100, size=100))  # exactly the window: allowed
    assert body["from"] + body["size"] == MAX_RESULT_WINDOW


def test_pages_beyond_the_result_window_are_refused() -> None:
    with pytest.raises(ValueError, match="follow next_cursor"):
        build_query(SearchRequest(page=51, size=100), max_result_window=5_000)
    # bypassing validation does not bypass the bound
    with pytest.raises(ValueError, match="past result 10000"):
        build_query(SearchRequest.model_construct(page=101, size=100))


def test_a_cursor_round_trips() -> None:
    req = SearchRequest(q="shoe", brand=["Acme"], sort="price_asc")
    for values in ([12.5, "SKU-1"], ["Infinity", "SKU-9"], [3, "B"]):
        cursor = encode_cursor(req, values)
        assert "=" not in cursor
        assert set(cursor) <= set(
            "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
        )
        following = req.model_copy(update={"cursor": cursor})
        assert decode_cursor(following, cursor) == values
        body = build_query(following)
        assert body["search_after"] == values
        assert body["size"] == req.size + 1  # one more: is there a next page?
        assert "from" not in body


def test_a_cursor_survives_changes_that_keep_the_order() -> None:
    req = SearchRequest(q="shoe", brand=["Acme", "Peak"], attributes={"a": "1", "b": "2"})
    cursor = encode_cursor(req, [1.5, "SKU-1"])
    same = SearchRequest(
        q="shoe",
        brand=["Peak", "Acme"],
        attributes={"b": "2", "a": "1"},
        size=50,
        facets=False,
        highlight=False,
        cursor=cursor,
    )
    assert decode_cursor(same, cursor) == [1.5, "SKU-1"]
    assert query_fingerprint(same) == query_fingerprint(req)


@pytest.mark.parametrize(
    "other",
    [
        {"q": "shoes"},
        {"brand": ["Acme"]},
        {"category": "Shoes"},
        {"currency": "USD"},
        {"min_price": 1},
        {"max_price": 1},
        {"in_stock": True},
        {"attributes": {"colour": "red"}},
        {"sort": "newest"},
    ],
)
def test_a_cursor_of_another_query_is_refused(other: dict[str, Any]) -> None:
    cursor = encode_cursor(SearchRequest(q="shoe"), [1.5, "SKU-1"])
    fields: dict[str, Any] = {"q": "shoe", **other}
    with pytest.raises(ValueError, match="cursor does not belong to this query"):
        build_query(SearchRequest(**fields, cursor=cursor))


def _raw_cursor(payload: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


def test_a_garbled_cursor_is_refused() -> None:
    req = SearchRequest(q="shoe")
    good = encode_cursor(req, [1.5, "SKU-1"])
    fingerprint = query_fingerprint(req)
    bad = [
        "not base64 at all!",
        good[:-3],
        good[: len(good) // 2] + "*" + good[len(good) // 2 + 1 :],
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
        _raw_cursor([1.5, "SKU-1"]),
        _raw_cursor({"v": 2, "h": fingerprint, "s": [1.5, "SKU-1"]}),
        _raw_cursor({"v": 1, "h": fingerprint, "s": [1.5]}),
        _raw_cursor({"v": 1, "h": fingerprint, "s": [1.5, 7]}),
        _raw_cursor({"v": 1, "h": fingerprint, "s": [{"x": 1}, "SKU-1"]}),
        _raw_cursor({"v": 1, "h": fingerprint, "s": [True, "SKU-1"]}),
        _raw_cursor({"v": 1, "h": fingerprint, "s": "SKU-1"}),
        _raw_cursor({"v": 1, "h": fingerprint, "s": [1.5, "SKU-1"], "x": 1}),
        base64.urlsafe_b64encode(b'{"v":1,"h":"%s","s":[NaN,"A"]}' % fingerprint.encode())
        .decode()
        .rstrip("="),
    ]
    for cursor in bad:
        with pytest.raises(ValueError, match="invalid cursor"):
            build_query(SearchRequest(q="shoe", cursor=cursor))


def test_cursor_values_must_fit_the_sort() -> None:
    newest = SearchRequest(sort="newest")
    fingerprint = query_fingerprint(newest)
    ok = _raw_cursor({"v": 1, "h": fingerprint, "s": [1735689600000, "SKU-1"]})
    assert decode_cursor(newest, ok) == [1735689600000, "SKU-1"]
    for first in (1.5, "Infinity", None):
        cursor = _raw_cursor({"v": 1, "h": fingerprint, "s": [first, "SKU-1"]})
        with pytest.raises(ValueError, match="does not fit sort"):
            decode_cursor(newest, cursor)


# --------------------------------------------------------------------------- highlight


def test_highlight_name_and_description_with_em_tags_and_the_words_as_typed() -> None:
    highlight = build_query(SearchRequest(q="red runing shoe"))["highlight"]
    assert (highlight["pre_tags"], highlight["post_tags"]) == (
        [HIGHLIGHT_PRE_TAG],
        [HIGHLIGHT_POST_TAG],
    )
    assert (HIGHLIGHT_PRE_TAG, HIGHLIGHT_POST_TAG) == ("<em>", "</em>")
    assert set(highlight["fields"]) == {"name", "description"}
    assert highlight["encoder"] == "html"
    # the highlighter gets a plain query: a fuzzy one is expanded anew for every hit
    assert highlight["highlight_query"] == {
        "bool": {
            "should": [
                {"match_phrase": {"name": {"query": "red runing shoe"}}},
                {"match": {"name": {"query": "red runing shoe"}}},
                {"match": {"description": {"query": "red runing shoe"}}},
            ]
        }
    }
    assert "highlight" not in build_query(SearchRequest(q="shoe", highlight=False))


def test_only_the_needed_source_is_fetched() -> None:
    includes = build_query(SearchRequest(currency="CHF"))["_source"]["includes"]
    assert "prices.CHF" in includes
    assert "description" not in includes


# --------------------------------------------------------------------------- parsing


def _response(hits: list[dict[str, Any]], total: int) -> dict[str, Any]:
    def terms(*pairs: tuple[str, int]) -> dict[str, Any]:
        return {
            "doc_count": 0,
            "buckets": {"buckets": [{"key": k, "doc_count": n} for k, n in pairs]},
        }

    return {
        "hits": {"total": {"value": total, "relation": "eq"}, "hits": hits},
        "aggregations": {
            "brands": terms(("Acme", 2)),
            "categories": terms(("Shoes", 2), ("Shoes/Running", 1)),
            "availability": terms(("in_stock", 2)),
            "price_ranges": {
                "doc_count": 2,
                "buckets": {
                    "buckets": [{"key": "25-50", "from": 25.0, "to": 50.0, "doc_count": 2}]
                },
            },
        },
    }


def _es_hit(sku: str, sort: list[Any]) -> dict[str, Any]:
    return {
        "_id": sku,
        "_score": 2.5,
        "_source": {
            "sku": sku,
            "name": "Trail runner",
            "brand": "Acme",
            "category_path": ["Shoes", "Running"],
            "stock": 3,
            "in_stock": True,
            "prices": {"EUR": {"amount": 49.9, "amount_text": "49.90", "price_type": "sale"}},
        },
        "highlight": {"name": ["<em>Trail</em> runner"]},
        "sort": sort,
    }


def test_parse_a_page_with_more_after_it() -> None:
    req = SearchRequest(q="trail", size=2)
    result = parse_response(req, _response([_es_hit("A", [2.5, "A"]), _es_hit("B", [2.5, "B"])], 5))
    assert result.total == 5 and result.page == 1
    first = result.hits[0]
    assert (first.sku, first.score, first.stock, first.in_stock) == ("A", 2.5, 3, True)
    assert first.price is not None
    assert (first.price.amount, first.price.price_type, first.price.currency) == (
        "49.90",
        "sale",
        "EUR",
    )
    assert first.highlights == {"name": ["<em>Trail</em> runner"]}
    assert result.next_cursor is not None
    assert decode_cursor(req, result.next_cursor) == [2.5, "B"]
    assert result.facets is not None
    assert [(b.key, b.count) for b in result.facets.price_ranges] == [
        ("*-25", 0),
        ("25-50", 2),
        ("50-100", 0),
        ("100-200", 0),
        ("200-*", 0),
    ]
    assert [(b.key, b.count) for b in result.facets.categories] == [
        ("Shoes", 2),
        ("Shoes/Running", 1),
    ]


def test_parse_the_last_page() -> None:
    req = SearchRequest(q="trail", size=2, page=3)
    result = parse_response(req, _response([_es_hit("E", [1.0, "E"])], 5))
    assert result.next_cursor is None and result.page == 3


def test_parse_cursor_pages_use_the_extra_hit() -> None:
    req = SearchRequest(q="trail", size=2)
    cursor = encode_cursor(req, [3.0, "0"])
    following = req.model_copy(update={"cursor": cursor})
    three = [_es_hit(s, [2.0, s]) for s in "ABC"]
    result = parse_response(following, _response(three, 9))
    assert [h.sku for h in result.hits] == ["A", "B"]
    assert result.page is None
    assert result.next_cursor is not None
    assert decode_cursor(following, result.next_cursor) == [2.0, "B"]
    assert parse_response(following, _response(three[:2], 9)).next_cursor is None
