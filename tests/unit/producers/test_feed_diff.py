"""A feed row against the listed product: only the commands for what changed (pure)."""

from __future__ import annotations

import re
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from producers.feeds.diff import Change, changes, command_id_of, feed_schedule_id
from producers.feeds.merchant import FeedProduct, normalize
from producers.feeds.read import FeedRow, RowError
from producers.feeds.view import Listed, ListedSale
from schemas.codec import validate_command
from schemas.registry import load_document

NOW = datetime(2027, 6, 1, 12, 0, tzinfo=UTC)
COUNTED_AT = "2027-06-01T11:00:00.000000Z"
SALE = {
    "sale_price": "69 EUR",
    "sale_starts": "2027-07-01T00:00Z",
    "sale_ends": "2027-07-08T00:00Z",
}
SCHEDULE_ID = re.compile(
    load_document("common/definitions.json")["definitions"]["schedule_id"]["pattern"]
)

#: A row stating every field, and the product the read models list for it.
FULL = {
    "description": "Light",
    "brand": "Acme",
    "category_path": "Shoes/Running",
    "color": "red",
    "tags": "trail,wet",
    "price": "89.90 EUR",
    "stock": "12",
}
LISTED = Listed(
    sku="SKU-1",
    version=4,
    name="Shoe",
    description="Light",
    brand="Acme",
    category_path=("Shoes", "Running"),
    attributes={"color": "red"},
    tags=("trail", "wet"),
    stock=12,
    regular={"EUR": "89.9"},
)


def row(sku: str = "SKU-1", **fields: str) -> FeedProduct:
    result = normalize(FeedRow(7, {"sku": sku, "name": "Shoe", **fields}))
    assert isinstance(result, FeedProduct), result
    return result


def diff(
    product: FeedProduct,
    listed: Listed | None,
    *,
    now: datetime = NOW,
    counted_at: str = COUNTED_AT,
    correlation_id: str | None = None,
) -> list[Change]:
    result = changes(product, listed, counted_at=counted_at, now=now, correlation_id=correlation_id)
    assert not isinstance(result, RowError), result
    for change in result:
        validate_command(change.command)
        assert change.line == product.line
        assert change.command["sku"] == product.sku
    return result


def kinds(found: list[Change]) -> list[str]:
    return [change.kind for change in found]


def data(found: list[Change]) -> list[dict[str, Any]]:
    return [change.command["data"] for change in found]


def with_sales(**sales: str) -> Listed:
    return replace(
        LISTED, feed_sales={sid: ListedSale("EUR", status) for sid, status in sales.items()}
    )


def test_an_unknown_sku_is_registered_priced_stocked_and_put_on_sale_in_that_order() -> None:
    product = row(**FULL, **SALE)
    found = diff(product, None)
    assert [c.command["type"] for c in found] == [
        "RegisterProduct",
        "ChangePrice",
        "SetStock",
        "SchedulePriceChange",
    ]
    assert kinds(found) == ["registered", "price", "stock", "sale"]
    assert product.sale is not None
    assert data(found) == [
        {
            "name": "Shoe",
            "description": "Light",
            "brand": "Acme",
            "category_path": ["Shoes", "Running"],
            "attributes": {"color": "red"},
            "tags": ["trail", "wet"],
        },
        {"amount": "89.9", "currency": "EUR", "price_type": "regular"},
        {"quantity": 12, "counted_at": COUNTED_AT},
        {
            "schedule_id": feed_schedule_id(product.sale),
            "currency": "EUR",
            "amount": "69",
            "price_type": "sale",
            "starts_at": "2027-07-01T00:00:00.000000Z",
            "ends_at": "2027-07-08T00:00:00.000000Z",
        },
    ]


def test_an_unknown_sku_with_a_name_only_is_registered_with_the_name_only() -> None:
    found = diff(row(), None)
    assert kinds(found) == ["registered"]
    assert data(found) == [{"name": "Shoe"}]


def test_a_listed_product_equal_to_the_row_is_unchanged() -> None:
    assert diff(row(**FULL), LISTED) == []


def test_blank_cells_never_clear_a_listed_value() -> None:
    blank = dict.fromkeys(("description", "brand", "category_path", "color", "tags"), "")
    assert diff(row(**blank), LISTED) == []


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"name": "Boot"}, {"name": "Boot"}),
        ({"description": "Lighter"}, {"description": "Lighter"}),
        ({"brand": "Other"}, {"brand": "Other"}),
        ({"category_path": "Shoes > Trail"}, {"category_path": ["Shoes", "Trail"]}),
        ({"color": "blue"}, {"attributes": {"color": "blue"}}),
        ({"color": "red", "size": "42"}, {"attributes": {"color": "red", "size": "42"}}),
        ({"tags": "trail"}, {"tags": ["trail"]}),
        ({"tags": "wet,trail"}, {"tags": ["wet", "trail"]}),
        ({"brand": "Other", "tags": "road"}, {"brand": "Other", "tags": ["road"]}),
    ],
)
def test_only_the_differing_details_are_updated(
    fields: dict[str, str], expected: dict[str, Any]
) -> None:
    found = diff(row(**{**FULL, **fields}), LISTED)
    assert kinds(found) == ["details"]
    assert found[0].command["type"] == "UpdateProductDetails"
    assert data(found) == [expected]


@pytest.mark.parametrize("listed", ["29.9", "29.90", "29.9000"])
@pytest.mark.parametrize("written", ["29.9 EUR", "29.90 EUR"])
def test_an_equal_amount_however_written_is_unchanged(listed: str, written: str) -> None:
    product = row(**{**FULL, "price": written})
    assert diff(product, replace(LISTED, regular={"EUR": listed})) == []


def test_a_different_price_is_changed_as_the_regular_one() -> None:
    found = diff(row(**{**FULL, "price": "79.90 EUR"}), LISTED)
    assert kinds(found) == ["price"]
    assert data(found) == [{"amount": "79.9", "currency": "EUR", "price_type": "regular"}]


def test_a_price_in_a_currency_without_a_regular_amount_is_set() -> None:
    found = diff(row(**{**FULL, "price": "99 USD"}), LISTED)
    assert data(found) == [{"amount": "99", "currency": "USD", "price_type": "regular"}]


def test_a_running_sale_does_not_make_the_regular_price_differ() -> None:
    product = row(**FULL, **SALE)
    assert product.sale is not None
    # Customers pay 69 while the sale runs; the listed regular amount is still 89.90.
    listed = replace(
        with_sales(**{feed_schedule_id(product.sale): "running"}), regular={"EUR": "89.90"}
    )
    assert diff(product, listed) == []


def test_an_equal_stock_is_unchanged_and_another_is_set_with_when_it_was_counted() -> None:
    assert diff(row(**{**FULL, "stock": "12"}), LISTED) == []
    found = diff(row(**{**FULL, "stock": "0"}), LISTED)
    assert [c.command["type"] for c in found] == ["SetStock"]
    assert data(found) == [{"quantity": 0, "counted_at": COUNTED_AT}]


def test_a_discontinued_product_refuses_the_row() -> None:
    error = changes(row(**FULL), replace(LISTED, discontinued=True), counted_at=COUNTED_AT, now=NOW)
    assert isinstance(error, RowError)
    assert (error.line, error.field, error.rule) == (7, "sku", "discontinued")
    assert error.message.startswith("line 7: ")


def test_a_feed_sale_id_is_stable_and_names_the_currency_window_and_amount() -> None:
    sale = row(**FULL, **SALE).sale
    assert sale is not None
    schedule_id = feed_schedule_id(sale)
    assert re.fullmatch(r"feed-EUR-[0-9a-f]{16}", schedule_id)
    assert SCHEDULE_ID.fullmatch(schedule_id)
    again = row("SKU-2", price="10 EUR", **SALE).sale
    assert again is not None and feed_schedule_id(again) == schedule_id
    assert feed_schedule_id(sale._replace(amount="70")) != schedule_id
    assert feed_schedule_id(sale._replace(ends_at=sale.ends_at + timedelta(days=1))) != schedule_id
    assert (
        feed_schedule_id(sale._replace(starts_at=sale.starts_at - timedelta(days=1))) != schedule_id
    )


def test_a_new_sale_is_planned_with_its_feed_id() -> None:
    product = row(**FULL, **SALE)
    assert product.sale is not None
    found = diff(product, LISTED)
    assert kinds(found) == ["sale"]
    assert found[0].command["data"]["schedule_id"] == feed_schedule_id(product.sale)
    assert found[0].command["data"]["price_type"] == "sale"


@pytest.mark.parametrize("status", ["planned", "running", "done", "cancelled", "missed"])
def test_a_sale_already_listed_is_not_sent_again_whatever_its_status(status: str) -> None:
    product = row(**FULL, **SALE)
    assert product.sale is not None
    assert diff(product, with_sales(**{feed_schedule_id(product.sale): status})) == []


@pytest.mark.parametrize("status", ["planned", "running", "done", "cancelled", "missed"])
def test_a_listed_sale_is_not_sent_again_beside_other_changes(status: str) -> None:
    product = row(**{**FULL, "price": "99 EUR"}, **SALE)
    assert product.sale is not None
    found = diff(product, with_sales(**{feed_schedule_id(product.sale): status}))
    assert kinds(found) == ["price"]


@pytest.mark.parametrize("status", ["planned", "running"])
def test_a_live_feed_sale_with_another_id_is_cancelled_before_the_new_one(status: str) -> None:
    product = row(**FULL, **SALE)
    assert product.sale is not None
    found = diff(product, with_sales(**{"feed-EUR-0000000000000000": status}))
    assert [c.command["type"] for c in found] == [
        "CancelScheduledPriceChange",
        "SchedulePriceChange",
    ]
    assert kinds(found) == ["sale_cancelled", "sale"]
    assert found[0].command["data"]["schedule_id"] == "feed-EUR-0000000000000000"
    assert found[1].command["data"]["schedule_id"] == feed_schedule_id(product.sale)


def test_a_row_without_a_sale_cancels_the_live_feed_sales_only() -> None:
    listed = with_sales(
        **{
            "feed-EUR-000000000000000a": "planned",
            "feed-EUR-000000000000000b": "running",
            "feed-EUR-000000000000000c": "done",
            "feed-EUR-000000000000000d": "cancelled",
            "feed-EUR-000000000000000e": "missed",
        }
    )
    found = diff(row(**FULL), listed)
    assert kinds(found) == ["sale_cancelled", "sale_cancelled"]
    assert [d["schedule_id"] for d in data(found)] == [
        "feed-EUR-000000000000000a",
        "feed-EUR-000000000000000b",
    ]


@pytest.mark.parametrize(
    "now", [datetime(2027, 7, 8, 0, 0, tzinfo=UTC), datetime(2027, 8, 1, tzinfo=UTC)]
)
def test_a_sale_that_ended_is_not_planned(now: datetime) -> None:
    assert diff(row(**FULL, **SALE), LISTED, now=now) == []
    assert kinds(diff(row(**FULL, **SALE), None, now=now)) == ["registered", "price", "stock"]


def test_a_sale_that_began_is_planned_from_now_under_the_id_of_its_window() -> None:
    product = row(**FULL, **SALE)
    assert product.sale is not None
    now = datetime(2027, 7, 3, 8, 30, tzinfo=UTC)
    found = diff(product, LISTED, now=now)
    assert kinds(found) == ["sale"]
    assert found[0].command["data"]["schedule_id"] == feed_schedule_id(product.sale)
    assert found[0].command["data"]["starts_at"] == "2027-07-03T08:30:00.000000Z"
    assert found[0].command["data"]["ends_at"] == "2027-07-08T00:00:00.000000Z"


def ids(found: list[Change]) -> list[str]:
    return [change.command["command_id"] for change in found]


def test_command_ids_are_uuids_derived_from_the_change() -> None:
    found = diff(row(**FULL, **SALE), None)
    assert all(uuid.UUID(i).version == 5 for i in ids(found))
    assert len(set(ids(found))) == len(found)
    # Fixed forever: an import resumed by a newer release must send the same ids.
    assert command_id_of("SKU-1", "price", 3, ["10", "EUR"]) == GOLDEN_ID


GOLDEN_ID = "11f4a21c-3b88-517b-8d23-062826bcbf60"


def test_the_same_change_has_the_same_ids_in_a_later_run() -> None:
    """A run resumed after a crash has another instant and import id, and the same ids."""
    product = row(**{**FULL, "price": "79 EUR", "stock": "3"}, **SALE)
    first = diff(product, LISTED, correlation_id="import-1")
    again = diff(product, LISTED, now=NOW + timedelta(hours=1), correlation_id="import-2")
    assert ids(first) == ids(again)


def test_command_ids_differ_with_the_listed_version() -> None:
    product = row(**{**FULL, "price": "79 EUR"})
    assert ids(diff(product, LISTED)) != ids(diff(product, replace(LISTED, version=5)))


def test_command_ids_differ_with_the_content() -> None:
    seventy = diff(row(**{**FULL, "price": "70 EUR"}), LISTED)
    eighty = diff(row(**{**FULL, "price": "80 EUR"}), LISTED)
    assert ids(seventy) != ids(eighty)
    counted_later = diff(
        row(**{**FULL, "stock": "3"}), LISTED, counted_at="2027-06-01T11:30:00.000000Z"
    )
    assert ids(diff(row(**{**FULL, "stock": "3"}), LISTED)) != ids(counted_later)


def test_command_ids_differ_across_skus() -> None:
    one = diff(row("SKU-1", **FULL), None)
    two = diff(row("SKU-2", **FULL), None)
    assert not set(ids(one)) & set(ids(two))


def test_the_correlation_id_is_carried_by_every_command() -> None:
    listed = with_sales(**{"feed-EUR-0000000000000000": "running"})
    product = row(**{**FULL, "brand": "Other", "price": "1 EUR", "stock": "1"}, **SALE)
    found = diff(product, listed, correlation_id="import-42")
    assert kinds(found) == ["details", "price", "stock", "sale_cancelled", "sale"]
    assert {c.command["correlation_id"] for c in found} == {"import-42"}
    assert all("correlation_id" not in c.command for c in diff(product, listed))
