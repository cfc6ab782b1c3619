"""Feed import's pure first step: reading + normalizing a Merchant Center TSV, against csv.reader.

The ceiling is Python's own ``csv.reader`` over the same file (decoding and
splitting only, nothing checked), the least any reader in Python pays per row.
Ours adds the line and record bounds, UTF-8 errors by line and byte, and the
product checks against the contract. Target: at least 100,000 rows/s.
Rows: EVENTCART_BENCH_ROWS (default 1,000,000); no services needed.
Run: `pytest -m benchmark -s tests/benchmarks/test_feed_read.py`.
"""

from __future__ import annotations

import csv
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import pytest

from producers.feeds.merchant import FeedProduct, read_products

pytestmark = [pytest.mark.benchmark]
T = TypeVar("T")

ROWS = int(os.environ.get("EVENTCART_BENCH_ROWS", "1000000"))
HEADER = (
    "id\ttitle\tdescription\tbrand\tlink\tprice\tsale_price\tsale_price_effective_date\t"
    "product_type\tavailability\tquantity\tcolor\tsize\tcustom_label_0\n"
)
WINDOW = "2027-11-26T00:00+01:00/2027-11-30T23:59+01:00"


def write_feed(path: Path, rows: int) -> None:
    """A realistic mix: every fifth product on sale with a window, a few without stock."""
    with path.open("w", encoding="utf-8", newline="") as f:
        f.write(HEADER)
        for i in range(rows):
            sale = (f"{(i % 900) / 10 + 5:.2f} EUR", WINDOW) if i % 5 == 0 else ("", "")
            f.write(
                f"SKU-{i:07d}\tTrail shoe {i} größe {i % 13 + 36}\tLight shoe for wet trails, "
                f"model {i}\tBrand{i % 40}\thttps://shop.example/p/{i}\t{(i % 900) / 10 + 19.9:.2f} EUR"
                f"\t{sale[0]}\t{sale[1]}\tShoes > Running > Trail\t"
                f"{'out_of_stock' if i % 17 == 0 else 'in_stock'}\t{0 if i % 17 == 0 else i % 50}"
                f"\tred\t{i % 13 + 36}\tseason-{i % 4}\n"
            )


def test_read_and_normalize_against_csv_reader(tmp_path: Path) -> None:
    feed = tmp_path / "feed.tsv"
    write_feed(feed, ROWS)
    size = feed.stat().st_size

    with feed.open(encoding="utf-8", newline="") as f:
        ceiling, ceiling_cpu, ceiling_rows = timed(
            lambda: sum(1 for _ in csv.reader(f, delimiter="\t"))
        )
    ours, ours_cpu, counts = timed(lambda: count(read_products(feed)))

    assert ceiling_rows == ROWS + 1
    assert counts == (ROWS, 1)  # every row a product; the one warning: the link column
    print(
        f"\nfeed read: {ROWS:,} rows, {size / 2**20:.0f} MiB TSV (rows/s by wall clock, by CPU time)"
        f"\n  read + normalize: {ROWS / ours:>10,.0f} {ROWS / ours_cpu:>10,.0f}"
        f"\n  csv.reader:       {ROWS / ceiling:>10,.0f} {ROWS / ceiling_cpu:>10,.0f}  (ceiling)"
        f"\n  ratio: {ceiling / ours:.2f} wall, {ceiling_cpu / ours_cpu:.2f} CPU of the ceiling"
        " (target >= 100,000 rows/s)"
    )


def timed(run: Callable[[], T]) -> tuple[float, float, T]:
    """Wall and CPU seconds: on a busy machine the CPU time is the steadier figure."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    return time.perf_counter() - wall, time.process_time() - cpu, result


def count(items: Iterable[object]) -> tuple[int, int]:
    products = others = 0
    for item in items:
        if type(item) is FeedProduct:
            products += 1
        else:
            others += 1
    return products, others
