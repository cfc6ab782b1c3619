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
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from producers.feeds.import_run import ImportRun, Pending, Sender
from producers.feeds.ledger import Ledger, fingerprint, salt
from producers.feeds.merchant import Normalizer, read_rows
from producers.feeds.read import FILE_RULES, FeedRow, FeedWarning, Format, RowError
from producers.feeds.view import CatalogView
from schemas import timestamps
from schemas.position_token import format_token

__all__ = ["ImportOptions", "ImportReport", "Sender", "run_import"]


@dataclass(frozen=True)
class ImportOptions:
    #: when the feed's stock figures were counted: deliveries after it are added
    counted_at: datetime
    format: Format | None = None
    #: the file's column -> eventcart's (``--map title=name``)
    mapping: Mapping[str, str] | None = None
    #: the zone of times without an offset (sale windows)
    tz: str | None = None
    dry_run: bool = False
    discontinue_missing: bool = False
    #: rows looked up in the catalog at once (the ledger first, then the read models)
    batch: int = 5000
    #: commands awaiting an answer at once
    window: int = 20_000
    #: seconds to wait for one answer before it counts as ``no_answer``
    timeout_s: float = 120.0
    #: carried by every command (``correlation_id``), so the log says which import sent it
    import_id: str | None = None


@dataclass
class ImportReport:
    """Counts of an import, as the CLI prints them and the upload route returns them.

    Kinds count commands the processor accepted (a dry run: commands it would
    send); ``refused`` counts refused rows and rejected commands."""

    rows: int = 0
    registered: int = 0
    details: int = 0
    price: int = 0
    stock: int = 0
    sale: int = 0
    sale_cancelled: int = 0
    discontinued: int = 0
    unchanged: int = 0
    refused: int = 0
    #: commands sent (0 on a dry run)
    sent: int = 0
    answered: int = 0
    bytes_read: int = 0
    bytes_total: int = 0
    dry_run: bool = False
    #: set when the file itself could not be read to its end
    file_error: str | None = None
    warnings: list[str] = field(default_factory=list)
    #: read-your-writes token of everything accepted (``min_position``)
    position: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


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
        for item in read_rows(stream, format=options.format, mapping=options.mapping):
            if type(item) is FeedRow:  # the common case first, and cheaply
                report.rows += 1
                cells = item.fields
                sku = cells.get("sku") or cells.get("id") or ""  # as normalize reads it
                if sku in seen:
                    why = f"line {item.line}: SKU {sku} is on an earlier line too"
                    run.refuse(RowError(item.line, "sku", "sku", "duplicate_sku", why, sku))
                    continue
                if sku:
                    seen.add(sku)
                else:
                    unnamed += 1  # refused when checked: no SKU
                batch.append((item, sku, fingerprint(item, salted)))
                if len(batch) < options.batch:
                    continue
                run.look_up(batch)
                batch = []
            elif isinstance(item, FeedWarning):
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
