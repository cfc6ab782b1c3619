"""The search query API against the real Elasticsearch node.

One catalog of 60 products (4 of them discontinued) is built with the real decider
(commands -> events), projected with the real sink into a uniquely named alias,
and queried through :mod:`read_models.search.queries`. Expected answers come from
the plain-Python description of the catalog below (``CATALOG``), so every count
and order is checked exactly.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from producers.commands import (
    adjust_stock,
    change_price,
    discontinue_product,
    register_product,
    update_product_details,
)
from read_models.projection import PositionedEvent
from read_models.search.document import category_prefixes
from read_models.search.index import concrete_name, ensure_index
from read_models.search.models import Price, SearchRequest, SearchResult
from read_models.search.queries import SearchUnavailable, get_product, search, suggest
from read_models.search.query_body import PRICE_RANGES
from read_models.search.sink import SearchSink
from streams.catalog import Accepted, ProductState, decide, evolve_all

# --------------------------------------------------------------------------- the catalog


@dataclass(frozen=True)
class Product:
    sku: str
    name: str
    brand: str
    category_path: list[str]
    description: str
    prices: dict[str, tuple[str, str]]  # currency -> (amount, price_type)
    stock: int
    attributes: dict[str, str] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    discontinued: bool = False
    first_brand: str | None = None  # registered with this brand, then renamed

    def price(self, currency: str) -> Decimal | None:
        entry = self.prices.get(currency)
        return Decimal(entry[0]) if entry else None


BRANDS = ["Acme", "Zoom", "Stride", "Peak", "Nordwear"]
KINDS: list[tuple[str, list[str], list[str]]] = [
    ("Running Shoe", ["Shoes", "Running"], ["running"]),
    ("Trail Shoe", ["Shoes", "Trail"], ["trail"]),
    ("Rain Jacket", ["Apparel", "Jackets"], ["rain"]),
    ("Tech Shirt", ["Apparel", "Shirts"], []),
    ("Dome Tent", ["Outdoor", "Tents"], ["camping"]),
    ("Chef Knife", ["Kitchen", "Knives"], []),
]
MODELS = ["Falcon", "Orbit", "Summit", "Vector", "Comet", "Ridge", "Atlas", "Nimbus", "Pulse"]
EUR_AMOUNTS = [
    "19.99",
    "24.99",
    "25.00",
    "49.99",
    "50.00",
    "75.50",
    "99.99",
    "100.00",
    "149.00",
    "199.99",
    "200.00",
    "349.00",
]
COLOURS = ["red", "blue", "black"]


def _generated(i: int) -> Product:
    kind, path, tags = KINDS[i % len(KINDS)]
    brand = BRANDS[i % len(BRANDS)]
    prices: dict[str, tuple[str, str]] = {}
    if i % 9 != 4:  # some products have no EUR price
        prices["EUR"] = (EUR_AMOUNTS[i % len(EUR_AMOUNTS)], "sale" if i % 5 == 0 else "regular")
    if i % 2 == 0:
        prices["USD"] = (f"{10 + i * 7}.50", "regular")
    attributes = {"colour": COLOURS[i % 3]}
    if path[0] == "Shoes":
        attributes["size"] = str(38 + i % 5)
    return Product(
        sku=f"GEN-{i:02d}",
        name=f"{MODELS[i % len(MODELS)]} {kind}",
        brand=brand,
        category_path=path,
        description=f"A {kind.lower()} made by {brand} in model year {2000 + i}",
        prices=prices,
        stock=0 if i % 4 == 3 else i % 7 + 1,
        attributes=attributes,
        tags=tags,
        discontinued=i in (7, 20),
        first_brand="Acme" if i == 11 else None,
    )


HANDMADE = [
    Product(
        "TR-1",
        "Trail Runner",
        "Acme",
        ["Shoes", "Trail"],
        "Light trail running shoe for rocky paths",
        {"EUR": ("89.90", "regular"), "USD": ("99.00", "regular")},
        5,
        {"colour": "red", "size": "42"},
        ["trail"],
    ),
    Product(
        "TR-2",
        "Trail Runner Pro GTX",
        "Peak",
        ["Shoes", "Trail"],
        "Waterproof trail runner with a grippy sole",
        {"EUR": ("129.00", "regular")},
        2,
        {"colour": "blue", "size": "44"},
        ["trail"],
    ),
    Product(
        "TR-3",
        "Trainer Classic",
        "Zoom",
        ["Shoes", "Running"],
        "Classic trainer, <b>bold</b> & comfy",
        {"EUR": ("59.50", "sale")},
        0,
        {"colour": "black"},
        ["running"],
    ),
    Product(
        "TR-4",
        "Travel Backpack",
        "Nordwear",
        ["Outdoor", "Bags"],
        "A 40 litre pack for long journeys",
        {"USD": ("80.00", "regular")},
        9,
        {"colour": "blue"},
        [],
    ),
    Product(
        "DISC-1",
        "Trail Runner Legacy",
        "Acme",
        ["Shoes", "Trail"],
        "The old trail runner",
        {"EUR": ("10.00", "regular")},
        4,
        {"colour": "red"},
        ["trail"],
        discontinued=True,
    ),
    Product(
        "DISC-2",
        "Tracker Watch",
        "Zoom",
        ["Outdoor", "Watches"],
        "Tracks every step",
        {"EUR": ("300.00", "regular")},
        1,
        {"colour": "black"},
        [],
        discontinued=True,
    ),
]

CATALOG: list[Product] = [_generated(i) for i in range(54)] + HANDMADE
ACTIVE = [p for p in CATALOG if not p.discontinued]
BY_SKU = {p.sku: p for p in CATALOG}
#: Each product's events all happen at its own minute: later in CATALOG = newer.
BASE_TIME = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
POSITION = {p.sku: i for i, p in enumerate(CATALOG)}


def _events(product: Product, at: datetime) -> list[dict[str, Any]]:
    state = ProductState.empty(product.sku)
    events: list[dict[str, Any]] = []

    def run(command: dict[str, Any]) -> None:
        nonlocal state
        decision = decide(command, state)
        assert isinstance(decision, Accepted), decision
        events.extend(decision.events)
        state = evolve_all(state, decision.events)

    run(
        register_product(
            product.sku,
            product.name,
            description=product.description,
            brand=product.first_brand or product.brand,
            category_path=product.category_path,
            attributes=product.attributes,
            tags=product.tags,
            occurred_at=at,
        )
    )
    if product.first_brand is not None:
        run(update_product_details(product.sku, brand=product.brand, occurred_at=at))
    for currency, (amount, price_type) in product.prices.items():
        run(change_price(product.sku, amount, currency, price_type=price_type, occurred_at=at))
    if product.stock:
        run(adjust_stock(product.sku, product.stock, reason="count", occurred_at=at))
    if product.discontinued:
        run(discontinue_product(product.sku, reason="end of line", occurred_at=at))
    return events


@pytest.fixture(scope="module")
def alias(es: Elasticsearch) -> Iterator[str]:
    """A unique alias over the whole catalog; its index is deleted afterwards."""
    name = f"q-{uuid.uuid4().hex[:12]}"
    try:
        ensure_index(es, name)
        positioned = [
            PositionedEvent(event, 0, offset)
            for offset, event in enumerate(
                event
                for i, product in enumerate(CATALOG)
                for event in _events(product, BASE_TIME + timedelta(minutes=i))
            )
        ]
        report = SearchSink(es, name).apply(positioned)
        assert (report.applied, report.skipped, report.failed) == (len(positioned), 0, [])
        es.indices.refresh(index=name)
        yield name
    finally:
        # Wildcard deletes are refused: delete the concrete index by its exact name.
        es.options(ignore_status=404).indices.delete(index=concrete_name(name, 1))


@pytest.fixture
def run(es: Elasticsearch, alias: str) -> Callable[..., SearchResult]:
    def run_search(**fields: Any) -> SearchResult:
        return search(es, alias, SearchRequest(**fields))

    return run_search


# --------------------------------------------------------------------------- oracle


def skus(products: list[Product]) -> list[str]:
    return sorted(p.sku for p in products)


def all_skus(run: Callable[..., SearchResult], **fields: Any) -> list[str]:
    """Every hit of a search, following cursors."""
    found: list[str] = []
    cursor = None
    while True:
        result = run(size=100, cursor=cursor, **fields)
        found.extend(hit.sku for hit in result.hits)
        cursor = result.next_cursor
        if cursor is None:
            return found


def price_order(currency: str, descending: bool) -> list[str]:
    priced = [p for p in ACTIVE if p.price(currency) is not None]
    unpriced = [p for p in ACTIVE if p.price(currency) is None]
    sign = -1 if descending else 1
    priced.sort(key=lambda p: (sign * (p.price(currency) or 0), p.sku))
    return [p.sku for p in priced] + skus(unpriced)


def price_bucket_counts(products: list[Product], currency: str) -> dict[str, int]:
    counts = dict.fromkeys((key for key, _, _ in PRICE_RANGES), 0)
    for product in products:
        amount = product.price(currency)
        if amount is None:
            continue
        for key, low, high in PRICE_RANGES:
            if (low is None or amount >= low) and (high is None or amount < high):
                counts[key] += 1
    return counts


# --------------------------------------------------------------------------- tests


def test_the_catalog_is_as_designed() -> None:
    assert (len(CATALOG), len(ACTIVE)) == (60, 56)


def test_no_text_lists_every_active_product(run: Callable[..., SearchResult]) -> None:
    result = run(size=100)
    assert result.total == 56
    assert sorted(hit.sku for hit in result.hits) == skus(ACTIVE)
    assert result.next_cursor is None
    assert result.page == 1


def test_a_hit_carries_the_product_and_its_exact_price(run: Callable[..., SearchResult]) -> None:
    [hit] = run(q="Trail Runner", brand=["Acme"]).hits
    assert (hit.sku, hit.name, hit.brand) == ("TR-1", "Trail Runner", "Acme")
    assert hit.price == Price(currency="EUR", amount="89.90", price_type="regular")
    assert (hit.in_stock, hit.stock, hit.category_path) == (True, 5, ["Shoes", "Trail"])
    assert hit.score is not None and hit.score > 0

    [usd] = run(q="Trail Runner", brand=["Acme"], currency="USD").hits
    assert usd.price == Price(currency="USD", amount="99.00", price_type="regular")
    [sale] = run(q="Trainer Classic").hits
    assert sale.price == Price(currency="EUR", amount="59.50", price_type="sale")
    assert (sale.in_stock, sale.stock) == (False, 0)
    [no_eur] = run(q="Travel Backpack").hits
    assert no_eur.price is None


def test_the_exact_name_ranks_first(run: Callable[..., SearchResult]) -> None:
    for text in ("Trail Runner", "trail runner"):
        hits = run(q=text).hits
        assert [hit.sku for hit in hits[:2]] == ["TR-1", "TR-2"]
    assert run(q="Trainer Classic").hits[0].sku == "TR-3"


def test_typos_are_tolerated(run: Callable[..., SearchResult]) -> None:
    # the nine "... Running Shoe" products, and TR-1 ("trail running shoe" in its description)
    running_shoes = [p for p in ACTIVE if "running shoe" in f"{p.name} {p.description}".lower()]
    result = run(q="runnign shoes", size=100)
    assert sorted(hit.sku for hit in result.hits) == skus(running_shoes)
    assert result.total == len(running_shoes) == 10
    # name matches (boosted) rank above the description match
    assert result.hits[-1].sku == "TR-1"
    assert run(q="Trial Runer").hits[0].sku == "TR-1"


def test_text_is_never_parsed_as_query_syntax(run: Callable[..., SearchResult]) -> None:
    for text in ('name:"Trail" OR *', "brand:Acme AND status:discontinued", "(((", "\\", "/.*/"):
        result = run(q=text, size=100)
        assert {hit.sku for hit in result.hits} <= {p.sku for p in ACTIVE}
    # "status:discontinued" as text finds nothing: it is no field query
    assert run(q="status:discontinued").total == 0


def test_filters(run: Callable[..., SearchResult]) -> None:
    def expect(predicate: Callable[[Product], bool], **fields: Any) -> None:
        assert sorted(all_skus(run, **fields)) == skus([p for p in ACTIVE if predicate(p)]), fields

    expect(lambda p: p.brand == "Acme", brand=["Acme"])
    expect(lambda p: p.brand in ("Acme", "Peak"), brand=["Acme", "Peak"])
    expect(lambda p: p.category_path[0] == "Shoes", category="Shoes")
    expect(lambda p: p.category_path == ["Shoes", "Trail"], category="/Shoes / Trail/")
    expect(lambda p: False, category="Trail")  # a prefix of the path, not any level
    eur = Decimal("25.00"), Decimal("100.00")
    expect(
        lambda p: (price := p.price("EUR")) is not None and eur[0] <= price <= eur[1],
        min_price=eur[0],
        max_price=eur[1],
    )
    expect(
        lambda p: (price := p.price("USD")) is not None and price >= 200,
        currency="USD",
        min_price=200,
    )
    expect(lambda p: (price := p.price("EUR")) is not None and price <= 25, max_price="25")
    expect(lambda p: p.stock > 0, in_stock=True)
    expect(lambda p: p.stock == 0, in_stock=False)
    expect(lambda p: p.attributes.get("colour") == "red", attributes={"colour": "red"})
    expect(
        lambda p: p.attributes.get("colour") == "red" and p.attributes.get("size") == "42",
        attributes={"colour": "red", "size": "42"},
    )
    expect(
        lambda p: (
            p.brand == "Peak"
            and p.category_path[0] == "Shoes"
            and p.stock > 0
            and (p.price("EUR") or 0) >= 50
        ),
        brand=["Peak"],
        category="Shoes",
        in_stock=True,
        min_price=50,
    )
    # renamed by ProductDetailsUpdated: only the new brand matches
    assert "GEN-11" in all_skus(run, brand=["Zoom"])
    assert "GEN-11" not in all_skus(run, brand=["Acme"])
    assert run(brand=["Nobody"]).total == 0
    assert run(currency="JPY", min_price=1).total == 0  # no product has a JPY price


def test_facet_counts(run: Callable[..., SearchResult]) -> None:
    facets = run(size=1, facet_size=50).facets
    assert facets is not None
    brands = {b.key: b.count for b in facets.brands}
    assert brands == Counter(p.brand for p in ACTIVE)
    assert brands == {"Acme": 11, "Zoom": 12, "Stride": 10, "Peak": 12, "Nordwear": 11}
    assert {b.key: b.count for b in facets.categories} == Counter(
        prefix for p in ACTIVE for prefix in category_prefixes(p.category_path)
    )
    assert {b.key: b.count for b in facets.price_ranges} == price_bucket_counts(ACTIVE, "EUR")
    assert [b.count for b in facets.price_ranges] == [8, 10, 14, 10, 7]
    assert [(b.key, b.low, b.high) for b in facets.price_ranges][:2] == [
        ("*-25", None, Decimal(25)),
        ("25-50", Decimal(25), Decimal(50)),
    ]
    availability = {b.key: b.count for b in facets.availability}
    assert availability == {
        "in_stock": sum(p.stock > 0 for p in ACTIVE),
        "out_of_stock": sum(p.stock == 0 for p in ACTIVE),
    }
    # buckets come most frequent first, and facet_size bounds them
    limited = run(size=1, facet_size=2).facets
    assert limited is not None
    assert [(b.key, b.count) for b in limited.brands] == [("Peak", 12), ("Zoom", 12)]
    assert len(limited.categories) == 2


def test_a_facet_ignores_its_own_filter_and_obeys_the_others(
    run: Callable[..., SearchResult],
) -> None:
    result = run(brand=["Acme"], size=100, facet_size=50)
    acme = [p for p in ACTIVE if p.brand == "Acme"]
    assert result.total == len(acme) == 11
    assert result.facets is not None
    # the brand facet still lists the other brands, with the counts they would give
    assert {b.key: b.count for b in result.facets.brands} == Counter(p.brand for p in ACTIVE)
    # the other facets count the Acme products only
    assert {b.key: b.count for b in result.facets.categories} == Counter(
        prefix for p in acme for prefix in category_prefixes(p.category_path)
    )
    assert {b.key: b.count for b in result.facets.price_ranges} == price_bucket_counts(acme, "EUR")

    # two facet filters: each facet applies the other one
    result = run(brand=["Acme"], in_stock=True, category="Shoes", facet_size=50)
    in_stock_shoes = [p for p in ACTIVE if p.stock > 0 and p.category_path[0] == "Shoes"]
    acme_shoes = [p for p in acme if p.category_path[0] == "Shoes"]
    acme_in_stock = [p for p in acme if p.stock > 0]
    assert result.facets is not None
    assert result.total == len([p for p in acme_shoes if p.stock > 0])
    assert {b.key: b.count for b in result.facets.brands} == Counter(
        p.brand for p in in_stock_shoes
    )
    assert {b.key: b.count for b in result.facets.availability} == Counter(
        "in_stock" if p.stock > 0 else "out_of_stock" for p in acme_shoes
    )
    assert {b.key: b.count for b in result.facets.categories} == Counter(
        prefix for p in acme_in_stock for prefix in category_prefixes(p.category_path)
    )
    # prices in the requested currency, under every other filter
    usd = run(currency="USD", in_stock=True).facets
    assert usd is not None
    assert {b.key: b.count for b in usd.price_ranges} == price_bucket_counts(
        [p for p in ACTIVE if p.stock > 0], "USD"
    )
    # the text query narrows every facet
    text = run(q="tent").facets
    assert text is not None
    assert sum(b.count for b in text.brands) == sum("Tent" in p.name for p in ACTIVE)


def test_no_facets_when_not_asked(run: Callable[..., SearchResult]) -> None:
    result = run(brand=["Acme"], facets=False)
    assert result.facets is None
    assert result.total == 11


def test_sort_orders(run: Callable[..., SearchResult]) -> None:
    assert all_skus(run, sort="price_asc") == price_order("EUR", descending=False)
    assert all_skus(run, sort="price_desc") == price_order("EUR", descending=True)
    assert all_skus(run, sort="price_asc", currency="USD") == price_order("USD", False)
    newest = sorted(ACTIVE, key=lambda p: (-POSITION[p.sku], p.sku))
    assert all_skus(run, sort="newest") == [p.sku for p in newest]
    # relevance without text: every score is equal, so the SKU decides
    assert all_skus(run) == skus(ACTIVE)
    # relevance with text: scores never rise, equal scores in SKU order
    hits = run(q="shoe", size=100).hits
    assert len(hits) > 10
    keys = [(-(hit.score or 0), hit.sku) for hit in hits]
    assert keys == sorted(keys)
    assert run(sort="price_asc").hits[0].score is None


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"sort": "price_asc"},
        {"sort": "price_desc", "currency": "USD"},
        {"sort": "newest"},
        {"q": "shoe"},
        {"q": "shoe", "sort": "price_desc", "in_stock": True},
    ],
    ids=["relevance", "price_asc", "price_desc_usd", "newest", "text", "text_filtered"],
)
def test_cursor_pagination_visits_every_product_once(
    run: Callable[..., SearchResult], fields: dict[str, Any]
) -> None:
    everything = run(size=100, **fields)
    expected = [hit.sku for hit in everything.hits]
    assert everything.total == len(expected) > 7

    seen: list[str] = []
    first = run(size=7, **fields)
    assert first.page == 1
    seen.extend(hit.sku for hit in first.hits)
    cursor = first.next_cursor
    pages = 1
    while cursor is not None:
        page = run(size=7, cursor=cursor, **fields)
        assert page.page is None
        assert page.total == everything.total
        assert 1 <= len(page.hits) <= 7
        seen.extend(hit.sku for hit in page.hits)
        cursor = page.next_cursor
        pages += 1
    assert seen == expected
    assert len(set(seen)) == len(seen)
    assert pages == -(-len(expected) // 7)


def test_shallow_pages_and_cursors_agree(run: Callable[..., SearchResult]) -> None:
    order = price_order("EUR", descending=False)
    page1 = run(sort="price_asc", size=7)
    page2 = run(sort="price_asc", size=7, page=2)
    assert [h.sku for h in page1.hits] == order[:7]
    assert [h.sku for h in page2.hits] == order[7:14]
    assert page2.page == 2
    # the next_cursor of any page continues right after it, with any page size
    assert page1.next_cursor is not None
    after = run(sort="price_asc", size=10, cursor=page1.next_cursor)
    assert [h.sku for h in after.hits] == order[7:17]
    last = run(sort="price_asc", size=7, page=8)
    assert [h.sku for h in last.hits] == order[49:56]
    assert last.next_cursor is None
    assert run(sort="price_asc", size=7, page=9).hits == []


def test_a_cursor_of_another_query_is_refused(run: Callable[..., SearchResult]) -> None:
    cursor = run(size=7, brand=["Acme"]).next_cursor
    assert cursor is not None
    for other in ({"brand": ["Peak"]}, {"brand": ["Acme"], "sort": "newest"}, {"q": "shoe"}):
        with pytest.raises(ValueError, match="cursor does not belong to this query"):
            run(size=7, cursor=cursor, **other)
    with pytest.raises(ValueError, match="invalid cursor"):
        run(size=7, brand=["Acme"], cursor=cursor[:-6] + "!!!!!!")


def test_highlights(run: Callable[..., SearchResult]) -> None:
    [hit] = run(q="rocky").hits
    assert hit.sku == "TR-1"
    assert hit.highlights == {"description": ["Light trail running shoe for <em>rocky</em> paths"]}
    top = run(q="trail runner").hits[0]
    assert top.highlights["name"] == ["<em>Trail</em> <em>Runner</em>"]
    # the product's own text is HTML-escaped; only the match markers are tags
    [comfy] = run(q="comfy").hits
    assert comfy.highlights["description"] == [
        "Classic trainer, &lt;b&gt;bold&lt;&#x2F;b&gt; &amp; <em>comfy</em>"
    ]
    assert run(q="rocky", highlight=False).hits[0].highlights == {}
    assert run(q="rocky").hits[0].highlights  # typo-free text highlighted
    assert "<em>" in run(q="rokcy").hits[0].highlights["description"][0]  # and a typo


def test_suggest(es: Elasticsearch, alias: str) -> None:
    names = suggest(es, alias, "tra")
    assert sorted(names) == [
        "Trail Runner",
        "Trail Runner Pro GTX",
        "Trainer Classic",
        "Travel Backpack",
    ]
    assert all(name.lower().startswith("tra") for name in names)
    assert suggest(es, alias, "TRAIL R") == ["Trail Runner", "Trail Runner Pro GTX"]
    assert suggest(es, alias, "tra", size=2) == names[:2]
    assert suggest(es, alias, "Nord") == ["Nordwear"]  # brands are suggested too
    assert suggest(es, alias, "") == []
    assert suggest(es, alias, "zzz") == []
    with pytest.raises(ValueError, match="at most 50"):
        suggest(es, alias, "x" * 51)


def test_get_product(es: Elasticsearch, alias: str) -> None:
    doc = get_product(es, alias, "TR-1")
    assert doc is not None
    assert (doc["sku"], doc["status"], doc["name"]) == ("TR-1", "active", "Trail Runner")
    assert doc["prices"]["EUR"]["amount_text"] == "89.90"
    discontinued = get_product(es, alias, "DISC-1")
    assert discontinued is not None
    assert discontinued["status"] == "discontinued"
    assert get_product(es, alias, "NO-SUCH-SKU") is None


def test_discontinued_products_never_appear(
    es: Elasticsearch, alias: str, run: Callable[..., SearchResult]
) -> None:
    gone = {p.sku for p in CATALOG if p.discontinued}
    assert gone == {"GEN-07", "GEN-20", "DISC-1", "DISC-2"}
    assert not gone & set(all_skus(run))
    assert not gone & {h.sku for h in run(q="Trail Runner Legacy", size=100).hits}
    assert not gone & {h.sku for h in run(q="Tracker Watch", size=100).hits}
    assert run(q="Tracker Watch").total == 0
    facets = run(brand=["Zoom"], facet_size=50).facets
    assert facets is not None
    assert "Outdoor/Watches" not in {b.key for b in facets.categories}
    assert "Tracker Watch" not in suggest(es, alias, "tra")
    assert "Trail Runner Legacy" not in suggest(es, alias, "trail runner", size=50)


def test_an_unreachable_cluster_is_unavailable() -> None:
    down = Elasticsearch("http://127.0.0.1:1", max_retries=0, request_timeout=2)
    try:
        with pytest.raises(SearchUnavailable):
            search(down, "products", SearchRequest(q="shoe"))
        with pytest.raises(SearchUnavailable):
            suggest(down, "products", "tra")
        with pytest.raises(SearchUnavailable):
            get_product(down, "products", "TR-1")
    finally:
        down.close()


def test_a_missing_alias_is_unavailable(es: Elasticsearch) -> None:
    missing = f"q-missing-{uuid.uuid4().hex[:12]}"
    with pytest.raises(SearchUnavailable):
        search(es, missing, SearchRequest())
    with pytest.raises(SearchUnavailable):
        get_product(es, missing, "TR-1")
    assert not es.indices.exists(index=missing)


def test_an_empty_price_range_finds_nothing(run: Callable[..., SearchResult]) -> None:
    assert run(min_price=10, max_price=5).total == 0


def test_bad_input_is_a_value_error(run: Callable[..., SearchResult]) -> None:
    with pytest.raises(ValueError, match="q"):
        run(q="x" * 201)
    with pytest.raises(ValueError, match="currency"):
        run(currency="eur")
