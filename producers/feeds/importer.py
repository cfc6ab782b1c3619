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
from collections import deque
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

from producers.commands import discontinue_product
from producers.feeds.diff import Change, changes, command_id_of
from producers.feeds.merchant import FeedProduct, read_products
from producers.feeds.read import FILE_RULES, FeedWarning, Format, RowError
from producers.feeds.view import CatalogView, Listed
from producers.results import CommandResult
from schemas import timestamps
from schemas.errors import ContractError
from schemas.position_token import format_token

__all__ = ["LOOKAHEAD", "ImportOptions", "ImportReport", "Sender", "run_import"]

#: Batches looked up ahead of the one being compared.
LOOKAHEAD = 2


class Sender(Protocol):
    """What sends an import's commands: a :class:`producers.client.CommandClient`."""

    def submit(self, command: Mapping[str, Any]) -> Future[CommandResult]: ...

    def flush(self, timeout_s: float = 60.0) -> None: ...


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
    #: rows looked up in the catalog at once
    batch: int = 1000
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


@dataclass
class _Run:
    options: ImportOptions
    view: CatalogView
    sender: Sender | None
    report: ImportReport
    on_refused: Callable[[RowError], None]
    now: datetime
    counted_at: str
    seen: set[str] = field(default_factory=set)
    in_flight: deque[tuple[Change, Future[CommandResult]]] = field(default_factory=deque)
    positions: dict[int, int] = field(default_factory=dict)
    #: one thread: the view's clients are used by one thread at a time
    pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="eventcart-lookup")
    )
    lookups: deque[tuple[list[FeedProduct], Future[Mapping[str, Listed]]]] = field(
        default_factory=deque
    )

    def refuse(self, error: RowError) -> None:
        self.report.refused += 1
        self.on_refused(error)

    def send(self, change: Change) -> None:
        report = self.report
        if self.sender is None:
            setattr(report, change.kind, getattr(report, change.kind) + 1)
            return
        try:
            future = self.sender.submit(change.command)
        except ContractError as exc:
            why = f"line {change.line}: {change.kind}: {exc.message}"
            self.refuse(RowError(change.line, None, exc.field, exc.rule, why))
            return
        report.sent += 1
        self.in_flight.append((change, future))
        while len(self.in_flight) >= self.options.window or (
            self.in_flight and self.in_flight[0][1].done()
        ):
            self.settle()

    def settle(self) -> None:
        change, future = self.in_flight.popleft()
        try:
            result = future.result(timeout=self.options.timeout_s)
        except (FutureTimeout, TimeoutError):
            why = (
                f"line {change.line}: {change.kind}: no answer within {self.options.timeout_s} s;"
                " run the import again (it resumes, nothing is applied twice)"
            )
            self.refuse(RowError(change.line, None, None, "no_answer", why))
            return
        except Exception as exc:
            why = f"line {change.line}: {change.kind}: not sent: {exc}"
            self.refuse(RowError(change.line, None, None, "not_sent", why))
            return
        self.report.answered += 1
        if result.accepted:
            setattr(self.report, change.kind, getattr(self.report, change.kind) + 1)
            for position in result.positions:
                old = self.positions.get(position.partition, -1)
                self.positions[position.partition] = max(old, position.offset)
        else:
            why = f"line {change.line}: {change.kind}: {result.message}"
            self.refuse(RowError(change.line, None, result.field, result.reason or "rejected", why))

    def look_up(self, batch: list[FeedProduct]) -> None:
        """Start looking ``batch`` up on the lookup thread; compare the oldest batch
        once more than :data:`LOOKAHEAD` are under way. Reading and diffing (CPU)
        thus overlap with the read models' round trips (network)."""
        skus = [product.sku for product in batch]
        self.lookups.append((batch, self.pool.submit(self.view.lookup, skus)))
        while len(self.lookups) > LOOKAHEAD:
            self.compare_oldest()

    def compare_oldest(self) -> None:
        batch, lookup = self.lookups.popleft()
        listed = lookup.result()
        for product in batch:
            found = changes(
                product,
                listed.get(product.sku),
                counted_at=self.counted_at,
                now=self.now,
                correlation_id=self.options.import_id,
            )
            if isinstance(found, RowError):
                self.refuse(found)
            elif not found:
                self.report.unchanged += 1
            else:
                for change in found:
                    self.send(change)

    def discontinue_missing(self) -> None:
        for sku in self.view.active_skus():
            if sku in self.seen:
                continue
            message = discontinue_product(
                sku,
                reason="absent from the catalog feed",
                command_id=command_id_of(sku, "discontinued", 0, None),
                occurred_at=self.now,
                **({"correlation_id": self.options.import_id} if self.options.import_id else {}),
            )
            self.send(Change("discontinued", 0, message))


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
    run = _Run(
        options=options,
        view=view,
        sender=None if report.dry_run else sender,
        report=report,
        on_refused=on_refused,
        now=datetime.now(UTC),
        counted_at=timestamps.format_utc(options.counted_at),
    )
    shown = 0.0
    batch: list[FeedProduct] = []
    seen = run.seen
    unnamed = 0  # refused rows whose SKU could not be read
    with path.open("rb") as stream, run.pool:
        items = read_products(stream, format=options.format, mapping=options.mapping, tz=options.tz)
        for item in items:
            if type(item) is FeedProduct:  # the common case first, and cheaply
                report.rows += 1
                if item.sku in seen:
                    why = f"line {item.line}: SKU {item.sku} is on an earlier line too"
                    run.refuse(RowError(item.line, "sku", "sku", "duplicate_sku", why))
                    continue
                seen.add(item.sku)
                batch.append(item)
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
                    if item.sku is None:
                        unnamed += 1
                    else:
                        seen.add(item.sku)  # refused, not missing: never discontinued for it
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
    report.position = format_token(run.positions.items())
    on_progress(report)
    return report
