"""One process's fan-out: every released change, once, to each subscriber that wants it.

The tail (:mod:`read_models.changes.tail`) hands released changes in, in the
order it released them (per partition, the log's order; so per SKU too). The
hub keeps the last ``EVENTCART_CHANGES_BUFFER`` of them for subscribers that
resume, and puts each new one on the queue of every subscriber whose filter it
matches: a reference, not a copy, encoded once for all.

**Positions.** A subscriber's position is, per partition, the next offset it
has not been told about. Its id (the SSE ``id:``) renders that as a position
token (``partition:offset`` of the last offset covered), so ``Last-Event-ID``
resumes exactly after it, in this process or another: ids never depend on the
order in which one process interleaved partitions.

**Slow subscribers** never hold anything up. One that has taken nothing for
``EVENTCART_CHANGES_STALL_S`` while changes wait for it (its connection's
buffers are full: it does not read), or whose queue outgrows
``EVENTCART_CHANGES_MAX_BACKLOG``, is cut off: its queue is dropped, its id says
where to resume, and the hub goes on. A burst is not slowness: a client that
keeps taking is never cut for the length of its queue below that bound.

Everything here runs on the event loop; nothing blocks.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from read_models.changes.change import Change
from read_models.changes.filters import ChangeFilter

__all__ = ["Hub", "Released", "Subscriber", "render", "to_positions"]


def render(positions: Sequence[int] | Mapping[int, int]) -> str:
    """The id of a position vector: ``partition:last offset covered`` for every
    partition where something was covered."""
    items = positions.items() if isinstance(positions, Mapping) else enumerate(positions)
    return ",".join(f"{p}:{n - 1}" for p, n in sorted(items) if n > 0)


def to_positions(token: Mapping[int, int]) -> dict[int, int]:
    """A parsed id (partition -> last offset covered) as positions (-> next offset)."""
    return {p: o + 1 for p, o in token.items()}


@dataclass(frozen=True, slots=True)
class Released:
    change: Change
    head: tuple[int, ...]  # every partition's position just after this change
    token: str  # render(head), computed once for every subscriber that is not ahead


class Subscriber:
    """One stream's state: its filter, what waits for it, and where it stands."""

    __slots__ = (
        "ahead",
        "backlog",
        "beat",
        "cut",
        "filter",
        "limit",
        "queue",
        "token",
        "waiting_since",
        "wake",
    )

    def __init__(
        self, flt: ChangeFilter, token: str, ahead: dict[int, int] | None, backlog: int
    ) -> None:
        self.filter = flt
        self.backlog = backlog
        self.limit = backlog  # the queue length that cuts it off
        self.waiting_since = 0.0  # since when its queue waits without it taking any
        self.beat = False  # a keep-alive is due (set by the hub's heartbeat)
        self.queue: deque[Released] = deque()
        self.wake = asyncio.Event()
        self.cut = False
        self.token = token  # the id of the last message sent (where to resume)
        # Positions beyond what this process had released when it joined (resumed
        # from an id given by another process): changes before them are skipped.
        self.ahead = ahead

    def wants(self, released: Released) -> bool:
        change = released.change
        if self.ahead is not None and change.offset < self.ahead.get(change.partition, 0):
            return False
        return self.filter.matches(change)

    def id_of(self, released: Released) -> str:
        """The id to send with ``released`` (and remember as where to resume)."""
        if self.ahead is None:
            return released.token
        merged = [max(n, self.ahead.get(p, 0)) for p, n in enumerate(released.head)]
        if all(n >= self.ahead.get(p, 0) for p, n in enumerate(released.head)):
            self.ahead = None  # caught up with its own past: the shared ids fit from now
        return render(merged)

    def take(self, limit: int) -> list[Released]:
        batch: list[Released] = []
        while self.queue and len(batch) < limit:
            batch.append(self.queue.popleft())
        self.waiting_since = time.monotonic()
        if not self.queue:
            self.wake.clear()
            self.limit = self.backlog
        return batch


class Hub:
    def __init__(
        self, partitions: int, capacity: int, max_backlog: int, stall_s: float = 10.0
    ) -> None:
        self.partitions = partitions
        self.capacity = capacity
        self.max_backlog = max_backlog
        self.stall_s = stall_s
        self.head = [0] * partitions  # next position per partition not released yet
        self.start = [0] * partitions  # the buffer holds every change at or after this
        self.buffer: deque[Released] = deque()
        self._by_sku: dict[str, set[Subscriber]] = {}
        self._by_kind: dict[str, set[Subscriber]] = {}
        self._everything: set[Subscriber] = set()
        self.subscribers = 0
        self._all: set[Subscriber] = set()
        self._waiting: set[Subscriber] = set()  # subscribers with a queue (swept for stalls)
        self._swept_at = 0.0
        self.cut_off = 0  # subscribers cut off as too slow, since start

    def begin_at(self, positions: Sequence[int]) -> None:
        """Where the tail starts reading: the buffer covers everything from there."""
        self.head = list(positions)
        self.start = list(positions)

    # --- the tail's side ----------------------------------------------------
    def publish(self, changes: Iterable[Change], positions: Mapping[int, int]) -> None:
        """Release changes in order; then every partition is at least at ``positions``
        (events that make no message, transaction markers)."""
        head = self.head
        now = time.monotonic()
        for change in changes:
            head[change.partition] = change.offset + 1
            snapshot = tuple(head)
            released = Released(change, snapshot, render(snapshot))
            self.buffer.append(released)
            if len(self.buffer) > self.capacity:
                old = self.buffer.popleft().change
                self.start[old.partition] = old.offset + 1
            cut = [
                sub
                for sub in self._candidates(change)
                if sub.wants(released) and self._push(sub, released, now)
            ]
            for sub in cut:
                self._unindex(sub)
        for partition, position in positions.items():
            head[partition] = max(head[partition], position)
        if now - self._swept_at > min(1.0, self.stall_s / 2):
            self._sweep(now)

    def _sweep(self, now: float) -> None:
        """Cut off whoever has waited too long with nothing taken, also when no new
        change comes to find it (the tail publishes positions even when idle)."""
        self._swept_at = now
        for sub in list(self._waiting):
            if not sub.queue or sub.cut:
                self._waiting.discard(sub)
            elif now - sub.waiting_since > self.stall_s:
                self._cut(sub)
                self._unindex(sub)

    def _candidates(self, change: Change) -> Iterable[Subscriber]:
        by_sku = self._by_sku.get(change.sku)
        by_kind = self._by_kind.get(change.kind)
        if by_sku:
            yield from by_sku
        if by_kind:
            yield from by_kind
        yield from self._everything

    def _push(self, sub: Subscriber, released: Released, now: float) -> bool:
        """Queue ``released`` for ``sub``; True if that cut it off (unindex it then)."""
        if not sub.queue:
            sub.waiting_since = now
            self._waiting.add(sub)
        sub.queue.append(released)
        sub.wake.set()
        if len(sub.queue) <= sub.limit and now - sub.waiting_since <= self.stall_s:
            return False
        self._cut(sub)
        return True

    def _cut(self, sub: Subscriber) -> None:
        sub.cut = True
        sub.queue.clear()
        sub.wake.set()
        self._waiting.discard(sub)
        self.cut_off += 1

    # --- the subscribers' side ----------------------------------------------
    def behind(self, positions: Mapping[int, int]) -> dict[int, tuple[int, int]]:
        """Partitions where ``positions`` is older than the buffer: partition ->
        (from, to) to read back from the log first."""
        return {
            p: (positions.get(p, 0), self.start[p])
            for p in range(self.partitions)
            if positions.get(p, 0) < self.start[p]
        }

    def join(self, flt: ChangeFilter, positions: Mapping[int, int] | None) -> Subscriber:
        """A subscriber from now (``positions`` None) or from ``positions``, which the
        buffer must cover (see :meth:`behind`): what it missed is queued at once."""
        if positions is None:
            sub = Subscriber(flt, render(self.head), None, self.max_backlog)
        else:
            ahead = {p: n for p, n in positions.items() if n > self.head[p]}
            sub = Subscriber(flt, render(positions), dict(positions), self.max_backlog)
            # What it missed is queued whatever its length (references, at most the
            # buffer): the backlog limit applies again once the queue has drained.
            sub.queue.extend(r for r in self._since(positions) if sub.wants(r))
            sub.limit = self.max_backlog + len(sub.queue)
            sub.waiting_since = time.monotonic()
            if sub.queue:
                sub.wake.set()
                self._waiting.add(sub)
            if not ahead and not sub.queue:
                sub.ahead = None
        self._index(sub)
        self._all.add(sub)
        self.subscribers += 1
        return sub

    def _since(self, positions: Mapping[int, int]) -> list[Released]:
        """The buffered changes at or after ``positions``, oldest first (read from the
        newest end: a subscriber resumes close to the head)."""
        open_ = {p for p in range(self.partitions) if positions.get(p, 0) < self.head[p]}
        found: list[Released] = []
        for released in reversed(self.buffer):
            if not open_:
                break
            change = released.change
            if change.offset >= positions.get(change.partition, 0):
                found.append(released)
            else:
                open_.discard(change.partition)
        found.reverse()
        return found

    def heartbeat(self) -> None:
        """Wake every subscriber for a keep-alive: one timer for all of them, not one
        per stream (a timeout per wait was a tenth of the fan-out's CPU)."""
        for sub in self._all:
            sub.beat = True
            sub.wake.set()

    def leave(self, sub: Subscriber) -> None:
        self._all.discard(sub)
        if not sub.cut:
            self._unindex(sub)
        self._waiting.discard(sub)
        self.subscribers -= 1

    def _index(self, sub: Subscriber) -> None:
        flt = sub.filter
        if flt.skus:
            for sku in flt.skus:
                self._by_sku.setdefault(sku, set()).add(sub)
        elif flt.kinds:
            for kind in flt.kinds:
                self._by_kind.setdefault(kind, set()).add(sub)
        else:
            self._everything.add(sub)

    def _unindex(self, sub: Subscriber) -> None:
        flt = sub.filter
        for sku in flt.skus:
            subs = self._by_sku.get(sku)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del self._by_sku[sku]
        if not flt.skus:
            for kind in flt.kinds:
                self._by_kind.get(kind, set()).discard(sub)
        self._everything.discard(sub)
