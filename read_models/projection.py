"""What a read model's writer (a "sink") promises the projection runner.

The runner (streams/projections.py) takes batches of events from the product
events topic, upcasts them, and hands them to a sink. The same sinks serve the
live projection and replays (one code path). A sink:

* is idempotent: applying the same events again (re-delivery after a crash, a
  replay) leaves the read model unchanged; it guards by each SKU's event version
  (and, where it has transactions, by a per-partition checkpoint);
* raises :class:`TransientStoreError` when the store is unavailable (down,
  timeout, 429, 5xx): the runner retries the whole batch with backoff and the
  partition waits without losing its place;
* reports events the store refuses for good (a document rejected by mapping, a
  constraint violation) as ``failed`` with the reason: the runner sends those to
  the projection's dead-letter topic and goes on;
* never applies an event whose version is not the next one for its SKU: such
  an event (and the SKU's later events in the batch) is reported in ``gaps``
  with the version the read model holds. A gap means events the read model
  never received (a consumer that skipped records, a store that lost writes);
  applying past it would silently hide them. The runner dead-letters the
  events with rule ``version_gap``, reads the missing versions from the log
  and applies them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class PositionedEvent:
    """An event (already upcast to the current schema version) and where it was read."""

    event: dict[str, Any]
    partition: int
    offset: int


@dataclass(frozen=True)
class Gap:
    """An event not applied because its SKU is at ``applied``, below its version - 1."""

    event: PositionedEvent
    applied: int

    @property
    def reason(self) -> str:
        sku, version = self.event.event.get("sku"), self.event.event.get("version")
        return (
            f"version_gap: {sku} is at version {self.applied} in the read model, "
            f"this event has version {version}"
        )


@dataclass
class ApplyReport:
    applied: int = 0
    skipped: int = 0  # already applied (duplicates, stale versions): not an error
    failed: list[tuple[PositionedEvent, str]] = field(default_factory=list)
    gaps: list[Gap] = field(default_factory=list)


class TransientStoreError(Exception):
    """The store is unavailable for now; the batch must be retried as a whole."""


class Sink(Protocol):
    name: str

    def apply(self, events: Sequence[PositionedEvent]) -> ApplyReport: ...

    def close(self) -> None:
        """Release what the sink opened itself (a pool, a client it was given to own)."""
        ...
