"""The web console's pure parts: the catalog page's URL and search, its facets and pages,
the price chart's series, the Omnibus notes, a replay's progress, and the operations
panel's push."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest

from ops.console import catalog_view as cv
from ops.console import operations, price_chart
from ops.console.operations import by_partition
from ops.dlq import Letter
from ops.read_model_status import progress_of
from ops.status import RoleStatus
from read_models.pricing.models import CurrentPrice, OmnibusPrice, PriceInterval
from read_models.search.models import FacetBucket, Facets, PriceRangeBucket
from read_models.search.queries import PRICE_RANGES

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def facets(**overrides: object) -> Facets:
    base: dict[str, object] = {
        "brands": [FacetBucket(key="Acme", count=3), FacetBucket(key="Zed", count=0)],
        "categories": [
            FacetBucket(key="Shoes/Running", count=2),
            FacetBucket(key="Shoes", count=3),
        ],
        "price_ranges": [
            PriceRangeBucket(key=k, low=lo, high=hi, count=i)
            for i, (k, lo, hi) in enumerate(PRICE_RANGES)
        ],
        "availability": [
            FacetBucket(key="in_stock", count=2),
            FacetBucket(key="out_of_stock", count=1),
        ],
    }
    base.update(overrides)
    return Facets.model_validate(base)


# --- the catalog page's query ------------------------------------------------------
def test_a_price_range_becomes_inclusive_bounds_one_step_below_the_next_range() -> None:
    assert cv.CatalogQuery(price="25-50").price_bounds() == (Decimal(25), Decimal("49.9999"))
    assert cv.CatalogQuery(price="*-25").price_bounds() == (None, Decimal("24.9999"))
    assert cv.CatalogQuery(price="200-*").price_bounds() == (Decimal(200), None)
    assert cv.CatalogQuery(price="").price_bounds() == (None, None)


def test_the_page_asks_for_the_search_the_json_api_would_run() -> None:
    query = cv.CatalogQuery(
        q="red runing shoe",
        brand=("Acme",),
        category="Shoes",
        price="50-100",
        in_stock=True,
        currency="USD",
        sort="price_asc",
        page=3,
    )
    req = query.request()
    assert req.q == "red runing shoe" and req.brand == ["Acme"] and req.category == "Shoes"
    assert (req.min_price, req.max_price) == (Decimal(50), Decimal("99.9999"))
    assert req.in_stock is True and req.currency == "USD" and req.sort == "price_asc"
    assert (req.page, req.size) == (3, cv.PAGE_SIZE)
    # "in stock only" unticked means no filter, not "out of stock only"
    assert cv.CatalogQuery().request().in_stock is None
    assert cv.CatalogQuery(q="").request().q is None


def test_urls_hold_only_what_differs_from_the_defaults() -> None:
    assert cv.CatalogQuery().url() == "/"
    query = cv.CatalogQuery(q="shoe & sock", brand=("A", "B"), page=2)
    params = parse_qs(urlsplit(query.url(page=5)).query)
    assert params == {"q": ["shoe & sock"], "brand": ["A", "B"], "page": ["5"]}
    assert "page" not in query.url(page=1)


# --- facets --------------------------------------------------------------------------
def test_facets_become_form_controls_with_counts_and_choices() -> None:
    query = cv.CatalogQuery(brand=("Acme",), category="Shoes/Running", price="25-50", in_stock=True)
    groups = {g.name: g for g in cv.facet_groups(query, facets())}
    assert [(o.value, o.selected) for o in groups["brand"].options] == [("Acme", True)]  # no 0s
    categories = groups["category"].options
    assert categories[0].value == "" and not categories[0].selected  # "All categories"
    assert [(o.value, o.label, o.depth) for o in categories[1:]] == [
        ("Shoes", "Shoes", 0),
        ("Shoes/Running", "Running", 1),
    ]
    assert [o.selected for o in categories[1:]] == [False, True]
    prices = groups["price"].options
    assert [o.label for o in prices][:3] == ["Any price", "under 25 EUR", "25 to 50 EUR"]
    assert prices[-1].label == "200 EUR and more" and prices[2].selected
    assert groups["in_stock"].options[0].count == 2 and groups["in_stock"].options[0].selected
    assert groups["brand"].kind == "checkbox" and groups["price"].kind == "radio"


def test_a_chosen_filter_missing_from_the_buckets_can_still_be_unchosen() -> None:
    query = cv.CatalogQuery(brand=("Rare",), category="Garden")
    groups = {g.name: g for g in cv.facet_groups(query, facets())}
    assert ("Rare", True) in [(o.value, o.selected) for o in groups["brand"].options]
    assert ("Garden", True) in [(o.value, o.selected) for o in groups["category"].options]
    assert cv.facet_groups(query, None) == []


# --- pages -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("total", "last"), [(0, 1), (1, 1), (20, 1), (21, 2), (10_000, 100), (10**6, 100)]
)
def test_the_last_page_stays_inside_the_apis_bounds(total: int, last: int) -> None:
    assert cv.last_page(total) == last


def test_page_links_show_the_ends_and_the_neighbourhood() -> None:
    links = cv.page_links(cv.CatalogQuery(q="x", page=10), total=1000)
    assert [link.number for link in links] == [1, 7, 8, 9, 10, 11, 12, 13, 50]
    assert [link.number for link in links if link.current] == [10]
    assert links[0].url == "/?q=x" and links[-1].url == "/?q=x&page=50"
    assert [link.number for link in cv.page_links(cv.CatalogQuery(), total=5)] == [1]


# --- the price chart --------------------------------------------------------------------
def interval(
    minutes: int,
    amount: str,
    currency: str = "EUR",
    *,
    sale: bool = False,
    until: int | None = None,
    version: int = 1,
) -> PriceInterval:
    return PriceInterval(
        sku="S-1",
        currency=currency,
        amount=Decimal(amount),
        price_type="sale" if sale else "regular",
        valid_from=T0 + timedelta(minutes=minutes),
        valid_to=None if until is None else T0 + timedelta(minutes=until),
        version=version,
    )


def test_one_point_per_price_in_force_per_currency_and_a_step_to_now() -> None:
    now = T0 + timedelta(days=2)
    history = [
        interval(0, "10.00", until=60, version=2),
        interval(0, "12.5", "USD", version=3),
        interval(60, "8.00", sale=True, until=60, version=4),  # zero-length: never in force
        interval(60, "7.50", sale=True, until=120, version=5),
        interval(120, "10.00", version=6),
    ]
    series = price_chart.price_series(history, now)
    assert [s["currency"] for s in series] == ["EUR", "USD"]
    eur, usd = series
    assert eur["points"] == 3 and usd["points"] == 1
    assert [(p["y"], p["sale"]) for p in eur["data"][:-1]] == [
        ("10", False),
        ("7.5", True),
        ("10", False),
    ]
    assert eur["data"][-1] == {
        "x": int(now.timestamp() * 1000),
        "y": "10",
        "sale": False,
        "end": True,
    }
    assert all(isinstance(p["y"], str) for s in series for p in s["data"])  # never a float


def test_a_closed_last_price_steps_to_where_it_ended() -> None:
    ended = T0 + timedelta(minutes=30)
    (eur,) = price_chart.price_series([interval(0, "5", until=30)], T0 + timedelta(days=9))
    assert eur["data"][-1]["x"] == int(ended.timestamp() * 1000) and eur["data"][-1]["end"]


def test_the_series_json_holds_no_markup() -> None:
    text = price_chart.series_json([{"currency": "</script><b>&"}])
    assert "</script>" not in text and "<" not in text and "&" not in text
    assert json.loads(text) == [{"currency": "</script><b>&"}]


def test_a_sale_price_carries_its_omnibus_reference_and_a_regular_one_none() -> None:
    current = {
        "EUR": CurrentPrice(
            currency="EUR", amount=Decimal("7.5"), price_type="sale", valid_from=T0
        ),
        "USD": CurrentPrice(
            currency="USD", amount=Decimal("9"), price_type="regular", valid_from=T0
        ),
        "GBP": CurrentPrice(currency="GBP", amount=Decimal("6"), price_type="sale", valid_from=T0),
    }
    reference = OmnibusPrice(
        sku="S-1",
        currency="EUR",
        reference_at=T0,
        window_start=T0 - timedelta(days=30),
        amount=Decimal("7.5"),
        price_type="sale",
        lowest_30_days=Decimal("9.9000"),
        is_reduction=True,
    )
    no_earlier = reference.model_copy(update={"currency": "GBP", "lowest_30_days": None})
    rows = price_chart.price_rows(current, {"EUR": reference, "GBP": no_earlier})
    assert [(r.currency, r.amount, r.reduced, r.lowest_30_days) for r in rows] == [
        ("EUR", "7.5", True, "9.9"),
        ("GBP", "6", True, None),
        ("USD", "9", False, None),
    ]


@pytest.mark.parametrize(
    ("amount", "shown"),
    [("12.5", "12.50"), ("7", "7.00"), ("9.995", "9.995"), (Decimal("1E+2"), "100.00")],
)
def test_amounts_show_two_decimals_and_are_never_rounded(amount: str | Decimal, shown: str) -> None:
    assert price_chart.display_amount(amount) == shown


# --- a replay's progress ------------------------------------------------------------------
def test_replay_progress_counts_applied_events_from_each_partitions_start() -> None:
    ends = {0: (0, 100), 1: (50, 150), 2: (0, 0)}
    progress = progress_of({0: 49, 1: 149}, ends)
    assert (progress.done, progress.total) == (150, 200) and progress.percent == 75.0
    assert progress_of({}, ends).done == 0
    assert progress_of({0: 10_000}, {0: (0, 10)}).done == 10  # never beyond the end
    assert progress_of({}, {}).percent == 100.0


def test_a_facet_controls_id_depends_on_its_choice_alone() -> None:
    assert cv.control_id("brand", "Acme") == cv.control_id("brand", "Acme")
    assert cv.control_id("brand", "Acme") != cv.control_id("brand", "Zed")
    assert cv.control_id("brand", "A b/é").replace("-", "").isalnum()


def test_dead_letters_are_counted_by_the_partition_they_came_from() -> None:
    letters = [
        Letter(0, {"partition": 1}),
        Letter(1, {"partition": 1}),
        Letter(2, {"partition": 4}),
        Letter(3, {"reason": "a letter without its source partition"}),
    ]
    assert by_partition(letters) == {1: 2, 4: 1}


# --- the operations panel's push --------------------------------------------------------
def test_a_pushed_panel_is_one_event_with_a_data_line_per_line() -> None:
    sent = operations.message("operations", "<p>a</p>\n<p>b</p>\r\n\r<p>c\u2028d</p>")
    assert sent.decode() == (
        "event: operations\ndata: <p>a</p>\ndata: <p>b</p>\ndata: \ndata: <p>c\u2028d</p>\n\n"
    )


def test_the_panel_is_pushed_at_once_then_each_interval_until_the_client_goes() -> None:
    asked: list[int] = []
    gone: list[bool] = []

    def latest() -> operations.Snapshot | None:
        asked.append(1)
        return None if len(asked) == 1 else operations.Snapshot(T0)

    async def is_disconnected() -> bool:
        return len(gone) > 0

    async def run() -> list[bytes]:
        sent = []
        async for event in operations.pushed(
            latest, lambda s: "wait" if s is None else "panel", is_disconnected, every_s=0.01
        ):
            sent.append(event)
            if len(sent) == 3:
                gone.append(True)
        return sent

    sent = asyncio.run(run())
    assert (
        sent == [b"event: operations\ndata: wait\n\n"] + [b"event: operations\ndata: panel\n\n"] * 2
    )
    assert len(asked) == 3  # no sample asked for once the client is gone


def test_the_operations_history_keeps_ten_minutes_per_role_oldest_first() -> None:
    history: dict[str, deque[operations.Point]] = {}
    role = RoleStatus("search-projection", "g", "t", 1, [], 0)
    shown = None
    for minute in range(15):
        taken = operations.Snapshot(T0 + timedelta(minutes=minute), roles=[role])
        shown = operations.remember(history, taken)
    assert shown is not None
    points = shown.history["search-projection"]
    assert [p.at for p in points] == sorted(p.at for p in points)
    assert len(points) == 11  # minutes 4 to 14: ten minutes back from the last
    assert points[-1].at - points[0].at == operations.HISTORY_S


def test_a_sparkline_spans_its_box_and_scales_to_the_largest_value() -> None:
    points = operations.sparkline([0.0, 5.0, 10.0], width=100, height=22)
    assert points == "0.0,21.0 50.0,11.0 100.0,1.0"
    assert operations.sparkline([0.0, 0.0]) == "0.0,35.0 240.0,35.0"
    assert operations.sparkline([]) == ""
