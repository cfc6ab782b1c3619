"""Feed rows as products: both vocabularies, the contract's limits, sales and stock (pure)."""

from __future__ import annotations

import dataclasses
import io
from datetime import UTC, datetime
from pathlib import Path

import pytest

from producers.feeds.merchant import FeedProduct, Price, Sale, normalize, read_products
from producers.feeds.read import FeedRow, FeedWarning, RowError
from schemas.local_time import LocalTimeError
from schemas.money import format_amount, parse_amount
from schemas.registry import load_document

FEEDS = Path(__file__).parents[2] / "fixtures" / "feeds"
LIMITS = load_document("common/definitions.json")["definitions"]
WINDOW = "2027-11-26T00:00+01:00/2027-11-30T23:59+01:00"
STARTS = datetime(2027, 11, 25, 23, 0, tzinfo=UTC)
ENDS = datetime(2027, 11, 30, 22, 59, tzinfo=UTC)


def product(**fields: str) -> FeedProduct:
    result = normalize(FeedRow(7, {"id": "SKU-1", "title": "Shoe", **fields}))
    assert isinstance(result, FeedProduct), result
    return result


def refused(tz: str | None = None, **fields: str) -> RowError:
    result = normalize(FeedRow(7, {"id": "SKU-1", "title": "Shoe", **fields}), tz=tz)
    assert isinstance(result, RowError), result
    assert result.line == 7 and result.message.startswith("line 7: ")
    return result


def test_a_merchant_center_row() -> None:
    got = product(
        description="Light",
        brand="Acme",
        product_type="Shoes > Running",
        price="89.90 EUR",
        sale_price="69.00 eur",
        sale_price_effective_date=WINDOW,
        quantity="12",
        availability="in_stock",
        color="red",
        custom_label_0="black-friday",
        tags="trail, wet,trail,",
    )
    assert got == FeedProduct(
        line=7,
        sku="SKU-1",
        name="Shoe",
        description="Light",
        brand="Acme",
        category_path=("Shoes", "Running"),
        price=Price("89.9", "EUR"),
        sale=Sale("69", "EUR", STARTS, ENDS),
        stock=12,
        attributes={"color": "red", "custom_label_0": "black-friday"},
        tags=("trail", "wet"),
    )


def test_eventcart_columns_give_the_same_product() -> None:
    own = normalize(
        FeedRow(
            7,
            {
                "sku": "SKU-1",
                "name": "Shoe",
                "category_path": "Shoes/Running",
                "price": "89.90",
                "currency": "EUR",
                "sale_price": "69.00",
                "sale_starts": "2027-11-26T00:00:00+01:00",
                "sale_ends": "2027-11-30T23:59:00+01:00",
                "stock": "12",
            },
        )
    )
    gmc = product(
        product_type="Shoes > Running",
        price="89.90 EUR",
        sale_price="69 EUR",
        sale_price_effective_date=WINDOW,
        quantity="12",
    )
    assert own == gmc


def test_blank_cells_are_absent_and_crlf_in_a_description_becomes_lf() -> None:
    got = product(description="two\r\nlines", brand="", price="", color="")
    assert (got.description, got.brand, got.price, got.attributes) == ("two\nlines", None, None, {})


def test_a_sale_without_a_window_is_refused() -> None:
    error = refused(price="10 EUR", sale_price="8 EUR")
    assert (error.column, error.field, error.rule) == ("sale_price", "sale", "sale_without_window")


def test_a_window_without_a_sale_price_is_ignored() -> None:
    assert product(price="10 EUR", sale_price_effective_date=WINDOW).sale is None


@pytest.mark.parametrize(
    ("fields", "column", "rule"),
    [
        ({"sale_price": "8 EUR", "sale_price_effective_date": WINDOW}, "sale_price", "sale_without_price"),
        ({"price": "10 EUR", "sale_price": "8 USD", "sale_price_effective_date": WINDOW}, "sale_price", "sale_currency"),
        ({"price": "10 EUR", "sale_price": "8 EUR", "sale_price_effective_date": "2027-11-26T00:00+01:00"}, "sale_price_effective_date", "sale_window"),
        ({"price": "10 EUR", "sale_price": "8 EUR", "sale_price_effective_date": "2027-11-30T00:00Z/2027-11-26T00:00Z"}, "sale_price_effective_date", "sale_window"),
        ({"price": "10 EUR", "sale_price": "8 EUR", "sale_starts": "2027-11-26T00:00:00Z"}, "sale_ends", "sale_window"),
        ({"price": "10 EUR", "sale_price": "8 EUR", "sale_price_effective_date": "2027-11-26T00:00/2027-11-30T00:00"}, "sale_price_effective_date", "format"),
        ({"price": "10 EUR", "sale_price": "8 EUR", "sale_price_effective_date": "2027-02-30T00:00Z/2027-03-02T00:00Z"}, "sale_price_effective_date", "format"),
    ],
)  # fmt: skip
def test_sale_problems(fields: dict[str, str], column: str, rule: str) -> None:
    error = refused(**fields)
    assert (error.column, error.field, error.rule) == (column, "sale", rule)


def test_merchant_center_offsets_without_colon_and_spaces_around_the_slash() -> None:
    window = "2027-11-26T00:00:00+0100 / 2027-11-30T23:59:00+0100"
    sale = product(price="10 EUR", sale_price="8 EUR", sale_price_effective_date=window).sale
    assert sale == Sale("8", "EUR", STARTS, ENDS)


def test_times_without_offset_are_read_in_the_zone_given() -> None:
    row = FeedRow(
        3,
        {
            "sku": "S-1",
            "name": "n",
            **{"price": "10", "currency": "EUR", "sale_price": "8"},
            **{"sale_starts": "2027-11-26 00:00", "sale_ends": "2027-11-30 23:59"},
        },
    )
    got = normalize(row, tz="Europe/Berlin")
    assert isinstance(got, FeedProduct) and got.sale == Sale("8", "EUR", STARTS, ENDS)
    gap = row._replace(fields={**row.fields, "sale_starts": "2027-03-28 02:30"})
    error = normalize(gap, tz="Europe/Berlin")
    assert isinstance(error, RowError) and error.rule == "format"
    assert "does not exist in Europe/Berlin" in error.message


@pytest.mark.parametrize(
    ("price", "currency", "rule", "hint"),
    [
        ("29,99 EUR", None, "pattern", "decimal point"),
        ("1,299.00 EUR", None, "pattern", "thousands"),
        ("29.99999 EUR", None, "pattern", "4 decimals"),
        ("029.99 EUR", None, "pattern", "29.99 EUR"),
        ("EUR 29.99", None, "pattern", "29.99 EUR"),
        ("29.99", None, "required", "add a currency column"),
        ("29.99 XYZ", None, "enum", "ISO 4217"),
        ("29.99 EUR", "USD", "currency", "USD"),
    ],
)
def test_price_problems(price: str, currency: str | None, rule: str, hint: str) -> None:
    error = refused(price=price, **({"currency": currency} if currency else {}))
    assert (error.field, error.rule) == ("price", rule)
    assert hint in error.message


@pytest.mark.parametrize(
    ("fields", "amount"),
    [
        ({"price": "29.99EUR"}, Price("29.99", "EUR")),
        ({"price": "29.00 EUR"}, Price("29", "EUR")),
        ({"price": "0.5000 usd"}, Price("0.5", "USD")),
        ({"price": "7", "currency": "jpy"}, Price("7", "JPY")),
        ({"price": "7 JPY", "currency": "JPY"}, Price("7", "JPY")),
    ],
)
def test_prices_are_canonical(fields: dict[str, str], amount: Price) -> None:
    assert product(**fields).price == amount


def test_the_contract_s_text_limits() -> None:
    name_max = LIMITS["name"]["maxLength"]
    assert product(title="n" * name_max).name == "n" * name_max
    error = refused(title="n" * (name_max + 1))
    assert (error.column, error.field, error.rule) == ("title", "name", "maxLength")
    error = refused(description="d" * (LIMITS["description"]["maxLength"] + 1))
    assert (error.field, error.rule) == ("description", "maxLength")
    error = refused(brand="b" * (LIMITS["brand"]["maxLength"] + 1))
    assert (error.field, error.rule) == ("brand", "maxLength")


@pytest.mark.parametrize(
    ("fields", "column", "field", "rule"),
    [
        ({"id": "bad sku"}, "id", "sku", "pattern"),
        ({"id": "x" * 65}, "id", "sku", "pattern"),
        ({"id": ""}, "sku", "sku", "required"),
        ({"title": ""}, "name", "name", "required"),
        ({"product_type": "Shoes > > Running"}, "product_type", "category_path", "minLength"),
        ({"category_path": "/".join("c" * 11)}, "category_path", "category_path", "maxItems"),
        ({"product_type": "c" * 101}, "product_type", "category_path", "maxLength"),
        ({"quantity": "-1"}, "quantity", "stock", "type"),
        ({"stock": "2.5"}, "stock", "stock", "type"),
        ({"availability": "maybe"}, "availability", "stock", "enum"),
        ({"availability": "out_of_stock", "quantity": "5"}, "availability", "stock", "stock_conflict"),
        ({"color": "c" * 201}, "color", "attributes.color", "maxLength"),
        ({"tags": ",".join(f"t{n}" for n in range(51))}, "tags", "tags", "maxItems"),
        ({"tags": "t" * 51}, "tags", "tags", "maxLength"),
    ],
)  # fmt: skip
def test_row_problems_name_column_field_and_rule(
    fields: dict[str, str], column: str, field: str, rule: str
) -> None:
    error = refused(**fields)
    assert (error.column, error.field, error.rule) == (column, field, rule)


def test_stock_and_availability() -> None:
    assert product(availability="in stock").stock is None  # availability alone: no quantity
    assert product(availability="out_of_stock").stock is None
    assert product(quantity="0", availability="out_of_stock").stock == 0
    assert product(stock="7", quantity="9").stock == 7  # eventcart's column wins


def test_too_many_attributes() -> None:
    fields = {f"facet_{n}": "v" for n in range(LIMITS["attributes"]["maxProperties"] + 1)}
    error = refused(**fields)
    assert (error.column, error.field, error.rule) == (None, "attributes", "maxProperties")


def test_a_merchant_center_file_end_to_end() -> None:
    items = list(read_products(FEEDS / "merchant_center.tsv"))
    assert isinstance(items[0], FeedWarning) and items[0].columns == ("link", "image_link")
    run, sock, cap, bag = items[1:]
    assert isinstance(run, FeedProduct) and run.line == 2
    assert run.sale == Sale("69", "EUR", STARTS, ENDS)
    assert run.attributes == {"color": "red", "size": "42", "custom_label_0": "black-friday"}
    assert isinstance(sock, FeedProduct) and (sock.line, sock.stock, sock.sale) == (3, None, None)
    assert isinstance(cap, RowError) and (cap.line, cap.rule) == (4, "sale_without_window")
    assert isinstance(bag, RowError) and (bag.line, bag.column, bag.rule) == (5, "price", "pattern")


def test_a_csv_and_a_jsonl_file_end_to_end() -> None:
    mugs = list(read_products(FEEDS / "bom_crlf.csv"))
    assert [p.sku for p in mugs if isinstance(p, FeedProduct)] == ["MUG-1", "MUG-2"]
    assert isinstance(mugs[0], FeedProduct)
    assert mugs[0].description == "Holds 500 ml.\nDishwasher safe."
    assert mugs[0].price == Price("12.5", "EUR") and mugs[0].category_path == ("Kitchen", "Mugs")
    items = list(read_products(FEEDS / "products.jsonl"))
    products = [p for p in items if isinstance(p, FeedProduct)]
    assert [(p.line, p.sku) for p in products] == [(1, "J-1"), (5, "J-4")]
    assert products[0].price == Price("29.9", "EUR") and products[0].stock == 7
    assert products[1].sale == Sale(
        "15", "EUR", datetime(2027, 12, 1, tzinfo=UTC), datetime(2027, 12, 8, tzinfo=UTC)
    )
    refusals = [(e.line, e.rule) for e in items if isinstance(e, RowError)]
    assert refusals == [(3, "type"), (4, "json")]


def test_errors_name_the_column_as_the_file_does() -> None:
    data = b"id,Titel\nA-1," + b"n" * 300 + b"\n"
    (error,) = read_products(io.BytesIO(data), mapping={"Titel": "name"})
    assert isinstance(error, RowError)
    assert (error.line, error.column, error.field, error.rule) == (2, "Titel", "name", "maxLength")


def test_a_mapped_column_becomes_an_attribute() -> None:
    data = b"id,title,fabric,link\nA-1,Shirt,cotton,http://x\n"
    items = list(read_products(io.BytesIO(data), mapping={"fabric": "fabric"}))
    assert isinstance(items[-1], FeedProduct) and items[-1].attributes == {"fabric": "cotton"}


def test_an_unknown_zone_is_refused_before_any_row() -> None:
    with pytest.raises(LocalTimeError, match="unknown time zone"):
        next(read_products(FEEDS / "merchant_center.tsv", tz="Mars/Base"))


def test_the_fast_constructor_makes_what_the_dataclass_makes() -> None:
    made = product(price="10.50 EUR", color="red", tags="a")
    as_fields = {f.name: getattr(made, f.name) for f in dataclasses.fields(FeedProduct)}
    assert made == FeedProduct(**as_fields)
    with pytest.raises(dataclasses.FrozenInstanceError):
        made.sku = "other"  # type: ignore[misc]
    assert dataclasses.replace(made, stock=3).stock == 3


@pytest.mark.parametrize(
    "amount", ["0", "0.0", "0.5000", "10", "10.00", "10.10", "100.0", "999999999999.9990", "7.0001"]
)
def test_canonical_amounts_are_format_amount_s(amount: str) -> None:
    price = product(price=f"{amount} EUR").price
    assert price is not None and price.amount == format_amount(parse_amount(amount))
