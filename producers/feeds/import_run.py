"""One import under way: looking rows up, comparing, sending, settling answers.

Apart from ``producers.feeds.importer`` (options, report, the reading loop) so
each stays one concept: this is what happens to a batch of rows once read.

A batch is resolved on a lookup thread (the ledger first, then the read
models for the rows the ledger does not vouch for) while the next batches are
read, so reading and checking rows (CPU) overlap with the stores' round trips
(network). Answers are settled oldest first in a bounded window; each row's
last answer may write its ledger entry (``producers.feeds.ledger``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from producers.commands import discontinue_product
from producers.feeds.diff import Change, changes, command_id_of
from producers.feeds.import_report import ImportOptions, ImportReport
from producers.feeds.ledger import Ledger, LedgerEntry, RowTrack
from producers.feeds.merchant import Normalizer
from producers.feeds.read import Cells, FeedRow, RowError
from producers.feeds.view import CatalogView, Listed
from producers.results import CommandResult
from schemas.errors import ContractError

__all__ = ["LOOKAHEAD", "RECORD_EVERY", "ImportRun", "Sender"]

#: Batches looked up ahead of the one being compared.
LOOKAHEAD = 2
#: Ledger entries written at once.
RECORD_EVERY = 5000

#: (row, its SKU as written, its fingerprint)
Pending = tuple[FeedRow | Cells, str, int]


class Sender(Protocol):
    """What sends an import's commands: a :class:`producers.client.CommandClient`."""

    def submit(self, command: Mapping[str, Any]) -> Future[CommandResult]: ...

    def flush(self, timeout_s: float = 60.0) -> None: ...


@dataclass
class ImportRun:
    options: ImportOptions
    view: CatalogView
    ledger: Ledger | None
    sender: Sender | None
    report: ImportReport
    on_refused: Callable[[RowError], None]
    normalize: Normalizer
    now: datetime
    counted_at: str
    seen: set[str] = field(default_factory=set)
    in_flight: deque[tuple[Change, Future[CommandResult], RowTrack]] = field(default_factory=deque)
    positions: dict[int, int] = field(default_factory=dict)
    #: one thread: lookups of the view run one at a time (ledger writes come from the
    #: importing thread; ops.feed_ledger's connection serializes the two)
    pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(1, thread_name_prefix="eventcart-lookup")
    )
    lookups: deque[tuple[list[Pending], Future[tuple[Mapping[str, int], Mapping[str, Listed]]]]] = (
        field(default_factory=deque)
    )
    entries: list[LedgerEntry] = field(default_factory=list)

    # ------------------------------------------------------------ comparing

    def resolve(self, batch: Sequence[Pending]) -> tuple[Mapping[str, int], Mapping[str, Listed]]:
        """On the lookup thread: what the ledger vouches for, and the read models'
        view of every other row's product."""
        skus = [sku for _row, sku, _fp in batch if sku]
        known = self.ledger.imported(skus) if self.ledger is not None and skus else {}
        rest = [sku for _row, sku, fp in batch if sku and known.get(sku) != fp]
        return known, (self.view.lookup(rest) if rest else {})

    def look_up(self, batch: list[Pending]) -> None:
        self.lookups.append((batch, self.pool.submit(self.resolve, batch)))
        while len(self.lookups) > LOOKAHEAD:
            self.compare_oldest()

    def compare_oldest(self) -> None:
        batch, lookup = self.lookups.popleft()
        known, listed = lookup.result()
        for row, sku, fp in batch:
            if sku and known.get(sku) == fp:
                self.report.unchanged += 1
                continue
            product = self.normalize(row.row() if isinstance(row, Cells) else row)
            if isinstance(product, RowError):
                self.refuse(product)
                continue
            current = listed.get(product.sku)
            found = changes(
                product,
                current,
                counted_at=self.counted_at,
                now=self.now,
                correlation_id=self.options.import_id,
            )
            if isinstance(found, RowError):
                self.refuse(found)
            elif not found:
                self.report.unchanged += 1
                if current is not None and current.consistent and self.ledger is not None:
                    self.remember((product.sku, fp, current.version))
            else:
                base = current.version if current is not None else 0
                exact = current is None or (
                    current.consistent
                    and (
                        all(change.kind != "stock" for change in found)
                        or current.updated_at <= self.counted_at
                    )
                )
                track = RowTrack(
                    product.sku, fp, base, exact and self.ledger is not None, len(found)
                )
                for change in found:
                    self.send(change, track)

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
            self.send(Change("discontinued", 0, message), RowTrack(sku, 0, 0, False, 1))

    # ------------------------------------------------------------ sending

    def refuse(self, error: RowError) -> None:
        self.report.refused += 1
        self.on_refused(error)

    def send(self, change: Change, track: RowTrack) -> None:
        report = self.report
        if self.sender is None:
            setattr(report, change.kind, getattr(report, change.kind) + 1)
            return
        try:
            future = self.sender.submit(change.command)
        except ContractError as exc:
            why = f"line {change.line}: {change.kind}: {exc.message}"
            self.refuse(RowError(change.line, None, exc.field, exc.rule, why))
            track.answered(False, 0, None)
            return
        report.sent += 1
        self.in_flight.append((change, future, track))
        while len(self.in_flight) >= self.options.window or (
            self.in_flight and self.in_flight[0][1].done()
        ):
            self.settle()

    def settle(self) -> None:
        change, future, track = self.in_flight.popleft()
        try:
            result = future.result(timeout=self.options.timeout_s)
        except (FutureTimeout, TimeoutError):
            why = (
                f"line {change.line}: {change.kind}: no answer within {self.options.timeout_s} s;"
                " run the import again (it resumes, nothing is applied twice)"
            )
            self.refuse(RowError(change.line, None, None, "no_answer", why))
            track.answered(False, 0, None)
            return
        except Exception as exc:
            why = f"line {change.line}: {change.kind}: not sent: {exc}"
            self.refuse(RowError(change.line, None, None, "not_sent", why))
            track.answered(False, 0, None)
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
        entry = track.answered(result.accepted, len(result.event_ids), result.version)
        if entry is not None:
            self.remember(entry)

    # ------------------------------------------------------------ ledger

    def remember(self, entry: LedgerEntry) -> None:
        if self.sender is None:
            return  # a dry run reads the ledger, and writes nothing anywhere
        self.entries.append(entry)
        if len(self.entries) >= RECORD_EVERY:
            self.flush_ledger()

    def flush_ledger(self) -> None:
        if self.ledger is not None and self.entries:
            self.ledger.record(self.entries)
        self.entries = []
