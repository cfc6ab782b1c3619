"""A read model, declared once: what every path and every tool needs to know of it.

eventcart's read models (search, pricing) are the same kind of thing: a consumer
group of the events topic with a dead-letter topic, a store with a live
version, sinks that write into it, positions that say what it has applied, a
rebuild beside the live version and a switch to it, and a way to compare it
with the log. Each declares these in one :class:`ReadModel`
(``read_models/<name>/read_model.py``, listed in :mod:`read_models.registry`),
as the ``eventsourcing`` library's projections declare their name, topics and
view; the worker, replay, repair, re-drive, status, verify and the console loop
over the read models instead of branching on their names.

Only store work lives here and below (index and schema operations, SQL, the
sinks): how events are driven into a sink is :mod:`streams.driver`'s, which a
rebuild's switch is handed as a function (:data:`Feed`), so imports keep
pointing down.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

from read_models.projection import PositionedEvent, Sink
from schemas.config.settings import Settings

__all__ = ["Check", "Feed", "Inspection", "ReadModel", "Rebuild", "RebuildPlan"]

#: Drive the events in [start, stop) into ``sink``, calling ``each`` after every batch.
Feed = Callable[[Sink, Mapping[int, int], Mapping[int, int], Callable[[], None]], None]


@dataclass(frozen=True)
class RebuildPlan:
    """A rebuild beside the live version: where it writes and what it reads."""

    live: str  # the live index or schema now ("products_v1", "pricing")
    live_version: int
    new: str  # the version being built ("products_v2", "pricing_v2")
    start: dict[int, int]  # where the build (re)starts, per partition
    end: dict[int, int]  # the end of the topic when planned
    resumed: bool  # an interrupted build is carried on

    @property
    def events(self) -> int:
        return sum(max(0, self.end[p] - self.start.get(p, 0)) for p in self.end)


class Rebuild(Protocol):
    """The store's side of a rebuild (the events are driven by the caller)."""

    def plan(self, settings: Settings, ends: Mapping[int, tuple[int, int]]) -> RebuildPlan:
        """What a rebuild would do now; ``ends``: the topic's (first, next) offsets."""
        ...

    def open_build(self, settings: Settings, plan: RebuildPlan) -> Sink:
        """Make the new version (bulk mode) and the sink a build writes through."""
        ...

    def close_build(self, settings: Settings, plan: RebuildPlan, sink: Sink) -> None:
        """The build has read to the end: make the new version ready to serve."""
        ...

    def switch(self, settings: Settings, plan: RebuildPlan, feed: Feed) -> str:
        """Catch the new version up with the live one (through ``feed``) and swap it in
        atomically; returns the name the old version keeps."""
        ...

    def old_versions(self, settings: Settings) -> list[str]: ...

    def drop_old(self, settings: Settings) -> list[str]: ...

    def built_so_far(self, settings: Settings) -> dict[int, int]:
        """partition -> last offset a rebuild under way has applied (empty: none)."""
        ...


class Inspection(Protocol):
    """An open look into the store (one connection or client), for ``eventcart verify``."""

    def stored(self, skus: Sequence[str]) -> Mapping[str, Any]:
        """What the store holds for these SKUs (absent: nothing)."""
        ...

    def all_skus(self) -> Iterable[str]: ...

    def replace(
        self, expected: Mapping[str, Any], events: Mapping[str, list[PositionedEvent]]
    ) -> int:
        """Write the expected state of these SKUs over what the store holds; how many."""
        ...


class Check(Protocol):
    """Comparing the store with the fold of the log (``eventcart verify``)."""

    def expected(self, events: Sequence[PositionedEvent]) -> Mapping[str, Any]:
        """What the store should hold per SKU after these events (pure)."""
        ...

    def version(self, state: Any) -> int: ...

    def differences(self, want: Any, have: Any) -> list[str]:
        """What differs between two states of one SKU at the same version (pure)."""
        ...

    def open(self, settings: Settings) -> AbstractContextManager[Inspection]: ...


@dataclass(frozen=True)
class ReadModel:
    name: str  # what operators type: `eventcart replay search`
    role: str  # its consumer group, dead-letter topic and metrics label
    store: str  # "Elasticsearch", "PostgreSQL"
    #: the live projection's sink (its checkpoint, its fence)
    live_sink: Callable[[Settings], Sink]
    #: the sink of everything written into the live version out of the live order (a
    #: repair, a gap fill, a re-drive): it decides by what the store holds, each SKU's
    #: applied version, never by a checkpoint of its own
    repair_sink: Callable[[Settings], Sink]
    #: partition -> last offset the live version has applied (read-your-writes, status)
    applied: Callable[[Settings], dict[int, int]]
    #: what readers see now, e.g. "alias products -> products_v2"
    describe_live: Callable[[Settings], str]
    #: the store name the replay lock is taken for (two deployments never meet)
    lock_name: Callable[[Settings], str]
    #: why the live version must be rebuilt before the live projection may write into
    #: it (built for an older model than this code), or None
    outdated: Callable[[Settings], str | None]
    rebuild: Rebuild
    check: Check
