"""Rows imported before, unchanged on both sides since: skipped without a lookup.

A nightly feed repeats most of its rows. Looking each one up in the search
index, only to find it equal, cost most of an import (an ``mget`` of a
thousand documents per thousand rows). So an import keeps a ledger, one entry
per SKU: the fingerprint of the row it last made the product equal to, and the
product version that left. A row whose fingerprint is the ledger's, of a
product whose pricing read model still shows that version, is unchanged on
both sides: nothing happened to the product since, and the row says the same.
It is counted unchanged without being checked or looked up again.

Anything else takes the full path (look up, compare), so the ledger is only a
cache: lost, stale or wrong-versioned entries cost a lookup, never a change.
An entry is written only when the product is known to equal the row at that
version:

* compared unchanged, on a lookup where both read models showed the same
  version (details from one and prices from the other, of one moment);
* or made equal by the import's own commands, all accepted, with no other
  event in between (the version after them is the version before plus their
  events), and, when a ``SetStock`` was among them, no adjustment after the
  count: a count plus later deliveries is not the row's figure, and the same
  row next time must set the stock again.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from producers.feeds.read import Digests, FeedRow

__all__ = ["Ledger", "LedgerEntry", "RowTrack", "digests", "fingerprint", "salt"]

#: Part of every fingerprint: a release that reads rows differently bumps it,
#: and every entry written before stops matching.
FINGERPRINT_VERSION = 1

#: (sku, fingerprint, version)
LedgerEntry = tuple[str, int, int]


@runtime_checkable
class Ledger(Protocol):
    """Where an import keeps its entries (``ops.catalog_view`` keeps them in PostgreSQL)."""

    def imported(self, skus: Sequence[str]) -> Mapping[str, int]:
        """SKU -> fingerprint, for the SKUs whose entry's version is the product's
        version in the pricing read model now."""
        ...

    def record(self, entries: Sequence[LedgerEntry]) -> None:
        """Write (or overwrite) the entries of these SKUs."""
        ...


def salt(mapping: Mapping[str, str] | None, tz: str | None) -> bytes:
    """What else decides how a row reads: the same cells under another ``--map`` or
    ``--tz`` are another row."""
    options = sorted((mapping or {}).items())
    return f"{FINGERPRINT_VERSION}|{options}|{tz}|".encode()


@functools.lru_cache(maxsize=64)
def _key(salted: bytes, names: tuple[str, ...]) -> bytes:
    """The digest key of a file's rows: the options and the column names, hashed
    once per header rather than into every row."""
    return hashlib.blake2b(salted + "\x1f".join(names).encode(), digest_size=32).digest()


def _digest(key: bytes, values: Sequence[str]) -> int:
    digest = hashlib.blake2b("\x1f".join(values).encode(), digest_size=8, key=key).digest()
    return int.from_bytes(digest, "big", signed=True)


def digests(salted: bytes) -> Digests:
    """For the reader (``read_feed(digests=...)``): the row digest of each header,
    the same number :func:`fingerprint` gives the row afterwards, cheaper."""

    def of_header(names: Sequence[str]) -> Callable[[Sequence[str]], int]:
        digest: Callable[[Sequence[str]], int] = functools.partial(
            _digest, _key(salted, tuple(names))
        )
        return digest

    return of_header


def fingerprint(row: FeedRow, salted: bytes) -> int:
    """A 64-bit digest of a row's cells and their column names, keyed by what else
    decides how it reads (signed, as PostgreSQL's bigint holds it). BLAKE2b, not
    ``hash()``: Python salts that per process. The reader's digest when it made
    one (the same number)."""
    return row.digest or _digest(_key(salted, tuple(row.fields)), list(row.fields.values()))


@dataclass(slots=True)
class RowTrack:
    """A row whose commands are under way, and what their answers said."""

    sku: str
    fingerprint: int
    #: the version the commands were decided from (0: a new product)
    base: int
    #: whether the product will equal the row if every command is accepted
    exact: bool
    remaining: int
    events: int = 0
    version: int = 0
    failed: bool = False

    def answered(self, accepted: bool, events: int, version: int | None) -> LedgerEntry | None:
        """Count one answer; the row's entry once the last answer made it equal."""
        self.remaining -= 1
        if accepted:
            self.events += events
            self.version = max(self.version, version or 0)
        else:
            self.failed = True
        if self.remaining or self.failed or not self.exact:
            return None
        final = max(self.version, self.base)
        if final != self.base + self.events:
            return None  # another command changed the product in between
        return (self.sku, self.fingerprint, final)
