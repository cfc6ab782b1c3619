"""Feed import without the services: reading, normalizing and diffing a feed against
the catalog, against csv.reader over the same file.

The catalog is a dictionary holding every product as the read models would list
it, a tenth of them different from the feed (price, stock, name or sale in
turn), so the diff builds the commands of a tenth of the rows, with their ids:
``run_import`` in a dry run, exactly the code an import runs, minus Kafka. Twice:
with the import ledger of the previous import (the rows of the other nine
tenths vouched for, as after a nightly import: ``producers.feeds.ledger``), and
without one (every row checked and compared). Looking the products up in the
real read models is measured end to end (``test_feed_import_e2e.py``).
Target: at least 100,000 rows/s. Rows: EVENTCART_BENCH_ROWS (default 1,000,000).
Run: `pytest -m benchmark -s tests/benchmarks/test_feed_diff.py`.
"""

from __future__ import annotations

import cProfile
import csv
import gc
import pstats
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from producers.feeds.diff import feed_schedule_id
from producers.feeds.importer import ImportOptions, ImportReport, run_import
from producers.feeds.ledger import LedgerEntry, fingerprint, salt
from producers.feeds.merchant import FeedProduct, read_products, read_rows
from producers.feeds.read import FeedRow
from producers.feeds.view import Listed, ListedSale
from tests.benchmarks.test_feed_read import ROWS, timed, write_feed

pytestmark = [pytest.mark.benchmark]


class Catalog:
    """A CatalogView and import ledger over dictionaries."""

    def __init__(self, listed: dict[str, Listed], entries: dict[str, int]) -> None:
        self.listed = listed
        self.entries = entries

    def imported(self, skus: Sequence[str]) -> Mapping[str, int]:
        get = self.entries.get
        return {sku: found for sku in skus if (found := get(sku)) is not None}

    def record(self, entries: Sequence[LedgerEntry]) -> None:
        self.entries.update((sku, fp) for sku, fp, _version in entries)

    def lookup(self, skus: Sequence[str]) -> Mapping[str, Listed]:
        get = self.listed.get
        return {sku: found for sku in skus if (found := get(sku)) is not None}

    def active_skus(self) -> Iterable[str]:
        return iter(self.listed)


def listed_as_fed(product: FeedProduct, n: int) -> Listed:
    """The product as the read models would show it after the feed, changed for a tenth."""
    sales = {}
    if product.sale is not None:
        sales[feed_schedule_id(product.sale)] = ListedSale(product.sale.currency, "planned")
    listed = Listed(
        sku=product.sku,
        version=5,
        name=product.name,
        description=product.description or "",
        brand=product.brand or "",
        category_path=product.category_path,
        attributes=dict(product.attributes),
        tags=product.tags,
        stock=product.stock or 0,
        regular={product.price.currency: product.price.amount} if product.price else {},
        feed_sales=sales,
    )
    if n % 10:
        return listed
    change = (n // 10) % 4
    if change == 0:
        return replace(listed, regular={"EUR": "1"})
    if change == 1:
        return replace(listed, stock=listed.stock + 1)
    if change == 2:
        return replace(listed, name="old name")
    return replace(listed, feed_sales={})


def test_read_and_diff_against_csv_reader(tmp_path: Path) -> None:
    feed = tmp_path / "feed.tsv"
    write_feed(feed, ROWS)
    products = (i for i in read_products(feed) if isinstance(i, FeedProduct))
    listed = {item.sku: listed_as_fed(item, n) for n, item in enumerate(products)}
    # The ledger vouches for the rows of the last import, but for the tenth that
    # changed since (their versions moved): those are checked and compared.
    salted = salt(None, None)
    rows = (row for row in read_rows(feed) if isinstance(row, FeedRow))
    entries = {row.fields["id"]: fingerprint(row, salted) for n, row in enumerate(rows) if n % 10}
    catalog = Catalog(listed, entries)
    plain = Catalog(listed, {})
    # The real catalog is looked up a batch at a time, not held: keep the garbage
    # collector from walking this one's million objects on every collection.
    gc.freeze()
    options = ImportOptions(counted_at=datetime.now(UTC), dry_run=True, batch=2000)

    with feed.open(encoding="utf-8", newline="") as f:
        ceiling, ceiling_cpu, _ = timed(lambda: sum(1 for _ in csv.reader(f, delimiter="\t")))
    ours, ours_cpu, report = timed(lambda: run_import(feed, catalog, None, options))
    assert isinstance(report, ImportReport)
    changed = report.price + report.stock + report.details + report.sale
    assert report.rows == ROWS and report.refused == 0
    full, full_cpu, full_report = timed(lambda: run_import(feed, plain, None, options))
    assert (full_report.price, full_report.stock) == (report.price, report.stock)

    profiler = cProfile.Profile()
    small = tmp_path / "small.tsv"
    write_feed(small, min(ROWS, 100_000))
    profiler.runcall(run_import, small, catalog, None, options)
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime")
    top = sorted(stats.stats.items(), key=lambda kv: -kv[1][2])[:8]  # type: ignore[attr-defined]
    lines = [
        f"    {tt * 1000:8.0f} ms own  {fn[2]} ({Path(fn[0]).name}:{fn[1]})"
        for fn, (_, _, tt, *_) in top
    ]
    print(
        f"\nfeed read + diff: {ROWS:,} rows, {changed:,} with a change"
        f" ({report.price:,} price, {report.stock:,} stock, {report.details:,} details,"
        f" {report.sale:,} sale)  (rows/s by wall clock, by CPU time)"
        f"\n  read + diff, ledger:     {ROWS / ours:>10,.0f} {ROWS / ours_cpu:>10,.0f}"
        "  (a tenth of the rows checked and compared)"
        f"\n  read + diff, no ledger:  {ROWS / full:>10,.0f} {ROWS / full_cpu:>10,.0f}"
        "  (every row checked and compared)"
        f"\n  csv.reader:              {ROWS / ceiling:>10,.0f} {ROWS / ceiling_cpu:>10,.0f}  (ceiling)"
        f"\n  ratio: {ceiling / ours:.2f} wall, {ceiling_cpu / ours_cpu:.2f} CPU of the ceiling"
        " (target >= 100,000 rows/s)"
        "\n  cProfile, 100,000 rows, own time:\n" + "\n".join(lines)
    )
