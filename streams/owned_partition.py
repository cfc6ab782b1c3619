"""A partition of the commands topic the processor owns now, and what it knows of it."""

from __future__ import annotations

from dataclasses import dataclass

from streams.processor_store import PartitionStore

__all__ = ["OwnedPartition"]


@dataclass
class OwnedPartition:
    """Dropped when the partition is revoked: a partition assigned again starts afresh.

    ``position`` is the commands offset this processor has handled up to (the
    next to read), known once its committed offset was fetched or a batch of
    it committed. A transaction that fires schedules commits it again with the
    group's metadata: that is what fences a processor which lost the partition
    (it must not fire what the new owner fires), as for command batches.
    """

    store: PartitionStore
    restored: bool = False
    expired_at: float = 0.0
    position: int | None = None
