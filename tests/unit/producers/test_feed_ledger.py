"""The import ledger (pure): fingerprints, when a row's entry is written, and an
import that skips the rows its ledger vouches for (a dictionary view and a fake
sender, in the style of ``test_feed_importer``)."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from producers.feeds import import_run
from producers.feeds.importer import ImportOptions, ImportReport, run_import
from producers.feeds.ledger import Ledger, LedgerEntry, RowTrack, digests, fingerprint, salt
from producers.feeds.merchant import read_rows
from producers.feeds.read import Cells, FeedRow, RowError
from producers.feeds.view import Listed
from producers.results import CommandResult, Position
from schemas.codec import validate_command
from tests.unit.producers import feed_catalog

ROOT = Path(__file__).parents[3]
OPTIONS = ImportOptions(counted_at=datetime(2027, 6, 1, 11, 0, tzinfo=UTC))
HEADER = "sku,name,description,price,stock,sale_price,sale_starts,sale_ends\n"
BEFORE_COUNT = "2027-06-01T10:00:00.000000Z"
AFTER_COUNT = "2027-06-01T12:00:00.000000Z"

ROW = FeedRow(2, {"sku": "A-1", "name": "Kettle", "price": "29.90 EUR", "stock": "7"})


# ------------------------------------------------------------------ fingerprint


def test_a_fingerprint_is_the_same_in_another_process() -> None:
    salted = salt({"title": "name"}, "Europe/Paris")
    code = (
        "from producers.feeds.ledger import fingerprint, salt\n"
        "from producers.feeds.read import FeedRow\n"
        f"print(fingerprint(FeedRow(2, {ROW.fields!r}), salt({{'title': 'name'}}, 'Europe/Paris')))\n"
    )
    seen = set()
    for seed in ("1", "2", "random"):  # hash() would differ between these
        env = dict(os.environ, PYTHONHASHSEED=seed)
        done = subprocess.run(
            [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        seen.add(int(done.stdout))
    assert seen == {fingerprint(ROW, salted)}


def test_a_fingerprint_changes_with_any_cell_column_name_mapping_or_zone() -> None:
    salted = salt(None, None)
    base = fingerprint(ROW, salted)
    assert fingerprint(ROW, salt(None, None)) == base
    assert fingerprint(ROW, salt({}, None)) == base  # no --map is an empty one
    assert fingerprint(ROW._replace(line=99), salted) == base  # where it is does not matter
    others = [
        fingerprint(ROW._replace(fields={**ROW.fields, "price": "29.91 EUR"}), salted),
        fingerprint(ROW._replace(fields={**ROW.fields, "stock": "8"}), salted),
        fingerprint(ROW._replace(fields={**ROW.fields, "description": ""}), salted),
        fingerprint(
            FeedRow(2, {"sku": "A-1", "name": "Kettle", "price": "29.90 EUR", "quantity": "7"}),
            salted,
        ),
        fingerprint(ROW, salt({"title": "name"}, None)),
        fingerprint(ROW, salt({"title": "description"}, None)),
        fingerprint(ROW, salt(None, "Europe/Paris")),
        fingerprint(ROW, salt(None, "UTC")),
    ]
    assert base not in others
    assert len(set(others)) == len(others)


def test_a_fingerprint_is_a_signed_64_bit_integer() -> None:
    salted = salt(None, None)
    prints = [
        fingerprint(FeedRow(n, {"sku": f"S-{n}", "name": f"Item {n}"}), salted) for n in range(500)
    ]
    assert all(isinstance(fp, int) and -(2**63) <= fp < 2**63 for fp in prints)
    assert min(prints) < 0 < max(prints)  # both halves of PostgreSQL's bigint are used
    assert len(set(prints)) == len(prints)


# ------------------------------------------------------------------ RowTrack


def test_the_entry_comes_with_the_last_answer_at_the_version_after_the_rows_events() -> None:
    track = RowTrack("A-1", 42, base=7, exact=True, remaining=3)
    assert track.answered(True, 1, 8) is None
    assert track.answered(True, 1, 9) is None
    assert track.answered(True, 1, 10) == ("A-1", 42, 10)


def test_answers_in_any_order_give_the_same_entry() -> None:
    track = RowTrack("A-1", 42, base=7, exact=True, remaining=2)
    assert track.answered(True, 1, 9) is None
    assert track.answered(True, 1, 8) == ("A-1", 42, 9)


def test_no_entry_when_any_answer_is_a_rejection() -> None:
    for answers in (
        [(False, 0, None), (True, 1, 8)],
        [(True, 1, 8), (False, 0, None)],
        [(True, 1, 8), (False, 0, 8)],
    ):
        track = RowTrack("A-1", 42, base=7, exact=True, remaining=2)
        assert [track.answered(*answer) for answer in answers] == [None, None]


def test_no_entry_when_the_row_would_not_make_the_product_exact() -> None:
    track = RowTrack("A-1", 42, base=7, exact=False, remaining=1)
    assert track.answered(True, 1, 8) is None


def test_no_entry_when_another_event_came_between() -> None:
    track = RowTrack("A-1", 42, base=7, exact=True, remaining=2)
    assert track.answered(True, 1, 8) is None
    assert track.answered(True, 1, 10) is None  # version 9 was someone else's
    # before the first of them (the read models had not shown it yet)
    track = RowTrack("A-1", 42, base=7, exact=True, remaining=1)
    assert track.answered(True, 1, 9) is None
    # an answer with no events at a later version: the product moved on without us
    track = RowTrack("A-1", 42, base=7, exact=True, remaining=1)
    assert track.answered(True, 0, 8) is None


def test_accepted_with_no_events_keeps_the_base_version() -> None:
    track = RowTrack("A-1", 42, base=7, exact=True, remaining=2)
    assert track.answered(True, 0, 7) is None
    assert track.answered(True, 0, 7) == ("A-1", 42, 7)
    track = RowTrack("A-1", 42, base=7, exact=True, remaining=2)
    assert track.answered(True, 0, 7) is None
    assert track.answered(True, 1, 8) == ("A-1", 42, 8)


def test_a_new_product_starts_from_version_0() -> None:
    track = RowTrack("N-1", -5, base=0, exact=True, remaining=3)
    assert track.answered(True, 1, 1) is None  # RegisterProduct
    assert track.answered(True, 1, 2) is None
    assert track.answered(True, 1, 3) == ("N-1", -5, 3)
    track = RowTrack("N-1", -5, base=0, exact=True, remaining=1)
    assert track.answered(True, 1, 2) is None  # registered by someone else first


# ------------------------------------------------------------------ run_import


class Catalog(feed_catalog.Catalog):
    """A CatalogView and a Ledger over dictionaries, updated by what the fake sender accepts.

    ``imported`` vouches for an entry only while the product's version is the
    entry's, as ``ops.feed_ledger`` does with the pricing read model."""

    registers_consistent = True

    def __init__(self, *products: Listed) -> None:
        super().__init__(*products)
        self.entries: dict[str, tuple[int, int]] = {}
        self.recorded: list[list[LedgerEntry]] = []
        self.asked: list[list[str]] = []

    def imported(self, skus: Sequence[str]) -> Mapping[str, int]:
        self.asked.append(list(skus))
        vouched = {}
        for sku in skus:
            entry, product = self.entries.get(sku), self.products.get(sku)
            if entry is not None and product is not None and product.version == entry[1]:
                vouched[sku] = entry[0]
        return vouched

    def record(self, entries: Sequence[LedgerEntry]) -> None:
        self.recorded.append(list(entries))
        for sku, fp, version in entries:
            self.entries[sku] = (fp, version)

    def looked_up(self) -> list[str]:
        return [sku for batch in self.lookups for sku in batch]

    def bump(self, sku: str) -> None:
        """Another event of the product (someone else's command)."""
        self.products[sku] = replace(self.products[sku], version=self.products[sku].version + 1)


Check = Callable[[Mapping[str, Any]], bool]


def _never(_command: Mapping[str, Any]) -> bool:
    return False


class Sender:
    """Validates as producers.client does and answers at once with the product's
    version after the command and one event id per event.

    ``reject``: rejected; ``noop``: accepted with no events (the processor found
    nothing to change); ``between``: someone else's event lands just before it."""

    def __init__(
        self,
        catalog: Catalog,
        *,
        reject: Check = _never,
        noop: Check = _never,
        between: Check = _never,
    ) -> None:
        self.catalog, self.reject, self.noop, self.between = catalog, reject, noop, between
        self.offsets = itertools.count()
        self.sent: list[Mapping[str, Any]] = []

    def submit(self, command: Mapping[str, Any]) -> Future[CommandResult]:
        validate_command(command)
        self.sent.append(command)
        sku = command["sku"]
        ids: dict[str, Any] = {"command_id": command["command_id"], "sku": sku}
        if self.between(command):
            self.catalog.bump(sku)
        if self.reject(command):
            result = CommandResult(**ids, status="rejected", reason="invalid", message="no")
        elif self.noop(command):
            version = self.catalog.products[sku].version
            result = CommandResult(**ids, status="accepted", version=version)
        else:
            self.catalog.apply(command)
            result = CommandResult(
                **ids,
                status="accepted",
                version=self.catalog.products[sku].version,
                event_ids=[str(uuid.uuid4())],
                positions=[Position(partition=0, offset=next(self.offsets))],
            )
        future: Future[CommandResult] = Future()
        future.set_result(result)
        return future

    def flush(self, timeout_s: float = 60.0) -> None:
        pass


def feed(tmp_path: Path, *rows: str, name: str = "feed.csv") -> Path:
    path = tmp_path / name
    path.write_text(HEADER + "".join(f"{row}\n" for row in rows), encoding="utf-8")
    return path


def fingerprints(path: Path, options: ImportOptions = OPTIONS) -> dict[str, int]:
    """Each row's fingerprint by SKU, as the importer computes it."""
    salted = salt(options.mapping, options.tz)
    with path.open("rb") as stream:
        return {
            item.fields["sku"]: fingerprint(item, salted)
            for item in read_rows(stream, format=options.format, mapping=options.mapping)
            if isinstance(item, FeedRow)
        }


def run(
    path: Path, catalog: Catalog, sender: Sender | None, options: ImportOptions = OPTIONS
) -> tuple[ImportReport, list[RowError]]:
    refused: list[RowError] = []
    report = run_import(path, catalog, sender, options, on_refused=refused.append)
    return report, refused


def recorded(catalog: Catalog) -> list[LedgerEntry]:
    return [entry for batch in catalog.recorded for entry in batch]


def test_the_fake_catalog_is_a_ledger() -> None:
    assert isinstance(Catalog(), Ledger)


def test_a_row_the_ledger_vouches_for_is_unchanged_without_a_lookup_or_a_check(
    tmp_path: Path,
) -> None:
    path = feed(
        tmp_path,
        "A-1,Kettle,,abc,7,,,",  # would be refused: the ledger skips checking it
        "A-2,Lid,,10 EUR,2,,,",  # vouched for too
        "A-3,Pan,,12 EUR,1,,,",  # an entry of an older version: looked up
        "A-4,Mug,,5 EUR,1,,,",  # an entry of another row: looked up
    )
    catalog = Catalog(
        Listed("A-1", 3, name="Kettle", stock=5, regular={"EUR": "29.9"}),
        Listed("A-2", 1, name="Lid", stock=9, regular={"EUR": "99"}),
        Listed("A-3", 4, name="Pan", stock=1, regular={"EUR": "12"}),
        Listed("A-4", 2, name="Mug", stock=1, regular={"EUR": "5"}),
    )
    prints = fingerprints(path)
    catalog.entries = {
        "A-1": (prints["A-1"], 3),
        "A-2": (prints["A-2"], 1),
        "A-3": (prints["A-3"], 3),
        "A-4": (prints["A-4"] + 1, 2),
    }
    sender = Sender(catalog)
    report, refused = run(path, catalog, sender)
    assert refused == []
    assert (report.rows, report.unchanged, report.refused, report.sent) == (4, 4, 0, 0)
    assert catalog.asked == [["A-1", "A-2", "A-3", "A-4"]]
    assert catalog.looked_up() == ["A-3", "A-4"]
    assert sender.sent == []


def test_a_ledger_whose_entry_the_product_moved_past_is_not_trusted(tmp_path: Path) -> None:
    path = feed(tmp_path, "A-1,Kettle,,abc,7,,,", "A-2,Lid,,11 EUR,2,,,")
    catalog = Catalog(
        Listed("A-1", 3, name="Kettle", stock=7, consistent=True),
        Listed("A-2", 1, name="Lid", stock=2, regular={"EUR": "10"}, consistent=True),
    )
    prints = fingerprints(path)
    catalog.entries = {"A-1": (prints["A-1"], 3), "A-2": (prints["A-2"], 1)}
    catalog.bump("A-1")  # someone changed both products since
    catalog.bump("A-2")
    sender = Sender(catalog)
    report, refused = run(path, catalog, sender)
    assert [(e.line, e.rule) for e in refused] == [(2, "pattern")]
    assert catalog.looked_up() == ["A-1", "A-2"]
    assert [(c["sku"], c["type"]) for c in sender.sent] == [("A-2", "ChangePrice")]
    assert (report.unchanged, report.price) == (0, 1)
    assert recorded(catalog) == [("A-2", prints["A-2"], 3)]


def test_unchanged_rows_are_recorded_only_from_a_consistent_lookup(tmp_path: Path) -> None:
    path = feed(tmp_path, "A-1,Kettle,,10 EUR,2,,,", "A-2,Lid,,10 EUR,2,,,")
    catalog = Catalog(
        Listed("A-1", 5, name="Kettle", stock=2, regular={"EUR": "10"}, consistent=True),
        Listed("A-2", 6, name="Lid", stock=2, regular={"EUR": "10"}, consistent=False),
    )
    prints = fingerprints(path)
    report, _refused = run(path, catalog, Sender(catalog))
    assert (report.unchanged, report.sent) == (2, 0)
    assert recorded(catalog) == [("A-1", prints["A-1"], 5)]
    # the next import skips A-1 and looks A-2 up again
    catalog.lookups.clear()
    report, _refused = run(path, catalog, Sender(catalog))
    assert report.unchanged == 2
    assert catalog.looked_up() == ["A-2"]


def test_rows_made_equal_by_their_own_commands_alone_are_recorded(tmp_path: Path) -> None:
    path = feed(
        tmp_path,
        "N-1,New,,10 EUR,3,,,",  # registered: three commands from version 0
        "A-1,Kettle,,11 EUR,2,,,",  # a price
        "A-2,Lid,,11 EUR,2,,,",  # its price rejected
        "A-3,Pan,New text,11 EUR,2,,,",  # another event lands between its two commands
        "A-4,Mug,,11 EUR,2,,,",  # the processor had the price already: no event
        "A-5,Cup,,11 EUR,2,,,",  # an inconsistent lookup: not known to be exact
    )

    def listed(sku: str, name: str, version: int, consistent: bool = True) -> Listed:
        return Listed(
            sku, version, name=name, stock=2, regular={"EUR": "10"}, consistent=consistent
        )

    catalog = Catalog(
        listed("A-1", "Kettle", 4),
        listed("A-2", "Lid", 4),
        listed("A-3", "Pan", 4),
        listed("A-4", "Mug", 4),
        listed("A-5", "Cup", 4, consistent=False),
    )
    sender = Sender(
        catalog,
        reject=lambda c: (c["sku"], c["type"]) == ("A-2", "ChangePrice"),
        between=lambda c: (c["sku"], c["type"]) == ("A-3", "ChangePrice"),
        noop=lambda c: c["sku"] == "A-4",
    )
    prints = fingerprints(path)
    report, refused = run(path, catalog, sender)
    assert [e.line for e in refused] == [4]
    assert (report.registered, report.details, report.price, report.stock) == (1, 1, 5, 1)
    assert sorted(recorded(catalog)) == [
        ("A-1", prints["A-1"], 5),
        ("A-4", prints["A-4"], 4),
        ("N-1", prints["N-1"], 3),
    ]
    # the same file again: what was recorded is skipped, the rest looked up
    catalog.lookups.clear()
    sender = Sender(catalog)
    report, refused = run(path, catalog, sender)
    assert sorted(catalog.looked_up()) == ["A-2", "A-3", "A-5"]
    assert [(c["sku"], c["type"]) for c in sender.sent] == [("A-2", "ChangePrice")]


def test_a_set_stock_is_recorded_only_when_nothing_happened_after_the_count(
    tmp_path: Path,
) -> None:
    path = feed(
        tmp_path,
        "A-1,Kettle,,10 EUR,7,,,",  # stock, last event after the count: deliveries may be added
        "A-2,Lid,,10 EUR,7,,,",  # stock, last event before the count
        "A-3,Pan,,11 EUR,2,,,",  # a price only, last event after the count
    )

    def listed(sku: str, name: str, updated_at: str) -> Listed:
        return Listed(
            sku,
            4,
            name=name,
            stock=2,
            regular={"EUR": "10"},
            updated_at=updated_at,
            consistent=True,
        )

    catalog = Catalog(
        listed("A-1", "Kettle", AFTER_COUNT),
        listed("A-2", "Lid", BEFORE_COUNT),
        listed("A-3", "Pan", AFTER_COUNT),
    )
    prints = fingerprints(path)
    report, _refused = run(path, catalog, Sender(catalog))
    assert (report.stock, report.price) == (2, 1)
    assert sorted(recorded(catalog)) == [("A-2", prints["A-2"], 5), ("A-3", prints["A-3"], 5)]


def test_a_dry_run_skips_what_the_ledger_vouches_for_and_records_nothing(
    tmp_path: Path,
) -> None:
    path = feed(
        tmp_path,
        "A-1,Kettle,,abc,7,,,",  # vouched for
        "A-2,Lid,,10 EUR,2,,,",  # unchanged, consistent
        "A-3,Pan,,11 EUR,2,,,",  # a price
        "N-1,New,,10 EUR,3,,,",  # new
    )
    prints = fingerprints(path)
    for without_sender in (True, False):
        catalog = Catalog(
            Listed("A-1", 3, name="Kettle"),
            Listed("A-2", 1, name="Lid", stock=2, regular={"EUR": "10"}, consistent=True),
            Listed("A-3", 1, name="Pan", stock=2, regular={"EUR": "10"}, consistent=True),
        )
        catalog.entries = {"A-1": (prints["A-1"], 3)}
        sender = Sender(catalog)
        options = replace(OPTIONS, dry_run=True)
        report, refused = (
            run(path, catalog, None) if without_sender else run(path, catalog, sender, options)
        )
        assert report.dry_run and refused == []
        assert (report.unchanged, report.price, report.registered, report.sent) == (2, 2, 1, 0)
        assert catalog.looked_up() == ["A-2", "A-3", "N-1"]
        assert catalog.recorded == [] and sender.sent == []
        assert catalog.entries == {"A-1": (prints["A-1"], 3)}


def test_entries_are_recorded_in_batches_and_the_rest_at_the_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [f"A-{n},Item {n},,10 EUR,2,,," for n in range(5)]
    path = feed(tmp_path, *rows)

    def catalog_of_five() -> Catalog:
        return Catalog(
            *(
                Listed(
                    f"A-{n}", 1, name=f"Item {n}", stock=2, regular={"EUR": "10"}, consistent=True
                )
                for n in range(5)
            )
        )

    catalog = catalog_of_five()
    run(path, catalog, Sender(catalog))
    assert [len(batch) for batch in catalog.recorded] == [5]  # once, at the end

    monkeypatch.setattr(import_run, "RECORD_EVERY", 2)
    catalog = catalog_of_five()
    report, _refused = run(path, catalog, Sender(catalog), replace(OPTIONS, batch=2))
    assert report.unchanged == 5
    assert [len(batch) for batch in catalog.recorded] == [2, 2, 1]
    prints = fingerprints(path)
    assert recorded(catalog) == [(f"A-{n}", prints[f"A-{n}"], 1) for n in range(5)]


def test_the_readers_digest_is_the_rows_fingerprint(tmp_path: Path) -> None:
    """The reader digests the cells it has at hand (cheaper); the number must be
    the one ``fingerprint`` gives the row afterwards, or the ledger never matches."""
    path = tmp_path / "feed.csv"
    path.write_text(
        "sku,name,price,ignored,stock\nA-1, Kettle ,29.90 EUR,x,7\nA-2,Toaster,,y,\n",
        encoding="utf-8",
    )
    salted = salt({"stock": "stock"}, "Europe/Paris")
    cells = [c for c in read_rows(path, digests=digests(salted)) if isinstance(c, Cells)]
    rows = [c.row() for c in cells]
    assert [row.fields["name"] for row in rows] == ["Kettle", "Toaster"]
    assert all(row.digest for row in rows)
    assert [row.digest for row in rows] == [
        fingerprint(row._replace(digest=0), salted) for row in rows
    ]
    plain = [r for r in read_rows(path) if isinstance(r, FeedRow)]
    assert [row.digest for row in plain] == [0, 0]
    assert [fingerprint(row, salted) for row in plain] == [row.digest for row in rows]
