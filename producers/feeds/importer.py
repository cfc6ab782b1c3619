"""Importing a feed file: read, compare with the catalog, send what changed, report.

One function, :func:`run_import`, for the CLI (``eventcart import``) and the
command API's upload route, so both count, refuse and resume the same way.

* **Constant memory.** Rows are read one at a time and looked up in the
  catalog a batch at a time; answers are awaited in a bounded window. What
  grows with the file is the set of SKUs seen (duplicates and
  ``--discontinue-missing`` need it): about 80 bytes a product.
* **Idempotent, resumable.** Every command's id is derived from what it
  changes (``producers.feeds.diff``), so running the same file again after a
  crash, or twice, applies nothing twice: what took effect is no longer a
  difference, and what was sent but not yet shown by the read models is
  answered by the processor from its store.
* **One bad row never stops the rest.** A refused row, or a command the
  processor rejects, is counted and handed to ``on_refused`` with its line,
  column, field and rule. Only a problem of the whole file (see
  ``producers.feeds.read.FILE_RULES``) ends the reading, and then
  ``--discontinue-missing`` is skipped: a truncated feed must not discontinue
  the products it did not get to.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from producers.feeds.import_report import ImportOptions, ImportReport
from producers.feeds.import_run import ImportRun, Pending, Sender
from producers.feeds.ledger import Ledger, digests, fingerprint, salt
from producers.feeds.merchant import Normalizer, read_rows
from producers.feeds.read import FILE_RULES, Cells, FeedRow, FeedWarning, RowError
from producers.feeds.view import CatalogView
from schemas import timestamps
from schemas.position_token import format_token

__all__ = ["ImportOptions", "ImportReport", "Sender", "run_import"]


def run_import(
    path: Path,
    view: CatalogView,
    sender: Sender | None,
    options: ImportOptions,
    *,
    on_refused: Callable[[RowError], None] = lambda _error: None,
    on_progress: Callable[[ImportReport], None] = lambda _report: None,
    progress_every_s: float = 0.25,
) -> ImportReport:
    """Import the feed at ``path``; ``sender`` None (or ``options.dry_run``) sends nothing.

    ``on_progress`` hears the report as it grows (bytes read of the file, rows,
    answers), at most every ``progress_every_s`` and once at the end."""
    report = ImportReport(dry_run=options.dry_run or sender is None)
    report.bytes_total = path.stat().st_size
    ledger = view if isinstance(view, Ledger) else None
    run = ImportRun(
        options=options,
        view=view,
        ledger=ledger,
        sender=None if report.dry_run else sender,
        report=report,
        on_refused=on_refused,
        normalize=Normalizer(options.mapping, options.tz),
        now=datetime.now(UTC),
        counted_at=timestamps.format_utc(options.counted_at),
    )
    salted = salt(options.mapping, options.tz)
    shown = 0.0
    batch: list[Pending] = []
    seen = run.seen
    unnamed = 0  # refused rows whose SKU could not be read
    with path.open("rb") as stream, run.pool:
        rows = read_rows(
            stream, format=options.format, mapping=options.mapping, digests=digests(salted)
        )
        keys: list[str] | None = None
        at_sku = at_id = -1
        for item in rows:
            if type(item) is Cells:  # a delimited row: its SKU read as normalize reads it
                if item.keys is not keys:  # the header: where the SKU is
                    keys = item.keys
                    at_sku = keys.index("sku") if "sku" in keys else -1
                    at_id = keys.index("id") if "id" in keys else -1
                values = item.values
                sku = values[at_sku] if at_sku >= 0 else ""
                if not sku and at_id >= 0:
                    sku = values[at_id]
                fp = item.digest
            elif type(item) is FeedRow:  # a JSON Lines row
                cells = item.fields
                sku = cells.get("sku") or cells.get("id") or ""
                fp = fingerprint(item, salted)
            else:
                if isinstance(item, FeedWarning):
                    report.warnings.append(item.message)
                elif isinstance(item, RowError):
                    if item.rule in FILE_RULES:
                        report.file_error = item.message
                    else:
                        report.rows += 1
                        unnamed += 1
                    run.refuse(item)
                if time.monotonic() - shown >= progress_every_s:
                    report.bytes_read = stream.tell()
                    on_progress(report)
                    shown = time.monotonic()
                continue
            report.rows += 1
            if sku in seen:
                why = f"line {item.line}: SKU {sku} is on an earlier line too"
                run.refuse(RowError(item.line, "sku", "sku", "duplicate_sku", why, sku))
                continue
            if sku:
                seen.add(sku)
            else:
                unnamed += 1  # refused when checked: no SKU
            batch.append((item, sku, fp))
            if len(batch) < options.batch:
                continue
            run.look_up(batch)
            batch = []
            if time.monotonic() - shown >= progress_every_s:
                report.bytes_read = stream.tell()
                on_progress(report)
                shown = time.monotonic()
        if batch:
            run.look_up(batch)
        while run.lookups:
            run.compare_oldest()
        report.bytes_read = stream.tell()
    if options.discontinue_missing:
        if report.file_error is not None:
            report.warnings.append(
                "products missing from the feed were not discontinued:"
                " the file was not read to its end"
            )
        elif unnamed:
            report.warnings.append(
                f"products missing from the feed were not discontinued: {unnamed} refused"
                " rows have no SKU that could be read, and might be any of them"
            )
        else:
            run.discontinue_missing()
    if run.sender is not None:
        run.sender.flush()
    while run.in_flight:
        run.settle()
        if time.monotonic() - shown >= progress_every_s:
            on_progress(report)
            shown = time.monotonic()
    run.flush_ledger()
    report.position = format_token(run.positions.items())
    on_progress(report)
    return report
