"""Importing a feed file against a dictionary catalog and a fake sender (pure)."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from producers.feeds.importer import ImportOptions, ImportReport, run_import
from producers.feeds.read import RowError
from producers.feeds.view import Listed, ListedSale
from producers.results import CommandResult, Position
from schemas.codec import validate_command
from schemas.errors import ContractError
from tests.unit.producers.feed_catalog import Catalog

FEEDS = Path(__file__).parents[2] / "fixtures" / "feeds"
OPTIONS = ImportOptions(counted_at=datetime(2027, 6, 1, 11, 0, tzinfo=UTC))
HEADER = "sku,name,description,price,stock,sale_price,sale_starts,sale_ends\n"
# Far enough ahead that the importer's own clock (datetime.now) never reaches it.
WINDOW = "2099-01-01T00:00Z,2099-01-08T00:00Z"


class Sender:
    """Validates as producers.client does; answers at once (or never, for ``hang``)."""

    def __init__(
        self,
        catalog: Catalog | None = None,
        *,
        reject: Callable[[Mapping[str, Any]], str | None] = lambda _command: None,
        hang: Callable[[Mapping[str, Any]], bool] = lambda _command: False,
        positions: Iterator[list[Position]] | None = None,
    ) -> None:
        self.catalog, self.reject, self.hang = catalog, reject, hang
        offsets = itertools.count()
        self.positions = positions or ([Position(partition=0, offset=n)] for n in offsets)
        self.sent: list[Mapping[str, Any]] = []
        self.flushed = 0

    def submit(self, command: Mapping[str, Any]) -> Future[CommandResult]:
        validate_command(command)
        self.sent.append(command)
        future: Future[CommandResult] = Future()
        if self.hang(command):
            return future
        ids = {"command_id": command["command_id"], "sku": command["sku"]}
        reason = self.reject(command)
        if reason is not None:
            why = f"{command['type']} refused: {reason}"
            result = CommandResult(**ids, status="rejected", reason=reason, message=why)
        else:
            if self.catalog is not None:
                self.catalog.apply(command)
            result = CommandResult(**ids, status="accepted", positions=next(self.positions))
        future.set_result(result)
        return future

    def flush(self, timeout_s: float = 60.0) -> None:
        self.flushed += 1


def feed(tmp_path: Path, *rows: str, header: str = HEADER) -> Path:
    path = tmp_path / "feed.csv"
    path.write_text(header + "".join(f"{row}\n" for row in rows), encoding="utf-8")
    return path


def run(
    path: Path,
    catalog: Catalog,
    sender: Sender | None,
    options: ImportOptions = OPTIONS,
    **kwargs: Any,
) -> tuple[ImportReport, list[RowError]]:
    refused: list[RowError] = []
    report = run_import(path, catalog, sender, options, on_refused=refused.append, **kwargs)
    return report, sorted(refused, key=lambda error: error.line)


def types(sender: Sender) -> list[str]:
    return [command["type"] for command in sender.sent]


def kind_counts(report: ImportReport) -> dict[str, int]:
    kinds = ("registered", "details", "price", "stock", "sale", "sale_cancelled", "discontinued")
    return {kind: getattr(report, kind) for kind in kinds}


def test_counts_per_kind_unchanged_and_refused(tmp_path: Path) -> None:
    path = feed(
        tmp_path,
        "A-1,Kettle,,29.90 EUR,7,,,",  # listed with stock 5: stock
        f"A-2,Toaster,Hot,39 EUR,3,29 EUR,{WINDOW}",  # unknown: all four
        "A-3,Pan,,abc,1,,,",  # refused by the reader
        "A-4,Lid,,10 EUR,2,,,",  # listed as it is: unchanged
        "A-1,Kettle,,29.90 EUR,7,,,",  # a second time
        "A-5,Mug,,5 EUR,1,,,",  # listed at 4 EUR: the processor rejects the price
    )
    catalog = Catalog(
        Listed("A-1", 3, name="Kettle", stock=5, regular={"EUR": "29.9"}),
        Listed("A-4", 1, name="Lid", stock=2, regular={"EUR": "10"}),
        Listed("A-5", 2, name="Mug", stock=1, regular={"EUR": "4"}),
    )
    sender = Sender(
        catalog,
        reject=lambda c: (
            "version_conflict" if (c["sku"], c["type"]) == ("A-5", "ChangePrice") else None
        ),
    )
    report, refused = run(path, catalog, sender)
    assert kind_counts(report) == {
        "registered": 1,
        "details": 0,
        "price": 1,
        "stock": 2,
        "sale": 1,
        "sale_cancelled": 0,
        "discontinued": 0,
    }
    assert (report.rows, report.unchanged, report.refused) == (6, 1, 3)
    assert (report.sent, report.answered, report.dry_run) == (6, 6, False)
    assert [(e.line, e.field, e.rule) for e in refused] == [
        (4, "price", "pattern"),
        (6, "sku", "duplicate_sku"),
        (7, None, "version_conflict"),
    ]
    assert refused[2].message == "line 7: price: ChangePrice refused: version_conflict"
    assert report.file_error is None and sender.flushed == 1


def test_a_command_the_client_refuses_as_invalid_is_refused_with_its_rule(tmp_path: Path) -> None:
    class Refusing(Sender):
        def submit(self, command: Mapping[str, Any]) -> Future[CommandResult]:
            raise ContractError("data.amount", "pattern", "data.amount: no amount")

    report, refused = run(feed(tmp_path, "A-1,Kettle,,29.90 EUR,,,,"), Catalog(), Refusing())
    assert (report.sent, report.refused, report.registered) == (0, 2, 0)
    assert [(e.line, e.field, e.rule) for e in refused] == [(2, "data.amount", "pattern")] * 2


def test_a_dry_run_sends_nothing_and_counts_what_would_change(tmp_path: Path) -> None:
    path = feed(tmp_path, f"A-1,Kettle,,29.90 EUR,7,25 EUR,{WINDOW}", "A-2,Lid,,,,,,")
    catalog = Catalog(Listed("A-2", 1, name="Lid"))
    sender = Sender(catalog)
    for report, _refused in (
        run(path, catalog, sender, replace(OPTIONS, dry_run=True)),
        run(path, catalog, None),
    ):
        assert report.dry_run
        assert (report.sent, report.answered, report.position) == (0, 0, "")
        assert kind_counts(report) | {"unchanged": report.unchanged} == {
            "registered": 1,
            "details": 0,
            "price": 1,
            "stock": 1,
            "sale": 1,
            "sale_cancelled": 0,
            "discontinued": 0,
            "unchanged": 1,
        }
    assert sender.sent == [] and sender.flushed == 0


def test_the_same_file_again_sends_nothing(tmp_path: Path) -> None:
    path = feed(
        tmp_path,
        f"A-1,Kettle,Steel,29.90 EUR,7,25 EUR,{WINDOW}",
        "A-2,Toaster,Two slots,39.00 EUR,0,,,",
        # A sale that began: planned from now, under the id of its window.
        "A-3,Pan,,19.5 EUR,4,15 EUR,2020-01-01T00:00Z,2099-01-01T00:00Z",
        "A-4,Lid,New text,10 EUR,2,,,",
    )
    catalog = Catalog(
        Listed("A-2", 7, name="Toaster", stock=3, regular={"EUR": "35"}),
        Listed("A-4", 2, name="Lid", description="Old text", stock=2, regular={"EUR": "10"}),
        Listed(
            "A-3",
            4,
            name="Pan",
            stock=4,
            regular={"EUR": "19.5"},
            feed_sales={"feed-EUR-0123456789abcdef": ListedSale("EUR", "running")},
        ),
    )
    sender = Sender(catalog)
    first, refused = run(path, catalog, sender)
    assert refused == []
    assert kind_counts(first) == {
        "registered": 1,
        "details": 2,
        "price": 2,
        "stock": 2,
        "sale": 2,
        "sale_cancelled": 1,
        "discontinued": 0,
    }
    assert first.sent == 10 and first.unchanged == 0
    sent = len(sender.sent)
    second, refused = run(path, catalog, sender)
    assert refused == []
    assert len(sender.sent) == sent
    assert (second.sent, second.unchanged, second.rows) == (0, 4, 4)
    assert sum(kind_counts(second).values()) == 0


def test_discontinue_missing_discontinues_the_active_products_the_feed_does_not_list(
    tmp_path: Path,
) -> None:
    catalog = Catalog(
        Listed("A-1", 1, name="Kettle"),
        Listed("B-1", 5, name="Gone"),
        Listed("C-1", 9, name="Long gone", discontinued=True),
    )
    sender = Sender(catalog)
    options = replace(OPTIONS, discontinue_missing=True, import_id="import-7")
    report, refused = run(feed(tmp_path, "A-1,Kettle,,,,,,"), catalog, sender, options)
    assert refused == [] and report.unchanged == 1
    assert report.discontinued == 1
    assert [(c["type"], c["sku"], c["correlation_id"]) for c in sender.sent] == [
        ("DiscontinueProduct", "B-1", "import-7")
    ]
    assert catalog.products["B-1"].discontinued


def test_discontinue_missing_is_skipped_when_the_file_is_not_read_to_its_end() -> None:
    # TEA-2 has a Latin-1 byte: TEA-3, after it, was never read.
    catalog = Catalog(*(Listed(sku, 1, name="Tea") for sku in ("TEA-1", "TEA-3", "X-1")))
    sender = Sender(catalog)
    options = replace(OPTIONS, discontinue_missing=True)
    report, refused = run(FEEDS / "latin1.csv", catalog, sender, options)
    assert [(e.line, e.rule) for e in refused] == [(3, "encoding")]
    assert report.file_error is not None and report.file_error.startswith("line 3")
    assert types(sender) == ["UpdateProductDetails"]  # TEA-1's name
    assert report.discontinued == 0
    assert any("not discontinued" in warning for warning in report.warnings)
    assert report.bytes_read < report.bytes_total


def test_an_answer_that_never_comes_refuses_the_command_and_the_import_goes_on(
    tmp_path: Path,
) -> None:
    path = feed(tmp_path, "A-1,Kettle,,29.90 EUR,7,,,", "A-2,Toaster,,39 EUR,3,,,")
    catalog = Catalog()
    sender = Sender(catalog, hang=lambda c: (c["sku"], c["type"]) == ("A-1", "ChangePrice"))
    report, refused = run(path, catalog, sender, replace(OPTIONS, timeout_s=0.05))
    assert [(e.line, e.rule) for e in refused] == [(2, "no_answer")]
    assert (report.sent, report.answered, report.refused) == (6, 5, 1)
    assert (report.registered, report.price, report.stock) == (2, 1, 2)


def test_the_position_is_the_highest_offset_per_partition_of_what_was_accepted(
    tmp_path: Path,
) -> None:
    path = feed(tmp_path, "A-1,Kettle,,29.90 EUR,7,,,", "A-2,Toaster,,39 EUR,3,,,")
    answers = [
        [Position(partition=1, offset=40)],
        [Position(partition=0, offset=7), Position(partition=1, offset=41)],
        [Position(partition=0, offset=5)],
        [Position(partition=2, offset=3)],
        [Position(partition=1, offset=12)],
    ]
    catalog = Catalog()
    sender = Sender(
        catalog,
        reject=lambda c: "invalid" if (c["sku"], c["type"]) == ("A-2", "SetStock") else None,
        positions=iter(answers),
    )
    report, _refused = run(path, catalog, sender)
    assert report.refused == 1
    assert report.position == "0:7,1:41,2:3"


def test_rows_are_looked_up_a_batch_at_a_time(tmp_path: Path) -> None:
    path = feed(tmp_path, *(f"A-{n},Item {n},,,,,," for n in range(5)))
    catalog = Catalog()
    run(path, catalog, None, replace(OPTIONS, batch=2))
    assert [len(skus) for skus in catalog.lookups] == [2, 2, 1]


def test_progress_is_reported_and_ends_with_the_whole_file_read(tmp_path: Path) -> None:
    path = feed(tmp_path, *(f"A-{n},Item {n},,1 EUR,{n},,," for n in range(5)))
    seen: list[tuple[int, int, int]] = []

    def on_progress(report: ImportReport) -> None:
        seen.append((report.rows, report.bytes_read, report.bytes_total))

    catalog = Catalog()
    options = replace(OPTIONS, batch=2)  # progress is heard between batches
    run(path, catalog, Sender(catalog), options, on_progress=on_progress, progress_every_s=0.0)
    size = path.stat().st_size
    assert len(seen) > 1
    assert seen[-1] == (5, size, size)
    assert [read for _rows, read, _total in seen] == sorted(read for _rows, read, _total in seen)
