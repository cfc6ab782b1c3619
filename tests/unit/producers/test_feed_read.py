"""Reading feed files: formats, encodings, awkward lines, each with its line number (pure)."""

from __future__ import annotations

import io
import re
import tracemalloc
from pathlib import Path

import pytest

from producers.feeds.read import (
    FILE_RULES,
    MAX_RECORD_BYTES,
    FeedItem,
    FeedRow,
    FeedWarning,
    RowError,
    parse_mapping,
    read_feed,
)

FEEDS = Path(__file__).parents[2] / "fixtures" / "feeds"
PRODUCT_COLUMNS = {"sku", "id", "name", "title", "price", "currency", "description"}


def read(data: bytes, **options: object) -> list[FeedItem]:
    return list(read_feed(io.BytesIO(data), **options))  # type: ignore[arg-type]


def rows(items: list[FeedItem]) -> list[tuple[int, dict[str, str]]]:
    return [(item.line, item.fields) for item in items if isinstance(item, FeedRow)]


def errors(items: list[FeedItem]) -> list[RowError]:
    return [item for item in items if isinstance(item, RowError)]


def test_the_fixture_files_hold_the_bytes_the_tests_are_about() -> None:
    # A checkout that rewrote line endings or encodings would make the tests below vacuous.
    assert (FEEDS / "bom_crlf.csv").read_bytes().startswith(b"\xef\xbb\xbfsku,")
    assert b"\r\n" in (FEEDS / "bom_crlf.csv").read_bytes()
    assert b"Caf\xe9" in (FEEDS / "latin1.csv").read_bytes()
    assert (FEEDS / "empty.csv").read_bytes() == b""


def test_a_merchant_center_tsv_is_detected_and_unread_columns_warned_once() -> None:
    items = list(read_feed(FEEDS / "merchant_center.tsv", columns={"id", "title", "price"}))
    warnings = [item for item in items if isinstance(item, FeedWarning)]
    assert len(warnings) == 1
    assert warnings[0].rule == "unknown_column"
    assert warnings[0].line == 1
    assert "link" in warnings[0].columns and "image_link" in warnings[0].columns
    assert "--map" in warnings[0].message
    assert rows(items)[0] == (2, {"id": "RUN-42", "title": "Trail runner", "price": "89.90 EUR"})
    assert [line for line, _ in rows(items)] == [2, 3, 4, 5]
    assert errors(items) == []


def test_bom_crlf_and_a_quoted_field_with_comma_and_newline() -> None:
    items = list(read_feed(str(FEEDS / "bom_crlf.csv")))
    found = rows(items)
    assert [line for line, _ in found] == [2, 4]  # MUG-2 starts on line 4, after the 2-line record
    first = found[0][1]
    assert first["sku"] == "MUG-1"  # not "\ufeffsku"
    assert first["name"] == "Mug, large"
    assert first["description"] == "Holds 500 ml.\r\nDishwasher safe."
    assert first["stock"] == "40"  # the CR of the line end is not part of the last cell
    assert found[1][1]["stock"] == "0"


def test_json_lines_keep_numbers_as_written_and_refuse_bad_lines_alone() -> None:
    items = list(read_feed(FEEDS / "products.jsonl", columns={"sku", "name", "price", "tags"}))
    assert rows(items) == [
        (1, {"sku": "J-1", "name": "Kettle", "price": "29.90"}),
        (5, {"sku": "J-4", "name": "Pan", "price": "19.5"}),
    ]
    bad = errors(items)
    assert [(e.line, e.rule) for e in bad] == [(3, "type"), (4, "json")]
    assert bad[0].column == "tags" and bad[0].field == "tags"
    assert "line 4, character" in bad[1].message
    warned = [item for item in items if isinstance(item, FeedWarning)]
    # each unknown key once, at its first line, however many rows carry it
    assert [(w.line, w.columns) for w in warned] == [
        (1, ("currency",)),
        (1, ("stock",)),
        (1, ("category_path",)),
        (1, ("colour_code",)),
        (5, ("sale_price",)),
        (5, ("sale_starts",)),
        (5, ("sale_ends",)),
        (5, ("brand",)),
    ]


def test_json_lines_refuse_nan_and_non_objects() -> None:
    items = read(b'{"sku": NaN}\n[1, 2]\n{"sku": "OK"}\n')
    assert [(e.line, e.rule) for e in errors(items)] == [(1, "json"), (2, "json")]
    assert rows(items) == [(3, {"sku": "OK"})]


def test_latin1_is_refused_at_the_first_bad_byte_with_the_fix() -> None:
    items = list(read_feed(FEEDS / "latin1.csv"))
    assert rows(items) == [(2, {"sku": "TEA-1", "name": "Green tea"})]
    (error,) = errors(items)
    assert (error.line, error.rule) == (3, "encoding")
    assert error.rule in FILE_RULES
    assert "line 3, byte 10" in error.message
    assert "iconv -f latin1 -t utf-8" in error.message
    assert items[-1] is error  # nothing read after it: no guessing


def test_a_bad_byte_in_the_header_line_counts_the_bom() -> None:
    (error,) = read(b"\xef\xbb\xbfsku,n\xe4me\nA,b\n")
    assert (error.line, error.rule) == (1, "encoding")
    assert "line 1, byte 9" in error.message


def test_utf16_is_named_as_such() -> None:
    (error,) = read("sku,name\nA,b\n".encode("utf-16"))
    assert error.rule == "encoding" and "iconv -f utf-16" in error.message  # type: ignore[union-attr]


@pytest.mark.parametrize(("data", "shown"), [(None, "';'"), (b"sku|name\nA|b\n", "'|'")])
def test_a_wrong_delimiter_is_named(data: bytes | None, shown: str) -> None:
    items = read(data) if data else list(read_feed(FEEDS / "semicolon.csv"))
    (error,) = items
    assert isinstance(error, RowError)
    assert (error.line, error.rule) == (1, "delimiter")
    assert f"separated by {shown}, not by comma" in error.message


def test_forcing_csv_on_a_tsv_names_the_tab() -> None:
    (error,) = list(read_feed(FEEDS / "merchant_center.tsv", format="csv"))
    assert isinstance(error, RowError) and error.rule == "delimiter"
    assert "separated by tab, not by comma: force format tsv" in error.message


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"\n\r\n  \n"])
def test_an_empty_file(data: bytes) -> None:
    assert read(data) == [
        RowError(1, None, None, "empty_file", "the file is empty: no header, no rows")
    ]
    assert next(iter(read_feed(FEEDS / "empty.csv"))).rule == "empty_file"  # type: ignore[union-attr]


def test_a_huge_line_is_refused_alone_and_reading_goes_on(tmp_path: Path) -> None:
    feed = tmp_path / "huge.tsv"
    with feed.open("wb") as f:
        f.write(b"id\ttitle\nA-1\tfirst\n")
        f.write(b"A-2\t" + b"x" * (2 << 20) + b"\n")
        f.write(b"A-3\tthird\nA-4\tfourth\n")
    items = list(read_feed(feed))
    assert rows(items) == [
        (2, {"id": "A-1", "title": "first"}),
        (4, {"id": "A-3", "title": "third"}),
        (5, {"id": "A-4", "title": "fourth"}),
    ]
    (error,) = errors(items)
    assert (error.line, error.rule) == (3, "record_too_large")
    assert "1 MiB" in error.message


def test_memory_stays_bounded_by_the_record_limit(tmp_path: Path) -> None:
    feed = tmp_path / "endless.csv"
    with feed.open("wb") as f:
        f.write(b"sku,name\nA-1,a\n")
        chunk = b"y" * (1 << 20)
        for _ in range(24):  # one 24 MiB line without a newline until the end
            f.write(chunk)
        f.write(b"\nA-2,b\n")
    tracemalloc.start()
    try:
        items = list(read_feed(feed))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert [line for line, _ in rows(items)] == [2, 4]
    assert peak < 4 * MAX_RECORD_BYTES


def test_an_unclosed_quote_stops_at_the_field_limit_and_reading_resumes() -> None:
    lines = "\n".join(f"A-{n},row {n}" for n in range(3, 30_000))
    data = f'sku,name\nA-1,a\nA-2,"unclosed\n{lines}\nB-1,last\n'.encode()
    items = read(data)
    first = errors(items)[0]
    assert (first.line, first.rule) == (3, "field_too_large")
    assert rows(items)[0] == (2, {"sku": "A-1", "name": "a"})
    assert rows(items)[-1][1] == {"sku": "B-1", "name": "last"}


def test_a_multi_line_record_over_the_limit_is_refused_where_it_starts() -> None:
    width = 12
    cell = '"' + "z" * 60_000 + "\n" + "z" * 40_000 + '"'  # each under the field limit
    header = ",".join(f"c{n}" for n in range(width))
    big = ",".join([cell] * width)  # 1.2 MB
    small = ",".join(["s"] * width)
    items = read(f"{header}\n{small}\n{big}\n{small}\n".encode())
    assert (errors(items)[0].line, errors(items)[0].rule) == (3, "record_too_large")
    assert [line for line, _ in rows(items)] == [2, 3 + width + 1]  # the record spans 13 lines


def test_rows_with_the_wrong_number_of_cells_and_blank_lines() -> None:
    items = read(b"sku,name\nA-1,a\n\nA-2,b,extra\n,\nA-3\nA-4,d\n")
    assert rows(items) == [(2, {"sku": "A-1", "name": "a"}), (7, {"sku": "A-4", "name": "d"})]
    assert [(e.line, e.rule) for e in errors(items)] == [(4, "cell_count"), (6, "cell_count")]
    assert "has 3 cells, the header has 2" in errors(items)[0].message


def test_a_nul_byte_is_one_row_s_error() -> None:
    items = read(b"sku,name\nA-1,a\x00b\nA-2,c\n")
    assert [(e.line, e.rule) for e in errors(items)] == [(2, "nul")]
    assert rows(items) == [(3, {"sku": "A-2", "name": "c"})]


def test_header_names_ignore_case_and_spaces_and_follow_the_mapping() -> None:
    data = b"ID,Titel,Sale Price,Fabric,Link\nA-1,Shirt,5 EUR,cotton,http://x\n"
    items = read(
        data,
        mapping={"Titel": "name", "fabric": "fabric", "colour": "color"},
        columns={"id", "name", "sale_price"},
    )
    assert rows(items) == [
        (2, {"id": "A-1", "name": "Shirt", "sale_price": "5 EUR", "fabric": "cotton"})
    ]
    warned = {w.rule: w.columns for w in items if isinstance(w, FeedWarning)}
    assert warned == {"unknown_column": ("Link",), "unused_mapping": ("colour",)}


@pytest.mark.parametrize(
    ("data", "mapping", "rule"),
    [
        (b"A-1,Shirt,5 EUR\nA-2,Hat,3 EUR\n", None, "missing_header"),
        (b"id,price\nA-1,5 EUR\n", None, "missing_column"),
        (b"id,title,name\nA-1,a,b\n", {"title": "name"}, "duplicate_column"),
    ],
)
def test_header_problems_end_the_file(
    data: bytes, mapping: dict[str, str] | None, rule: str
) -> None:
    items = read(
        data,
        mapping=mapping,
        columns=PRODUCT_COLUMNS,
        required=(("sku", "id"), ("name", "title")),
    )
    assert [(e.line, e.rule) for e in errors(items)] == [(1, rule)]
    assert rows(items) == []
    assert rule in FILE_RULES


def test_the_format_can_be_forced_and_blank_leading_lines_are_counted() -> None:
    items = read(b'\n{"sku": "A"}\n', format="jsonl")
    assert rows(items) == [(2, {"sku": "A"})]
    items = read(b"\n\nsku\tname\nA\tb\n")
    assert rows(items) == [(4, {"sku": "A", "name": "b"})]


def test_a_mapping_is_column_equals_field_and_names_the_pair_that_is_not() -> None:
    assert parse_mapping([" title = name", "qty=stock"]) == {"title": "name", "qty": "stock"}
    for bad in ("title", "=name", "title=", " = "):
        with pytest.raises(ValueError, match=re.escape(repr(bad))):
            parse_mapping([bad])
